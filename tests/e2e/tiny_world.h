// A test fixture with the seconds-sized synthetic world of tests/e2e/tiny.toml in a fresh
// temporary folder (dir_/world: reid.h5, pretrain.h5); skips when the CLIP vocabulary is absent.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "tests/support/test_support.h"

namespace agreid::testing {

class TinyWorld : public ::testing::Test {
 protected:
  void SetUp() override {
    vocab_ = clipVocabPath();
    if (vocab_.empty()) GTEST_SKIP() << "CLIP vocabulary not found";
    const auto r = runAgreid({"synth", "--config", config(), "--out", dir_.file("world")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static std::string config() { return std::string(AGREID_SOURCE_DIR) + "/tests/e2e/tiny.toml"; }

  TempDir dir_;
  std::string vocab_;
};

}  // namespace agreid::testing
