// Kill-anywhere: a short pretraining run straight through, then the same run SIGKILLed at random
// moments (seeded and printed) and resumed each time, until it finishes; the final checkpoint
// (weights, queue or bank, optimizer state, RNG, epoch sums), the result record's metrics and
// metrics.jsonl must be bit-identical to the straight run's. Repeats interrupted runs until
// --kills kills have been survived.
//
//   bazel run //tests:kill_anywhere -- --kills=20            # the full check
//   bazel run //tests:kill_anywhere -- --kills=20 --seed=7   # the same kill moments again
//   bazel run //tests:kill_anywhere -- --harness --kills=10  # kill the harness mid-sweep
//   bazel run //tests:kill_anywhere -- --harness --jobs=2    # ... running two runs at a time
//   bazel run //tests:kill_anywhere -- --torchrun --kills=3  # torchrun elastic: one worker of 2 killed
//   bazel run //tests:kill_anywhere -- --detection --kills=5 # detection fine-tuning (eval/detection)
//
// With --torchrun the straight run is 2 processes (the built-in launcher) and each interrupted run
// is `torchrun --no-python --nproc_per_node=2 --max-restarts=3 pretrain ...` (torchrun from the
// set-up's venv): at steps drawn from the seed, one worker (rank 1) is SIGKILLed mid-epoch and
// torchrun restarts both, which resume from the last checkpoint.
//
// Each kill's moment is drawn uniformly over the straight run's wall time, so kills land in
// start-up (reading the dataset), steps, kNN evaluation and checkpoint writes alike; the line
// printed for each says where the run was (its last log line, or "writing a file (a temporary file was left)" when a
// temporary checkpoint file was left behind).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "moco/common/subprocess.h"
#include "moco/common/files.h"
#include "moco/common/paths.h"
#include "configs/record.h"
#include "moco/common/status.h"
#include "moco/train/checkpoint.h"

ABSL_FLAG(int, kills, 20, "Kills to survive (over as many interrupted runs as that takes).");
ABSL_FLAG(int64_t, seed, -1, "Seed of the kill moments (-1: from the clock; printed either way).");
ABSL_FLAG(std::string, config, "tests/testdata/kill_anywhere.pbtxt", "The run to kill.");
ABSL_FLAG(bool, harness, false,
          "Kill the reproduction harness sweeping --table_file instead of one pretraining run, and compare every "
          "run's record and checkpoint.");
ABSL_FLAG(std::string, table_file, "tests/testdata/kill_table.pbtxt", "The table the harness sweeps (--harness).");
ABSL_FLAG(int, jobs, 1,
          "With --harness: the interrupted sweeps train this many runs at a time (reproduce --jobs); the straight "
          "sweep trains one at a time, so the check is also that --jobs changes no result. Every run gets 1 "
          "thread when --jobs > 1.");
ABSL_FLAG(bool, torchrun, false,
          "Run the interrupted runs under torchrun's elastic agent (2 workers, --max-restarts=3) and SIGKILL one "
          "worker mid-epoch (at most 3 kills a run); the straight run is 2 processes of the built-in launcher.");
ABSL_FLAG(std::string, torchrun_config, "tests/testdata/elastic.pbtxt", "The run of --torchrun.");
ABSL_FLAG(bool, detection, false,
          "Kill detection fine-tuning (//eval:detection on --detection_config) instead: its training state, final "
          "model, record and detections.json must come out bit-identical.");
ABSL_FLAG(std::string, detection_config, "tests/testdata/kill_detection.pbtxt", "The run of --detection.");
ABSL_FLAG(std::string, work_dir, "", "Where the runs go (default: $TEST_TMPDIR or /tmp, + kill_anywhere).");

namespace moco {
namespace {

namespace fs = std::filesystem;

// The record's figures that do not depend on timing.
std::string RecordFigures(const std::string& path) {
  absl::StatusOr<config::RunRecord> record = ReadRecord(path);
  if (!record.ok()) return std::string(record.status().message());
  std::vector<std::string> parts = {absl::StrCat("config_hash=", record->config_hash())};
  for (const auto& [name, value] : record->metrics()) {
    if (name == "images_per_second" || name == "data_wait_fraction" || absl::StrContains(name, "seconds")) continue;
    parts.push_back(absl::StrFormat("%s=%.17g", name, value));
  }
  std::sort(parts.begin(), parts.end());
  return absl::StrJoin(parts, " ");
}

// metrics.jsonl without the epochs' wall times.
std::string MetricsLines(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return std::string(text.status().message());
  std::istringstream lines(*text);
  std::string out, line;
  while (std::getline(lines, line)) out += line.substr(0, line.find(", \"epoch_seconds\"")) + "\n";
  return out;
}

// The last line `path` got after its first `from` bytes (what the current attempt logged).
std::string LastLine(const std::string& path, size_t from = 0) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok() || text->size() <= from) return "(start-up: nothing logged yet)";
  std::string t = text->substr(from);
  while (!t.empty() && t.back() == '\n') t.pop_back();
  const size_t newline = t.rfind('\n');
  return newline == std::string::npos ? t : t.substr(newline + 1);
}

