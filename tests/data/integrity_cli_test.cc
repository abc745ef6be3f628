// Data and file integrity through the agreid executable: concurrent imports of one output, a full
// disk under `import` and `synth`, unreadable folders, and SIGTERM/SIGINT (exit code, message,
// nothing left behind). Every failure is one line with exit code 2 unless stated.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "tests/data/data_test_util.h"
#include "tests/support/test_support.h"

namespace agreid::testing {
namespace {

namespace fs = std::filesystem;

// A Market-1501 tree of `per_split` images in each split, `bytes_each` roughly.
void makeMarket(const std::string& root, int per_split, int size) {
  for (int i = 0; i < per_split; ++i) {
    const std::string pid = std::to_string(1000 + i % 7);
    const std::string name =
        pid + "_c" + std::to_string(1 + i % 6) + "s1_" + std::to_string(100000 + i) + "_01.jpg";
    for (const char* sub : {"/bounding_box_train/", "/query/", "/bounding_box_test/"}) {
      writeBytes(root + sub + name, tinyJpeg(size, size, static_cast<uint8_t>(i)));
    }
  }
}

// Exit code `code` and one stderr line containing every part (progress goes to stdout).
void expectOneLineError(const CommandResult& r, int code, const std::vector<std::string>& parts) {
  EXPECT_EQ(r.exit_code, code) << r.out << r.err;
  EXPECT_EQ(lineCount(r.err), 1) << r.err;
  for (const auto& p : parts) EXPECT_NE(r.err.find(p), std::string::npos) << r.err;
}

TEST(IntegrityCliTest, ConcurrentImportsToOneOutputLeaveOneValidDataset) {
  TempDir dir;
  makeMarket(dir.file("m"), 60, 32);
  const std::string out = dir.file("o.h5");
  const std::string one = shellQuote(AGREID_BINARY) + " import market1501 --root " +
                          shellQuote(dir.file("m")) + " --out " + shellQuote(out) +
                          " >/dev/null 2>&1";
  const CommandResult r = runShell(one + " & " + one + " & " + one +
                                   " & wait %1; a=$?; wait %2; b=$?; wait %3; c=$?; echo $a$b$c");
  EXPECT_EQ(r.out, "000\n") << r.err;
  const CommandResult verify = runAgreid({"inspect", out, "--verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_NE(verify.out.find("checksum matches"), std::string::npos) << verify.out;
  EXPECT_EQ(data::DatasetReader(out).size(), 180);
  EXPECT_TRUE(tempLeftovers(dir.path().string()).empty());
}

TEST(IntegrityCliTest, FullDiskFailsImportAndSynthCleanly) {
  SmallDisk disk(256);
  AGREID_REQUIRE_SMALL_DISK(disk);
  TempDir dir;
  makeMarket(dir.file("m"), 40, 64);
  const CommandResult imp =
      runAgreid({"import", "market1501", "--root", dir.file("m"), "--out", disk.file("o.h5")});
  expectOneLineError(imp, 2, {disk.file("o.h5"), "No space left on device"});
  EXPECT_TRUE(fs::is_empty(disk.dir()));

  const CommandResult syn =
      runAgreid({"synth", "--out", disk.file("world"), "--set", "synth.identities=40", "--set",
                 "synth.pretrain_images=400", "--set", "synth.pretrain_identities=40"});
  expectOneLineError(syn, 2, {"No space left on device"});
  EXPECT_TRUE(fs::is_empty(disk.file("world")));
}

TEST(IntegrityCliTest, UnreadableSubFolderIsAnInputError) {
  TempDir dir;
  makeMarket(dir.file("m"), 3, 16);
  const std::string sub = dir.file("m/bounding_box_test");
  ::chmod(sub.c_str(), 0);
  ::chmod(dir.path().c_str(), 0777);
  std::string prefix;
  if (::geteuid() == 0) {  // root reads every folder: run as nobody
    if (!fs::exists("/usr/bin/setpriv")) GTEST_SKIP() << "root without setpriv";
    prefix = "/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups ";
  }
  const CommandResult r =
      runShell(prefix + shellQuote(AGREID_BINARY) + " import market1501 --root " +
               shellQuote(dir.file("m")) + " --out " + shellQuote(dir.file("o.h5")));
  ::chmod(sub.c_str(), 0755);
  expectOneLineError(r, 2, {sub, "cannot read the folder", "Permission denied"});
  EXPECT_FALSE(fs::exists(dir.file("o.h5")));
  EXPECT_TRUE(tempLeftovers(dir.path().string()).empty());
}

TEST(IntegrityCliTest, SigtermAndSigintStopImportAndSynthRemovingPartialOutputs) {
  TempDir dir;
  makeMarket(dir.file("m"), 20, 16);
  const CommandResult imp = runAgreidWithPendingSignal(
      {"import", "market1501", "--root", dir.file("m"), "--out", dir.file("o.h5")}, SIGTERM);
  expectOneLineError(imp, 143, {"agreid import: stopped by SIGTERM; partial outputs removed"});
  EXPECT_FALSE(fs::exists(dir.file("o.h5")));
  EXPECT_TRUE(tempLeftovers(dir.path().string()).empty());

  const std::string world = dir.file("world");
  const CommandResult syn =
      runAgreidWithPendingSignal({"synth", "--out", world, "--set", "synth.identities=8"}, SIGINT);
  expectOneLineError(syn, 130, {"agreid synth: stopped by SIGINT"});
  EXPECT_TRUE(fs::is_empty(world));
}

// A command that does not poll for stop requests dies of SIGTERM (before, the handler only set a
// flag nobody read). `inspect` of a FIFO that no one writes blocks in open(2) for ever, as a
// command blocked in a library call would; `timeout` and SLURM send SIGTERM first.
TEST(IntegrityCliTest, SigtermEndsACommandThatDoesNotPollForStops) {
  TempDir dir;
  const std::string file = dir.file("never-written.h5");
  ASSERT_EQ(::mkfifo(file.c_str(), 0600), 0);
  std::vector<std::string> words = {AGREID_BINARY, "inspect", file};
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::sleep(2);  // blocked in open(2) by now
  ::kill(pid, SIGTERM);
  int status = 0;
  pid_t done = 0;
  for (int i = 0; i < 200 && done == 0; ++i) {  // up to 20 s
    done = ::waitpid(pid, &status, WNOHANG);
    if (done == 0) ::usleep(100000);
  }
  if (done == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    FAIL() << "agreid inspect ignored SIGTERM";
  }
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
}

}  // namespace
}  // namespace agreid::testing
