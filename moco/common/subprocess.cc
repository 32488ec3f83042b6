#include "moco/common/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "moco/common/status.h"

extern char** environ;

namespace moco {
namespace {

namespace fs = std::filesystem;

constexpr char kWorkspaceName[] = "moco_cpp";

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

// argv and envp in the form posix_spawn takes, owning their strings.
class SpawnArgs {
 public:
  SpawnArgs(const std::vector<std::string>& argv, const std::map<std::string, std::string>& overrides)
      : argv_strings_(argv) {
    std::map<std::string, std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry(*e);
      const size_t eq = entry.find('=');
      if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    for (const auto& [name, value] : overrides) {
      if (value.empty()) {
        env.erase(name);
      } else {
        env[name] = value;
      }
    }
    for (const auto& [name, value] : env) env_strings_.push_back(absl::StrCat(name, "=", value));
    for (std::string& s : argv_strings_) argv_.push_back(s.data());
    argv_.push_back(nullptr);
    for (std::string& s : env_strings_) envp_.push_back(s.data());
    envp_.push_back(nullptr);
  }
  char* const* argv() { return argv_.data(); }
  char* const* envp() { return envp_.data(); }

 private:
  std::vector<std::string> argv_strings_, env_strings_;
  std::vector<char*> argv_, envp_;
};

// posix_spawn with stdout sent to `stdout_fd` when it is >= 0 (its other end `close_fd`, when
// >= 0, closed in the child), stderr too when `both`, in a new process group when `group`, and
// argv[0] looked up on $PATH when `search_path` (posix_spawnp).
absl::StatusOr<int> Spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                          int stdout_fd, int close_fd, bool both = false, bool group = false,
                          bool search_path = false) {
  if (argv.empty()) return absl::InvalidArgumentError("cannot start a process: empty argv");
  SpawnArgs args(argv, env);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdout_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);
    if (both) posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDERR_FILENO);
    posix_spawn_file_actions_addclose(&actions, stdout_fd);
    if (close_fd >= 0) posix_spawn_file_actions_addclose(&actions, close_fd);
  }
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  if (group) {
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attributes, 0);
  }
  pid_t pid = 0;
  const int spawned = (search_path ? posix_spawnp : posix_spawn)(&pid, argv[0].c_str(), &actions, &attributes,
                                                                 args.argv(), args.envp());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (spawned == ENOENT) {
    return absl::NotFoundError(
        absl::StrCat("cannot start ", argv[0], ": ", std::strerror(spawned), search_path ? " (on $PATH)" : ""));
  }
  if (spawned != 0) return absl::InternalError(absl::StrCat("cannot start ", argv[0], ": ", std::strerror(spawned)));
  return static_cast<int>(pid);
}

}  // namespace

absl::StatusOr<int> StartProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  return Spawn(argv, env, -1, -1);
}

absl::StatusOr<int> StartLoggedProcess(const std::vector<std::string>& argv, const std::string& log_path,
                                       const std::map<std::string, std::string>& env) {
  const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", log_path, ": ", std::strerror(errno)));
  absl::StatusOr<int> pid = Spawn(argv, env, fd, -1, /*both=*/true, /*group=*/true);
  close(fd);
  return pid;
}

absl::StatusOr<std::optional<int>> WaitProcessFor(int pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) return std::optional<int>(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    if (done < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("waiting for process ", pid, ": ", std::strerror(errno)));
    }
    if (absl::Now() >= deadline) return std::optional<int>();
    absl::SleepFor(std::min(absl::Milliseconds(5), deadline - absl::Now()));
  }
}

absl::StatusOr<int> KillProcessGroup(int pid) {
  killpg(pid, SIGKILL);
  return WaitProcess(pid);
}

absl::StatusOr<int> WaitProcess(int pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      return absl::InternalError(absl::StrCat("waiting for process ", pid, ": ", std::strerror(errno)));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv, const ProcessOptions& options) {
  if (!options.capture_stdout) {
    MOCO_ASSIGN_OR_RETURN(const int pid, Spawn(argv, options.env, -1, -1, false, false, options.search_path));
    MOCO_ASSIGN_OR_RETURN(const int code, WaitProcess(pid));
    return ProcessResult{code, ""};
  }
  int fds[2] = {-1, -1};
  if (pipe(fds) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot create a pipe to run ", argv.empty() ? "" : argv[0], ": ", std::strerror(errno)));
  }
  absl::StatusOr<int> pid =
      Spawn(argv, options.env, fds[1], fds[0], options.capture_stderr, /*group=*/false, options.search_path);
  close(fds[1]);
  if (!pid.ok()) {
    close(fds[0]);
    return pid.status();
  }
  ProcessResult result;
  char buffer[4096];
  while (true) {
    const ssize_t n = read(fds[0], buffer, sizeof(buffer));
    if (n > 0) {
      result.stdout_text.append(buffer, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(fds[0]);
  MOCO_ASSIGN_OR_RETURN(result.exit_code, WaitProcess(*pid));
  return result;
}

absl::StatusOr<std::string> FindProgram(const std::string& argv0, const std::string& path) {
  std::vector<fs::path> candidates;
  const std::string runfiles = Env("RUNFILES_DIR");
  if (!runfiles.empty()) candidates.push_back(fs::path(runfiles) / kWorkspaceName / path);
  std::error_code ec;
  const fs::path self = fs::absolute(argv0, ec);
  if (!ec) {
    candidates.push_back(fs::path(self.string() + ".runfiles") / kWorkspaceName / path);
    // `bazel run` starts a binary in its runfiles tree (.../x.runfiles/moco_cpp).
    candidates.push_back(fs::current_path(ec) / path);
    // Started as bazel-bin/benchmarks/report: its siblings are there too.
    candidates.push_back(self.parent_path() / fs::path(path).filename());
  }
  std::vector<std::string> tried;
  for (const fs::path& candidate : candidates) {
    if (fs::is_regular_file(candidate, ec)) return candidate.string();
    tried.push_back(candidate.string());
  }
  return absl::NotFoundError(absl::StrCat("cannot find ", path, " (looked in ", absl::StrJoin(tried, ", "),
                                          "); build it with bazel, or run this through `bazel run`"));
}

absl::StatusOr<std::string> PythonInterpreter() {
  std::string python = Env("MOCO_PYTHON");
  if (python.empty()) {
    const std::string cache = Env("MOCO_CACHE");
    python = (cache.empty() ? Env("HOME") + "/.cache/moco-cpp" : cache) + "/torch-2.11.0/bin/python";
  }
  std::error_code ec;
  if (!fs::exists(python, ec)) {
    return absl::NotFoundError(absl::StrCat("the Python reference's interpreter ", python,
                                            " does not exist: tools/setup.sh installs it (torch 2.11.0 with "
                                            "torchvision); set MOCO_PYTHON or MOCO_CACHE if it lives elsewhere"));
  }
  return python;
}

std::string WorkspaceDir() {
  const std::string workspace = Env("BUILD_WORKSPACE_DIRECTORY");
  if (!workspace.empty()) return workspace;
  std::error_code ec;
  return fs::current_path(ec).string();
}

double PeakRssMib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;  // KiB on Linux
}

}  // namespace moco
