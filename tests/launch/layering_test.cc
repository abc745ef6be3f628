// The libraries depend one way: launch -> trainer -> {data, comm} -> base (docs/architecture.md).
// Every quoted #include of every source file under the five library folders is checked against
// that order, so a shortcut (data including comm, trainer including launch) fails the suite.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace {
namespace fs = std::filesystem;

// What each library may include (itself included).
const std::map<std::string, std::set<std::string>>& allowed() {
  static const std::map<std::string, std::set<std::string>> rules = {
      {"base", {"base"}},
      {"comm", {"base", "comm"}},
      {"data", {"base", "data"}},
      {"trainer", {"base", "comm", "data", "trainer"}},
      {"launch", {"base", "comm", "data", "trainer", "launch"}},
  };
  return rules;
}

struct Violation {
  std::string file;
  int line;
  std::string include;
};

std::vector<Violation> scan(const fs::path& root, int* files_seen) {
  const std::regex include_re(R"re(^\s*#\s*include\s*"([^"/]+)/[^"]*")re");
  std::vector<Violation> bad;
  for (const auto& [lib, ok] : allowed()) {
    for (const auto& entry : fs::recursive_directory_iterator(root / lib)) {
      const std::string ext = entry.path().extension().string();
      if (!entry.is_regular_file() || (ext != ".h" && ext != ".cc" && ext != ".cu")) continue;
      ++*files_seen;
      std::ifstream in(entry.path());
      std::string text;
      int n = 0;
      while (std::getline(in, text)) {
        ++n;
        std::smatch m;
        if (!std::regex_search(text, m, include_re)) continue;
        const std::string target = m[1];
        if (allowed().count(target) && !ok.count(target)) {
          bad.push_back({fs::relative(entry.path(), root).string(), n, text});
        }
      }
    }
  }
  return bad;
}

TEST(Layering, IncludesFollowTheLibraryOrder) {
  const fs::path root = AGREID_SOURCE_DIR;
  int files = 0;
  const std::vector<Violation> bad = scan(root, &files);
  EXPECT_GT(files, 100) << "the source tree was not found under " << root;
  for (const Violation& v : bad) {
    ADD_FAILURE() << v.file << ":" << v.line << ": " << v.include
                  << " breaks launch -> trainer -> {data, comm} -> base";
  }
}

TEST(Layering, ScannerCatchesAViolation) {
  const fs::path tmp =
      fs::temp_directory_path() / ("agreid_layering_" + std::to_string(::getpid()));
  for (const auto& [lib, ok] : allowed()) fs::create_directories(tmp / lib);
  std::ofstream(tmp / "data" / "x.cc")
      << "#include \"data/y.h\"\n#include \"comm/communicator.h\"\n";
  std::ofstream(tmp / "trainer" / "z.h") << "  #include \"launch/config.h\"\n#include <vector>\n";
  int files = 0;
  const std::vector<Violation> bad = scan(tmp, &files);
  fs::remove_all(tmp);
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_EQ(files, 2);
  EXPECT_EQ(bad[0].file, "data/x.cc");
  EXPECT_EQ(bad[0].line, 2);
  EXPECT_EQ(bad[1].file, "trainer/z.h");
}

}  // namespace