bool TemporaryFileLeft(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(dir, ec)) {
    if (absl::StrContains(entry.path().filename().string(), ".tmp.")) return true;
  }
  return false;
}

// Differences between the straight run's outputs and an interrupted one's; empty when identical.
std::vector<std::string> Compare(const std::string& straight, const std::string& killed);

// Prints one interrupted run's verdict; 1 if it differs from the straight run, else 0.
int ReportRun(int run, const std::string& how, const std::vector<std::string>& differences) {
  if (differences.empty()) {
    std::cout << absl::StrFormat("run %d: %s; checkpoint, record and metrics are bit-identical to the straight run\n",
                                 run, how);
    return 0;
  }
  std::cout << absl::StrFormat("run %d DIFFERS from the straight run:\n  %s\n", run, absl::StrJoin(differences, "\n  "));
  return 1;
}

absl::Status Summary(const std::string& what, int kills, int runs, int64_t seed, int failures) {
  std::cout << absl::StrFormat("%s: %d kills over %d interrupted runs (seed %d): %s\n", what, kills, runs, seed,
                               failures == 0 ? "all bit-identical" : absl::StrCat(failures, " run(s) DIFFER"));
  if (failures > 0) return absl::DataLossError("an interrupted run did not reproduce the straight run");
  return absl::OkStatus();
}

// The processes below `root` (children, grandchildren, ...), from /proc.
std::vector<int> Descendants(int root) {
  std::map<int, std::vector<int>> children;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    absl::StatusOr<std::string> stat = ReadFile(entry.path().string() + "/stat");
    if (!stat.ok()) continue;
    // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
    std::istringstream rest(stat->substr(stat->rfind(')') + 1));
    std::string state;
    int ppid = 0;
    rest >> state >> ppid;
    children[ppid].push_back(std::stoi(name));
  }
  std::vector<int> out, todo = {root};
  while (!todo.empty()) {
    const int pid = todo.back();
    todo.pop_back();
    for (int child : children[pid]) {
      out.push_back(child);
      todo.push_back(child);
    }
  }
  return out;
}

// The worker below `root` whose environment says RANK=<rank> and that runs `program`; 0 if none.
int FindWorker(int root, int rank, const std::string& program) {
  for (int pid : Descendants(root)) {
    std::error_code ec;
    if (fs::read_symlink(absl::StrCat("/proc/", pid, "/exe"), ec).filename() != fs::path(program).filename()) continue;
    absl::StatusOr<std::string> environ = ReadFile(absl::StrCat("/proc/", pid, "/environ"));
    if (!environ.ok()) continue;
    for (absl::string_view var : absl::StrSplit(*environ, '\0')) {
      if (var == absl::StrCat("RANK=", rank)) return pid;
    }
  }
  return 0;
}

// The global step of the last progress line ("epoch E/N step S/M") logged after `from` bytes; -1 if none.
int64_t LastLoggedStep(const std::string& log, size_t from) {
  absl::StatusOr<std::string> text = ReadFile(log);
  if (!text.ok() || text->size() <= from) return -1;
  int64_t last = -1;
  for (absl::string_view line : absl::StrSplit(absl::string_view(*text).substr(from), '\n')) {
    const size_t at = line.find("] epoch ");
    if (at == absl::string_view::npos) continue;
    int64_t epoch = 0, epochs = 0, step = 0, steps = 0;
    if (std::sscanf(std::string(line.substr(at)).c_str(), "] epoch %ld/%ld step %ld/%ld", &epoch, &epochs, &step,
                    &steps) == 4) {
      last = (epoch - 1) * steps + step;
    }
  }
  return last;
}

