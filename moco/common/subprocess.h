// Running child processes and finding the programs to run: every process the suite starts
// goes through here (the report and the regression start the throughput binary, the
// micro-benchmarks, the harness and the Python reference, so each gets its own peak resident
// memory and its own threads; the sweep starts its --jobs workers; plots run gnuplot,
// moco/common/gnuplot.h). The trainer's own distributed workers are started and watched by
// moco/distributed/worker_launcher.h.
//
//   MOCO_ASSIGN_OR_RETURN(std::string throughput, FindProgram(argv[0], "benchmarks/throughput"));
//   MOCO_ASSIGN_OR_RETURN(ProcessResult run, RunProcess({throughput, "--cases=moco/memory/r18"}));
//   if (run.exit_code != 0) ...;  // run.stdout_text holds what it printed
#ifndef MOCO_COMMON_SUBPROCESS_H_
#define MOCO_COMMON_SUBPROCESS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace moco {

struct ProcessResult {
  int exit_code = 0;        // the exit status; 128 + N when killed by signal N
  std::string stdout_text;  // what it wrote to stdout (empty unless captured)
};

struct ProcessOptions {
  // Capture stdout into ProcessResult::stdout_text; otherwise it goes to this process's stdout.
  // stderr passes through, so a child's progress lines stay visible, unless capture_stderr.
  bool capture_stdout = true;
  // With capture_stdout: stderr goes into stdout_text too, interleaved as written (2>&1).
  bool capture_stderr = false;
  // Look argv[0] up on $PATH when it has no '/' (as a shell would); NotFound when it is not there.
  bool search_path = false;
  // Set (or, with an empty value, unset) these variables in the child's environment.
  std::map<std::string, std::string> env;
};

// Runs argv[0] (a path; PATH is searched only with options.search_path) with `argv` and waits
// for it. An error only when it cannot be started (NotFound when argv[0] does not exist); a
// failing child is a non-zero exit_code.
absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                         const ProcessOptions& options = ProcessOptions());

// Starts argv[0] with `argv` (stdout and stderr shared with this process, `env` applied as in
// ProcessOptions) and returns its pid without waiting; WaitProcess collects its exit status.
absl::StatusOr<int> StartProcess(const std::vector<std::string>& argv,
                                 const std::map<std::string, std::string>& env = {});
// Starts argv[0] with `argv`, its stdout and stderr appended to `log_path`, as the leader of a
// new process group (so KillProcessGroup reaches the processes it starts too).
absl::StatusOr<int> StartLoggedProcess(const std::vector<std::string>& argv, const std::string& log_path,
                                       const std::map<std::string, std::string>& env = {});
// Waits up to `timeout` for a child: its exit status (as WaitProcess), or nullopt while it runs.
absl::StatusOr<std::optional<int>> WaitProcessFor(int pid, absl::Duration timeout);
// SIGKILL to the process group `pid` leads, then reaps `pid`: its status (128 + 9 when killed).
absl::StatusOr<int> KillProcessGroup(int pid);
// Waits for a child started by StartProcess: its exit status, 128 + N when killed by signal N.
absl::StatusOr<int> WaitProcess(int pid);

// The path of a binary or data file built by this workspace, `path` from the workspace root
// ("benchmarks/throughput"): looked up in the runfiles of the running binary (`argv0`;
// $RUNFILES_DIR, <argv0>.runfiles, or the current folder under `bazel run`), then beside argv0's
// bazel-bin. NotFound names the places searched.
absl::StatusOr<std::string> FindProgram(const std::string& argv0, const std::string& path);

// The Python interpreter of the set-up (tools/setup.sh): $MOCO_PYTHON if set, else
// $MOCO_CACHE/torch-2.11.0/bin/python, else ~/.cache/moco-cpp/torch-2.11.0/bin/python.
// NotFound (saying how to install it) when it does not exist.
absl::StatusOr<std::string> PythonInterpreter();

// This process's peak resident memory so far, in MiB (getrusage's ru_maxrss).
double PeakRssMib();

// The workspace `bazel run` was started from ($BUILD_WORKSPACE_DIRECTORY), else the current folder.
std::string WorkspaceDir();

}  // namespace moco

#endif  // MOCO_COMMON_SUBPROCESS_H_
