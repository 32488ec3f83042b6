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
//
// Each kill's moment is drawn uniformly over the straight run's wall time, so kills land in
// start-up (reading the dataset), steps, kNN evaluation and checkpoint writes alike; the line
// printed for each says where the run was (its last log line, or "writing a file (a temporary file was left)" when a
// temporary checkpoint file was left behind).
#include <cstdint>
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
    if (name == "images_per_second" || name == "data_wait_fraction") continue;
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
  absl::StatusOr<std::vector<std::string>> tensors =
      CheckpointDifferences(straight + "/checkpoint.pt", killed + "/checkpoint.pt");
  if (!tensors.ok()) {
    out.push_back(std::string(tensors.status().message()));
  } else {
    for (const std::string& d : *tensors) out.push_back("checkpoint " + d);
  }
  const std::string ra = RecordFigures(straight + "/record.json"), rb = RecordFigures(killed + "/record.json");
  if (ra != rb) out.push_back(absl::StrCat("record.json: ", ra, "\n    vs ", rb));
  const std::string ma = MetricsLines(straight + "/metrics.jsonl"), mb = MetricsLines(killed + "/metrics.jsonl");
  if (ma != mb) out.push_back(absl::StrCat("metrics.jsonl:\n", ma, "    vs\n", mb));
  return out;
}

absl::Status Main(const char* argv0) {
  const bool harness = absl::GetFlag(FLAGS_harness);
  MOCO_ASSIGN_OR_RETURN(const std::string program,
                        FindProgram(argv0, harness ? "benchmarks/reproduce" : "moco/pretrain"));
  const std::string config = UserPath(absl::GetFlag(harness ? FLAGS_table_file : FLAGS_config));
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
                               kills_wanted, harness ? "the harness" : "a pretraining run", seed, seed, config, work);
  std::error_code ec;
  fs::remove_all(work, ec);
  fs::create_directories(work, ec);

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
    const std::vector<std::string> differences = harness ? CompareSweeps(straight, dir) : Compare(straight, dir);
    if (differences.empty()) {
      std::cout << absl::StrFormat("run %d: finished after %d attempt(s); checkpoint, record and metrics are "
                                   "bit-identical to the straight run\n",
                                   runs, attempt);
    } else {
      ++failures;
      std::cout << absl::StrFormat("run %d DIFFERS from the straight run:\n  %s\n", runs,
                                   absl::StrJoin(differences, "\n  "));
    }
  }
  std::cout << absl::StrFormat("kill_anywhere: %d kills over %d interrupted runs (seed %d): %s\n", kills, runs, seed,
                               failures == 0 ? "all bit-identical" : absl::StrCat(failures, " run(s) DIFFER"));
  if (failures > 0) return absl::DataLossError("an interrupted run did not reproduce the straight run");
  return absl::OkStatus();
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
