// The restricted unpickler (trainer/model/torch_pickle.h) on hand-written pickles: a module
// object keeps the state its BUILD gives it, and a value that contains itself is freed.
#include "trainer/model/torch_pickle.h"

#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/support/test_support.h"
#include "trainer/model/torch_save.h"

namespace agreid::trainer {
namespace {

using namespace std::string_literals;  // "\x00" inside a pickle's bytes

TorchPickle unpickle(const std::string& bytes) {
  return readTorchPickle(
      bytes.data(), bytes.size(),
      [](const std::string&, const std::string&) -> at::Tensor { return {}; }, "test");
}

TEST(TorchPickleTest, ModuleObjectKeepsItsBuildState) {
  // __torch__.m.M.__new__() then BUILD({"x": 3}).
  const std::string pickle = std::string("\x80\x02") + "c__torch__.m\nM\n" + ")\x81" + "}" +
                             "X\x01\x00\x00\x00x"s + "K\x03" + "s" + "b" + ".";
  const TorchPickle p = unpickle(pickle);
  ASSERT_EQ(p.root->kind, PyValue::kOpaque);
  EXPECT_EQ(p.root->s, "__torch__.m.M");
  ASSERT_EQ(p.root->dict.size(), 1u);
  EXPECT_EQ(p.root->dict[0].first->s, "x");
  EXPECT_EQ(p.root->dict[0].second->i, 3);
}

TEST(TorchPickleTest, AValueThatContainsItselfIsFreed) {
  // A list memoised, then appended to itself: a reference cycle.
  const std::string pickle = std::string("\x80\x02") + "]" + "q\x00"s + "h\x00"s + "a" + ".";
  std::weak_ptr<PyValue> list;
  {
    const TorchPickle p = unpickle(pickle);
    ASSERT_EQ(p.root->kind, PyValue::kList);
    ASSERT_EQ(p.root->items.size(), 1u);
    EXPECT_EQ(p.root->items[0].get(), p.root.get());
    list = p.root;
  }
  EXPECT_TRUE(list.expired());
}

TEST(TorchPickleTest, TorchScriptModuleSharedTwiceIsRefused) {
  // A module whose attributes "a" and "b" are the same submodule object (memoised): TorchScript
  // never writes this, and sharing at every level would make the walk exponential.
  const std::string sub = "c__torch__.m\nS\n)\x81}b"s;
  const std::string pickle = "\x80\x02"s + "c__torch__.m\nM\n)\x81}(" + "X\x01\x00\x00\x00"s + "a" +
                             sub + "q\x00"s + "X\x01\x00\x00\x00"s + "b" + "h\x00"s + "ub.";
  agreid::testing::TempDir dir;
  const std::string path = dir.file("shared.pt");
  {
    caffe2::serialize::PyTorchStreamWriter writer(path);
    writer.writeRecord("data.pkl", pickle.data(), pickle.size());
    writer.writeRecord("constants.pkl", "\x80\x02).", 4);
    writer.writeEndOfFile();
  }
  const std::string msg = agreid::testing::inputErrorOf([&] { readTorchScriptTensors(path); });
  EXPECT_NE(msg.find("TorchScript archive '" + path + "': module 'b' appears twice"),
            std::string::npos)
      << msg;
}

}  // namespace
}  // namespace agreid::trainer
