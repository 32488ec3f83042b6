#include "moco/distributed/worker_launcher.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "moco/common/status.h"

extern char** environ;

namespace moco {
namespace {

constexpr absl::Duration kPollInterval = absl::Milliseconds(10);

// Set by LaunchWorkers; values inherited from the launching process are replaced.
constexpr absl::string_view kLaunchVariables[] = {
    "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"};

struct Worker {
  int rank = 0;
  pid_t pid = -1;
  bool running = false;
  int wait_status = 0;
};

std::vector<std::string> WorkerEnvironment(int rank, int world_size, int master_port) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    absl::string_view text(*entry);
    absl::string_view name = text.substr(0, text.find('='));
    bool replaced = false;
    for (absl::string_view variable : kLaunchVariables) replaced |= (name == variable);
    if (!replaced) env.emplace_back(text);
  }
  env.push_back(absl::StrCat("RANK=", rank));
  env.push_back(absl::StrCat("LOCAL_RANK=", rank));
  env.push_back(absl::StrCat("WORLD_SIZE=", world_size));
  env.push_back(absl::StrCat("LOCAL_WORLD_SIZE=", world_size));
  env.push_back("MASTER_ADDR=127.0.0.1");
  env.push_back(absl::StrCat("MASTER_PORT=", master_port));
  return env;
}

std::vector<char*> NullTerminated(const std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (const std::string& s : strings) pointers.push_back(const_cast<char*>(s.c_str()));
  pointers.push_back(nullptr);
  return pointers;
}

// Forks and execs argv with env. A close-on-exec pipe carries the child's errno back when
// execve fails, so a bad command is an error here rather than a mysterious exit status.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv,
                            const std::vector<std::string>& env) {
  std::vector<char*> argv_pointers = NullTerminated(argv);
  std::vector<char*> env_pointers = NullTerminated(env);
  int exec_error_pipe[2];
  if (pipe2(exec_error_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe2 failed: ", std::strerror(errno)));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int error = errno;
    close(exec_error_pipe[0]);
    close(exec_error_pipe[1]);
    return absl::InternalError(absl::StrCat("fork failed: ", std::strerror(error)));
  }
  if (pid == 0) {
    // The parent may run other threads (LibTorch's pools): only async-signal-safe calls
    // between fork and exec.
    close(exec_error_pipe[0]);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
    execve(argv_pointers[0], argv_pointers.data(), env_pointers.data());
    const int error = errno;
    (void)!write(exec_error_pipe[1], &error, sizeof(error));
    _exit(127);
  }
  close(exec_error_pipe[1]);
  int child_error = 0;
  ssize_t got;
  do {
    got = read(exec_error_pipe[0], &child_error, sizeof(child_error));
  } while (got < 0 && errno == EINTR);
  close(exec_error_pipe[0]);
  if (got == static_cast<ssize_t>(sizeof(child_error))) {
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return absl::InternalError(
        absl::StrCat("execve(", argv[0], ") failed: ", std::strerror(child_error)));
  }
  return pid;
}

// waitpid that retries on EINTR. Returns pid once the worker has exited, 0 while it runs
// (with WNOHANG), -1 when it cannot be waited for.
pid_t Reap(Worker& worker, int flags) {
  pid_t result;
  do {
    result = waitpid(worker.pid, &worker.wait_status, flags);
  } while (result < 0 && errno == EINTR);
  if (result != 0) worker.running = false;
  return result;
}

std::string DescribeExit(int wait_status) {
  if (WIFEXITED(wait_status)) return absl::StrCat("exited with status ", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    return absl::StrCat("was killed by signal ", WTERMSIG(wait_status), " (",
                        strsignal(WTERMSIG(wait_status)), ")");
  }
  return absl::StrCat("ended with wait status ", wait_status);
}

int CountRunning(const std::vector<Worker>& workers) {
  int running = 0;
  for (const Worker& worker : workers) running += worker.running ? 1 : 0;
  return running;
}

// SIGTERM to every running worker, up to `grace` for them to exit, then SIGKILL.
void StopWorkers(std::vector<Worker>& workers, absl::Duration grace) {
  for (const Worker& worker : workers) {
    if (worker.running) kill(worker.pid, SIGTERM);
  }
  const absl::Time deadline = absl::Now() + grace;
  while (CountRunning(workers) > 0 && absl::Now() < deadline) {
    absl::SleepFor(kPollInterval);
    for (Worker& worker : workers) {
      if (worker.running) Reap(worker, WNOHANG);
    }
  }
  for (Worker& worker : workers) {
    if (!worker.running) continue;
    kill(worker.pid, SIGKILL);
    Reap(worker, 0);
  }
}

}  // namespace

