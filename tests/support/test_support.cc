#include "tests/support/test_support.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "base/error.h"

namespace agreid::testing {

std::string shellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

CommandResult runShell(const std::string& command) {
  TempDir tmp;
  const std::string out_path = tmp.file("out"), err_path = tmp.file("err");
  const std::string full = "( " + command + " ) >" + out_path + " 2>" + err_path;
  int status = std::system(full.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = readFile(out_path);
  r.err = readFile(err_path);
  return r;
}

CommandResult runAgreid(const std::vector<std::string>& args, const std::string& env) {
  std::string cmd = env.empty() ? "" : env + " ";
  cmd += shellQuote(AGREID_BINARY);
  for (const auto& a : args) cmd += " " + shellQuote(a);
  return runShell(cmd);
}

CommandResult runAgreidWithPendingSignal(const std::vector<std::string>& args, int sig) {
  TempDir tmp;
  const std::string out_path = tmp.file("out"), err_path = tmp.file("err");
  std::vector<std::string> argv_text = {AGREID_BINARY};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {  // only async-signal-safe calls until exec
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    ::kill(::getpid(), sig);
    ::dup2(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), STDOUT_FILENO);
    ::dup2(::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  r.out = readFile(out_path);
  r.err = readFile(err_path);
  return r;
}

TempDir::TempDir() {
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto p = std::filesystem::temp_directory_path() /
             ("agreid-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    if (std::filesystem::create_directory(p)) {
      path_ = p;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void writeFile(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary);
  f << content;
}

std::string readFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int lineCount(const std::string& s) {
  int n = 0;
  std::istringstream is(s);
  std::string line;
  while (std::getline(is, line))
    if (!line.empty()) ++n;
  return n;
}

std::string clipVocabPath() {
  // AGREID_SHARED_DIR in the environment overrides the build's (a worktree elsewhere).
  const char* env = std::getenv("AGREID_SHARED_DIR");
  const std::string shared = env != nullptr && *env != '\0' ? env : AGREID_SHARED_DIR;
  const std::string p = shared + "/clip/bpe_simple_vocab_16e6.txt.gz";
  return std::filesystem::exists(p) ? p : "";
}

std::string inputErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "multi-line error: " << msg;
    return msg;
  }
  ADD_FAILURE() << "expected an InputError";
  return "";
}

CommandResult runPythonScript(const std::string& script, const std::vector<std::string>& args) {
  std::string command =
      shellQuote(AGREID_PYTHON) + " " + shellQuote(std::string(AGREID_SOURCE_DIR) + "/" + script);
  for (const std::string& a : args) command += " " + shellQuote(a);
  return runShell(command);
}

int expectPythonReadsJson(const std::vector<std::string>& files) {
  const CommandResult r = runPythonScript("tests/support/check_json.py", files);
  EXPECT_EQ(r.exit_code, 0) << "Python's json refused agreid's JSON:\n" << r.out << r.err;
  const auto at = r.out.rfind(" documents in ");
  if (at == std::string::npos) return 0;
  const auto start = r.out.rfind('\n', at);
  return std::stoi(r.out.substr(start == std::string::npos ? 0 : start + 1));
}

bool havePythonTorch() {
  if (std::string(AGREID_PYTHON).empty()) return false;
  return runShell(shellQuote(AGREID_PYTHON) + " -c 'import torch'").exit_code == 0;
}

}  // namespace agreid::testing