// torchrun elastic: the straight run as 2 processes of the built-in launcher, then interrupted runs
// under torchrun with one worker SIGKILLed at seeded steps; each must end bit-identical.
absl::Status TorchrunCheck(const std::string& program, const std::string& work, int64_t seed, int kills_wanted) {
  MOCO_ASSIGN_OR_RETURN(const std::string python, PythonInterpreter());
  const std::string torchrun = (fs::path(python).parent_path() / "torchrun").string();
  if (!fs::exists(torchrun)) {
    return absl::NotFoundError(absl::StrCat(torchrun, " is missing: tools/setup.sh installs torch (and torchrun) there"));
  }
  const std::string config = UserPath(absl::GetFlag(FLAGS_torchrun_config));
  const std::string straight = work + "/straight";
  std::cout << "straight run: 2 processes, " << config << std::endl;
  MOCO_ASSIGN_OR_RETURN(
      const int straight_pid,
      StartLoggedProcess({program, "--config=" + config, "--output_dir=" + straight, "--fresh", "--nproc_per_node=2"},
                         work + "/straight.log"));
  MOCO_ASSIGN_OR_RETURN(const int straight_code, WaitProcess(straight_pid));
  if (straight_code != 0) {
    return absl::InternalError(absl::StrCat("the straight run failed (exit ", straight_code, "): ",
                                            LastLine(work + "/straight.log"), " (log: ", work, "/straight.log)"));
  }
  const int64_t total_steps = LastLoggedStep(work + "/straight.log", 0);
  if (total_steps < 4) return absl::InternalError("the straight run logged no progress lines");
  std::mt19937_64 rng(static_cast<uint64_t>(seed));
  // From step 4: after the first checkpoint (every 3 steps), so that each restart resumes.
  std::uniform_int_distribution<int64_t> step_at(4, total_steps - 1);
  int kills = 0, runs = 0, failures = 0;
  while (kills < kills_wanted) {
    ++runs;
    const std::string dir = absl::StrCat(work, "/elastic-", runs);
    const std::string log = dir + ".log";
    std::error_code ec;
    fs::remove_all(dir, ec);
    // At most 3 kills a run (torchrun's --max-restarts), at distinct steps, in order.
    std::set<int64_t> targets;
    while (static_cast<int>(targets.size()) < std::min(3, kills_wanted - kills)) targets.insert(step_at(rng));
    // A free port for the agent's store: bind port 0 and read it back.
    const int probe = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    const bool bound = probe >= 0 && bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                       getsockname(probe, reinterpret_cast<sockaddr*>(&address), &length) == 0;
    if (probe >= 0) close(probe);
    if (!bound) return absl::UnavailableError(absl::StrCat("no free port for torchrun's store: ", std::strerror(errno)));
    const int port = ntohs(address.sin_port);
    const std::vector<std::string> argv = {torchrun, "--no-python", "--nproc_per_node=2", "--max-restarts=3",
                                           "--master-addr=127.0.0.1", absl::StrCat("--master-port=", port), program,
                                           "--config=" + config, "--output_dir=" + dir};
    std::cout << absl::StrJoin(argv, " ") << std::endl;
    MOCO_ASSIGN_OR_RETURN(const int pid, StartLoggedProcess(argv, log));
    size_t attempt_start = 0;
    std::optional<int> code;
    // Polls the run: false once torchrun has exited (its status in `code`).
    auto running = [&]() -> absl::StatusOr<bool> {
      MOCO_ASSIGN_OR_RETURN(code, WaitProcessFor(pid, absl::Milliseconds(50)));
      return !code.has_value();
    };
    for (int64_t target : targets) {
      // Wait until this attempt has logged a step at or past the target, then kill rank 1.
      while (true) {
        MOCO_ASSIGN_OR_RETURN(const bool alive, running());
        if (!alive || LastLoggedStep(log, attempt_start) >= target) break;
      }
      if (code.has_value()) break;
      const int worker = FindWorker(pid, 1, program);
      if (worker == 0) return absl::InternalError(absl::StrCat("run ", runs, ": no worker with RANK=1 under torchrun"));
      kill(worker, SIGKILL);
      ++kills;
      std::cout << absl::StrFormat("kill %d: worker RANK=1 (pid %d) at step %d of %d: %s\n", kills, worker, target,
                                   total_steps, LastLine(log, attempt_start));
      // The restarted workers must resume from the last checkpoint: wait for that line, and count
      // progress only after it.
      const size_t killed_at = fs::file_size(log, ec);
      while (true) {
        MOCO_ASSIGN_OR_RETURN(const bool alive, running());
        absl::StatusOr<std::string> text = ReadFile(log);
        const size_t resumed = text.ok() && text->size() > killed_at ? text->find("] resumed from ", killed_at)
                                                                     : std::string::npos;
        if (resumed != std::string::npos) {
          attempt_start = resumed;
          break;
        }
        if (!alive) return absl::InternalError(absl::StrCat("run ", runs, ": torchrun exited after kill ", kills,
                                                            " without resuming (log: ", log, ")"));
      }
    }
    if (!code.has_value()) {
      MOCO_ASSIGN_OR_RETURN(const int exit_code, WaitProcess(pid));
      code = exit_code;
    }
    if (*code != 0) {
      return absl::InternalError(absl::StrCat("torchrun run ", runs, " failed (exit ", *code, "): ", LastLine(log),
                                              " (log: ", log, ")"));
    }
    failures += ReportRun(runs, "torchrun restarted the workers and the run finished", Compare(straight, dir));
  }
  return Summary("kill_anywhere --torchrun", kills, runs, seed, failures);
}