absl::Status LaunchWorkers(int nproc_per_node, const std::vector<std::string>& argv,
                           const LaunchOptions& options) {
  if (nproc_per_node < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("nproc_per_node=", nproc_per_node, " must be at least 1"));
  }
  if (argv.empty()) return absl::InvalidArgumentError("no command to launch");
  if (access(argv[0].c_str(), X_OK) != 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot execute ", argv[0], ": ", std::strerror(errno)));
  }
  int port = options.master_port;
  if (port == 0) {
    MOCO_ASSIGN_OR_RETURN(port, FindFreeLoopbackPort());
  } else if (port < 1 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("master_port=", port, " is out of range: must be in [1, 65535] or 0"));
  }
  const std::string command = absl::StrJoin(argv, " ");

  std::vector<Worker> workers;
  for (int rank = 0; rank < nproc_per_node; ++rank) {
    absl::StatusOr<pid_t> pid = Spawn(argv, WorkerEnvironment(rank, nproc_per_node, port));
    if (!pid.ok()) {
      StopWorkers(workers, options.termination_grace);
      return absl::Status(pid.status().code(),
                          absl::StrCat("starting worker rank ", rank, " of ", nproc_per_node, " (",
                                       command, "): ", pid.status().message()));
    }
    workers.push_back(Worker{rank, *pid, /*running=*/true, 0});
  }

  const absl::Time deadline = absl::Now() + options.timeout;  // InfiniteFuture if infinite.
  while (true) {
    for (Worker& worker : workers) {
      if (!worker.running) continue;
      const pid_t reaped = Reap(worker, WNOHANG);
      if (reaped == 0) continue;
      std::string failure;
      if (reaped < 0) {
        failure = absl::StrCat("could not be waited for: ", std::strerror(errno));
      } else if (!WIFEXITED(worker.wait_status) || WEXITSTATUS(worker.wait_status) != 0) {
        failure = DescribeExit(worker.wait_status);
      }
      if (failure.empty()) continue;
      const int others = CountRunning(workers);
      StopWorkers(workers, options.termination_grace);
      return absl::UnknownError(absl::StrCat("worker rank ", worker.rank, " of ", nproc_per_node,
                                             " (pid ", worker.pid, ", ", command, ") ", failure,
                                             "; stopped the ", others, " other running worker(s)"));
    }
    const int running = CountRunning(workers);
    if (running == 0) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      std::vector<int> ranks;
      for (const Worker& worker : workers) {
        if (worker.running) ranks.push_back(worker.rank);
      }
      StopWorkers(workers, options.termination_grace);
      return absl::DeadlineExceededError(
          absl::StrCat(running, " of ", nproc_per_node, " workers (ranks ",
                       absl::StrJoin(ranks, ", "), "; ", command, ") still running after ",
                       absl::FormatDuration(options.timeout), "; stopped them"));
    }
    absl::SleepFor(kPollInterval);
  }
}

absl::StatusOr<int> FindFreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const int error = errno;
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("no free port on 127.0.0.1: ", std::strerror(error)));
  }
  close(fd);
  return static_cast<int>(ntohs(address.sin_port));
}

}  // namespace moco