// The harness's outputs: each run's record (reports/<tier>/runs/<name>.json) and its run folder.
std::vector<std::string> CompareSweeps(const std::string& straight, const std::string& killed) {
  std::vector<std::string> out;
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& tier : fs::directory_iterator(straight + "/reports", ec)) {
    if (!tier.is_directory()) continue;
    for (const auto& record : fs::directory_iterator(tier.path() / "runs", ec)) {
      const std::string relative = fs::relative(record.path(), straight, ec).string();
      names.push_back(relative);
      const std::string a = RecordFigures(straight + "/" + relative), b = RecordFigures(killed + "/" + relative);
      if (a != b) out.push_back(absl::StrCat(relative, ": ", a, "\n    vs ", b));
    }
  }
  if (names.empty()) out.push_back("the straight sweep wrote no records");
  for (const auto& run : fs::directory_iterator(straight + "/runs", ec)) {
    const std::string name = run.path().filename().string();
    for (const std::string& d : Compare(run.path().string(), killed + "/runs/" + name)) {
      out.push_back(absl::StrCat("runs/", name, ": ", d));
    }
  }
  return out;
}

std::vector<std::string> Compare(const std::string& straight, const std::string& killed) {
  std::vector<std::string> out;
  const bool detection = absl::GetFlag(FLAGS_detection);
  for (const char* checkpoint : {"checkpoint.pt", "model_final.pt"}) {
    if (!detection && std::string(checkpoint) == "model_final.pt") continue;
    absl::StatusOr<std::vector<std::string>> tensors =
        CheckpointDifferences(absl::StrCat(straight, "/", checkpoint), absl::StrCat(killed, "/", checkpoint));
    if (!tensors.ok()) {
      out.push_back(std::string(tensors.status().message()));
    } else {
      for (const std::string& d : *tensors) out.push_back(absl::StrCat(checkpoint, " ", d));
    }
  }
  const std::string ra = RecordFigures(straight + "/record.json"), rb = RecordFigures(killed + "/record.json");
  if (ra != rb) out.push_back(absl::StrCat("record.json: ", ra, "\n    vs ", rb));
  // Pretraining's per-epoch metrics; detection's detections.
  const std::string lines = detection ? "/detections.json" : "/metrics.jsonl";
  const std::string ma = detection ? ReadFile(straight + lines).value_or("(missing)") : MetricsLines(straight + lines);
  const std::string mb = detection ? ReadFile(killed + lines).value_or("(missing)") : MetricsLines(killed + lines);
  if (ma != mb) out.push_back(absl::StrCat(lines.substr(1), ":\n", ma, "    vs\n", mb));
  return out;
}

absl::Status Main(const char* argv0) {
  const bool harness = absl::GetFlag(FLAGS_harness);
  const bool detection = absl::GetFlag(FLAGS_detection);
  MOCO_ASSIGN_OR_RETURN(const std::string program,
                        FindProgram(argv0, harness ? "benchmarks/reproduce" : detection ? "eval/detection_main" : "moco/pretrain"));
  const bool elastic = absl::GetFlag(FLAGS_torchrun);
  const std::string config = UserPath(elastic       ? absl::GetFlag(FLAGS_torchrun_config)
                                      : detection ? absl::GetFlag(FLAGS_detection_config)
                                                  : absl::GetFlag(harness ? FLAGS_table_file : FLAGS_config));
  std::string work = absl::GetFlag(FLAGS_work_dir);
  if (work.empty()) {
    const char* tmp = std::getenv("TEST_TMPDIR");
    work = (fs::path(tmp ? tmp : "/tmp") / "kill_anywhere").string();
  }
  work = OutputPath(work);
  int64_t seed = absl::GetFlag(FLAGS_seed);
  if (seed < 0) seed = absl::ToUnixMicros(absl::Now()) % 1000000;
  const int kills_wanted = absl::GetFlag(FLAGS_kills);
  std::cout << absl::StrFormat("kill_anywhere: %d kills of %s, seed %d (replay with --seed=%d), %s, in %s\n",
                               kills_wanted,
                               harness     ? "the harness"
                               : elastic   ? "a torchrun worker"
                               : detection ? "a detection run"
                                           : "a pretraining run",
                               seed, seed, config, work);
  std::error_code ec;
  fs::remove_all(work, ec);
  fs::create_directories(work, ec);

  if (absl::GetFlag(FLAGS_torchrun)) return TorchrunCheck(program, work, seed, kills_wanted);

  const int jobs = absl::GetFlag(FLAGS_jobs);
  // `interrupted`: a run the check kills and resumes (only those get --jobs).
  auto command = [&](const std::string& dir, bool fresh, bool interrupted) {
    if (harness) {
      std::vector<std::string> argv = {program, "--table_file=" + config, "--reports_dir=" + dir + "/reports",
                                       "--runs_dir=" + dir + "/runs"};
      if (jobs > 1) {
        argv.push_back("--threads=1");
        if (interrupted) argv.push_back(absl::StrCat("--jobs=", jobs));
      }
      return argv;
    }
    std::vector<std::string> argv = {program, "--config=" + config, "--output_dir=" + dir};
    if (detection) argv.push_back("--init=random");
    if (fresh) argv.push_back("--fresh");
    return argv;
  };

  // The straight run, timed: kill moments are drawn over its length.
  const std::string straight = work + "/straight";
  const absl::Time start = absl::Now();
  MOCO_ASSIGN_OR_RETURN(const int straight_pid, StartLoggedProcess(command(straight, true, false), work + "/straight.log"));
  MOCO_ASSIGN_OR_RETURN(const int straight_code, WaitProcess(straight_pid));
  const double straight_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (straight_code != 0) {
    return absl::InternalError(absl::StrCat("the straight run failed (exit ", straight_code, "); see ", work,
                                            "/straight.log: ", LastLine(work + "/straight.log")));
  }
  std::cout << absl::StrFormat("straight run: %.1f s\n", straight_seconds);

  std::mt19937_64 rng(static_cast<uint64_t>(seed));
  std::uniform_real_distribution<double> moment(0.0, straight_seconds);
  int kills = 0, runs = 0, failures = 0;
  while (kills < kills_wanted) {
    ++runs;
    const std::string dir = absl::StrCat(work, "/killed-", runs);
    const std::string log = dir + ".log";
    int attempt = 0;
    while (true) {
      ++attempt;
      const double at = kills < kills_wanted ? moment(rng) : 1e9;  // the last attempt runs to the end
      std::error_code size_error;
      const size_t logged_before = fs::exists(log) ? fs::file_size(log, size_error) : 0;
      MOCO_ASSIGN_OR_RETURN(const int pid, StartLoggedProcess(command(dir, attempt == 1, true), log));
      MOCO_ASSIGN_OR_RETURN(std::optional<int> code, WaitProcessFor(pid, absl::Seconds(at)));
      if (code.has_value()) {
        if (*code != 0) {
          return absl::InternalError(absl::StrCat("run ", runs, " attempt ", attempt, " failed (exit ", *code,
                                                  ") after a kill: ", LastLine(log), " (log: ", log, ")"));
        }
        break;  // finished before its kill moment
      }
      MOCO_RETURN_IF_ERROR(KillProcessGroup(pid).status());
      ++kills;
      const std::string where = TemporaryFileLeft(dir) ? "writing a file (a temporary file was left)" : LastLine(log, logged_before);
      std::cout << absl::StrFormat("kill %2d at %6.2f s (run %d, attempt %d): %s\n", kills, at, runs, attempt, where);
      std::ofstream(log, std::ios::app) << "=== SIGKILL at " << at << " s ===\n";
    }
    failures += ReportRun(runs, absl::StrCat("finished after ", attempt, " attempt(s)"),
                          harness ? CompareSweeps(straight, dir) : Compare(straight, dir));
  }
  return Summary("kill_anywhere", kills, runs, seed, failures);
}

}  // namespace
}  // namespace moco

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Runs a short pretraining straight, then SIGKILLs it at random moments and resumes it until it\n"
      "finishes; checks that the result is bit-identical. Usage: kill_anywhere [--kills=20] [--seed=N]");
  absl::ParseCommandLine(argc, argv);
  const absl::Status status = moco::Main(argv[0]);
  if (!status.ok()) {
    std::cerr << "kill_anywhere: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
