// Reproduces a table of the paper from real training runs: plans the sweep of
// configs/tables/<tier>/<table>.pbtxt, runs what has no result record yet (resuming an
// interrupted run from its checkpoint), and writes reports/<tier>/<table>.md with its plot.
//
//   bazel run //benchmarks:reproduce -- --table=queue_size --tier=smoke
//   bazel run //benchmarks:reproduce -- --table=all --tier=all --dry_run     # plans and time estimates
//   bazel run //benchmarks:reproduce -- --table=momentum --tier=cpu --max_runs=2   # a piece of a sweep
//   bazel run //benchmarks:reproduce -- --table=all --tier=cpu --jobs=2 --threads=1  # two runs at a time
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "benchmarks/harness/plan.h"
#include "benchmarks/harness/report.h"
#include "benchmarks/subprocess.h"
#include "configs/config.h"
#include "moco/common/files.h"
#include "moco/common/paths.h"
#include "configs/record.h"
#include "moco/common/status.h"
#include "moco/distributed/worker_launcher.h"
#include "moco/train/trainer.h"

ABSL_FLAG(std::string, table, "queue_size", "queue_size, momentum, shuffle_bn, or all.");
ABSL_FLAG(std::string, tier, "smoke", "smoke, cpu, gpu, paper, or all (all: only with --dry_run).");
ABSL_FLAG(std::string, table_file, "",
          "A table config (.pbtxt) to run instead of --table/--tier; its table and tier fields name the report.");
ABSL_FLAG(bool, dry_run, false, "Print the plan with an estimated time per run; run nothing.");
ABSL_FLAG(std::string, runs, "", "Comma-separated run names: run only these (others are planned, not run).");
ABSL_FLAG(int, max_runs, 0, "Run at most this many missing runs, then write the report (0: all).");
ABSL_FLAG(bool, report_only, false, "Write the report from the records there are; run nothing.");
ABSL_FLAG(int, threads, -1,
          "Intra-op threads per run (overrides run.threads; 0: one per core). With --jobs > 1 the default is "
          "the machine's cores divided by --jobs.");
ABSL_FLAG(int, jobs, 1,
          "Train this many runs at a time, each in its own process (small models use cores better as several "
          "single-threaded runs than as one multi-threaded run). Each run's results are the same as alone.");
ABSL_FLAG(std::string, job_config, "",
          "Internal, set by --jobs: train the run whose resolved config the sweep wrote to this file and write "
          "its record to --job_record; the sweep that started it plans, holds the reports lock and writes reports.");
ABSL_FLAG(std::string, job_record, "", "Internal, with --job_config: where the run's record goes.");
ABSL_FLAG(std::string, reports_dir, "", "Where records and reports go (default: <workspace>/reports).");
ABSL_FLAG(std::string, runs_dir, "", "Where run checkpoints go (default: <workspace>/runs/<tier>).");
ABSL_FLAG(std::string, metric, "knn_top1", "The record metric the tables report.");
ABSL_FLAG(int, nproc_per_node, 1,
          "Train each run with this many processes on this machine (the paper tier: 8 GPUs, shuffle BN across "
          "them). Every process plans the same sweep; rank 0 alone writes records and reports.");

namespace moco {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kTables = {"queue_size", "momentum", "shuffle_bn"};
const std::vector<std::string> kTiers = {"smoke", "cpu", "gpu", "paper"};

// Under several processes (--nproc_per_node or torchrun) only rank 0 writes.
bool Lead() {
  const char* rank = std::getenv("RANK");
  return rank == nullptr || std::string(rank) == "0";
}

std::string Workspace() {
  const char* workspace = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  return workspace != nullptr ? workspace : fs::current_path().string();
}

std::string Hms(double seconds) {
  const int64_t s = static_cast<int64_t>(std::max(0.0, seconds));
  return absl::StrFormat("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
}

// --table / --tier: every value for "all", else the one named.
std::vector<std::string> Expand(const std::string& value, const std::vector<std::string>& all) {
  if (value == "all") return all;
  return {value};
}

// Holds an exclusive lock on reports/<tier>/.lock for the life of the process, so that two
// invocations cannot write the same records at once.
class ReportsLock {
 public:
  absl::Status Acquire(const std::string& dir) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    path_ = (fs::path(dir) / ".lock").string();
    fd_ = open(path_.c_str(), O_RDWR | O_CREAT, 0644);
    if (fd_ < 0) return absl::PermissionDeniedError(absl::StrCat("cannot open lock file ", path_));
    if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      char holder[64] = {0};
      const ssize_t n = pread(fd_, holder, sizeof(holder) - 1, 0);
      return absl::UnavailableError(absl::StrCat(
          "another reproduce (pid ", n > 0 ? std::string(holder, n) : "unknown", ") is writing ", dir,
          "; wait for it to finish, or use another --reports_dir"));
    }
    const std::string pid = absl::StrCat(getpid());
    if (ftruncate(fd_, 0) != 0 || pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
      return absl::InternalError(absl::StrCat("cannot write ", path_));
    }
    return absl::OkStatus();
  }
  ~ReportsLock() {
    if (fd_ >= 0) close(fd_);
  }

 private:
  std::string path_;
  int fd_ = -1;
};

struct TableJob {
  std::string table_name;
  std::string tier;
  config::TableConfig table;
  std::string records_dir;
  std::string runs_dir;
  std::string report_dir;
  std::string file;  // --table_file, when the table came from one
};

// The job of configs/tables/<tier>/<table_name>.pbtxt, or of `file` when it is not empty.
absl::StatusOr<TableJob> MakeJob(const std::string& table_name, const std::string& tier, const std::string& file = "") {
  TableJob job;
  job.table_name = table_name;
  job.tier = tier;
  const std::string path = file.empty() ? absl::StrCat("configs/tables/", tier, "/", table_name, ".pbtxt") : file;
  MOCO_ASSIGN_OR_RETURN(job.table, LoadTable(path));
  if (!file.empty()) {
    job.file = file;
    job.table_name = job.table.table();
    job.tier = absl::AsciiStrToLower(config::Tier_Name(job.table.tier()));
  }
  const std::string& tier_dir = job.tier;
  const std::string reports =
      absl::GetFlag(FLAGS_reports_dir).empty() ? (fs::path(Workspace()) / "reports").string() : absl::GetFlag(FLAGS_reports_dir);
  job.report_dir = (fs::path(reports) / tier_dir).string();
  job.records_dir = (fs::path(job.report_dir) / "runs").string();
  job.runs_dir = absl::GetFlag(FLAGS_runs_dir).empty() ? (fs::path(Workspace()) / "runs" / tier_dir).string()
                                                       : absl::GetFlag(FLAGS_runs_dir);
  return job;
}

void PrintPlan(const TableJob& job, const std::vector<PlannedRun>& runs) {
  double total = 0, remaining = 0;
  int missing = 0;
  std::cout << absl::StrFormat("%s / %s: %d runs (%s)\n", job.tier, job.table_name, runs.size(),
                               job.table.title());
  for (const PlannedRun& run : runs) {
    const double seconds = EstimateSeconds(job.table, run, runs);
    total += seconds;
    if (run.state != RunState::kDone) {
      remaining += seconds;
      ++missing;
    }
    std::cout << absl::StrFormat("  %-28s %-7s %s  %s %s, %lld epochs x %lld images  hash %s\n", run.name,
                                 RunStateName(run.state), seconds > 0 ? Hms(seconds) : "  ?    ",
                                 run.state == RunState::kDone ? "took" : "est.", run.series_label,
                                 static_cast<long long>(run.config.optim().epochs()),
                                 static_cast<long long>(TrainImagesPerEpoch(run.config)), run.config_hash);
  }
  const int jobs = std::max(1, absl::GetFlag(FLAGS_jobs));
  std::cout << absl::StrFormat("  => %d to run, about %s left (%s for the whole table)%s\n", missing, Hms(remaining),
                               Hms(total),
                               jobs > 1 ? absl::StrFormat("; %d at a time: about %s", jobs, Hms(remaining / jobs)) : "");
}

absl::Status WriteReport(const TableJob& job) {
  MOCO_ASSIGN_OR_RETURN(std::vector<PlannedRun> runs, PlanTable(job.table, job.records_dir, job.runs_dir));
  const std::string metric = absl::GetFlag(FLAGS_metric);
  const std::vector<Cell> cells = Aggregate(runs, metric);
  const std::vector<Finding> findings = CheckFindings(job.table, cells);
  const std::string png = absl::StrCat(job.table_name, ".png");
  const absl::Status plotted = WritePlot(job.table, cells, metric, (fs::path(job.report_dir) / png).string());
  if (!plotted.ok()) std::cerr << "reproduce: no plot: " << plotted.message() << "\n";
  const std::string md = RenderReport(job.table, runs, cells, findings, metric, plotted.ok() ? png : "");
  const std::string md_path = (fs::path(job.report_dir) / (job.table_name + ".md")).string();
  MOCO_RETURN_IF_ERROR(WriteFileAtomic(md_path, md));
  std::cout << "reproduce: wrote " << md_path << "\n";
  for (const Finding& f : findings) std::cout << "  [" << VerdictName(f.verdict) << "] " << f.claim << "\n";
  return absl::OkStatus();
}

// reports/README.md: every report there is, with how it was made.
absl::Status WriteIndex(const std::string& reports_dir) {
  std::string md =
      "# Reports\n\nEvery file here is generated; no number is typed in by hand. Each table report is written by\n"
      "`bazel run //benchmarks:reproduce -- --table=<table> --tier=<tier>` from the result records in\n"
      "`<tier>/runs/` (one JSON record per training run: metrics, the config and its hash, git commit,\n"
      "LibTorch version, device, threads, wall time, seed) and its table config in\n"
      "`configs/tables/<tier>/` (titles, published numbers with their source, notes). A run whose record\n"
      "exists is not run again unless its config changes. Published numbers appear only in sections\n"
      "labelled published.\n\n"
      "| tier | report | runs done |\n| --- | --- | --- |\n";
  for (const std::string& tier : kTiers) {
    // The smoke tier's reports are scratch (CI's regression writes them; .gitignore keeps them out).
    if (tier == "smoke") continue;
    for (const std::string& table : kTables) {
      const fs::path report = fs::path(reports_dir) / tier / (table + ".md");
      if (!fs::exists(report)) continue;
      auto job = MakeJob(table, tier);
      std::string done = "?";
      if (job.ok()) {
        auto runs = PlanTable(job->table, job->records_dir, job->runs_dir);
        if (runs.ok()) {
          int n = 0;
          for (const auto& r : *runs) n += r.state == RunState::kDone;
          done = absl::StrCat(n, " / ", runs->size());
        }
      }
      absl::StrAppend(&md, "| ", tier, " | [", table, "](", tier, "/", table, ".md) | ", done, " |\n");
    }
  }
  if (fs::exists(fs::path(reports_dir) / "benchmarks.md")) {
    absl::StrAppend(&md, "\nThroughput and micro-benchmarks: [benchmarks.md](benchmarks.md) (`bazel run //benchmarks:report`).\n");
  }
  return WriteFileAtomic((fs::path(reports_dir) / "README.md").string(), md);
}

// Trains one run and writes its record; a run stopped by a non-finite loss gets a record that
// says it diverged (that is a result, e.g. for m = 0), any other failure stops the sweep.
absl::Status RunOne(const PlannedRun& run) {
  config::ExperimentConfig config = run.config;
  if (absl::GetFlag(FLAGS_threads) >= 0) config.mutable_run()->set_threads(absl::GetFlag(FLAGS_threads));
  TrainOptions options;
  options.resume = true;
  options.log = Lead() ? &std::cout : nullptr;
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<TrainResult> result = Train(config, options);
  config::RunRecord record;
  if (result.ok()) {
    record = result->record;
    if (!result->finished) return absl::InternalError(absl::StrCat(run.name, " stopped before its last epoch"));
  } else if (absl::IsDataLoss(result.status())) {
    record.set_kind("pretrain");
    record.set_config(ToText(Resolve(config)));
    record.set_config_hash(ConfigHash(ConfigIdentity(config)));
    record.set_seed(static_cast<int64_t>(run.seed));
    (*record.mutable_metrics())["diverged"] = 1;
    (*record.mutable_metrics())["loss"] = std::numeric_limits<double>::quiet_NaN();
    record.set_wall_seconds(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    record.set_note(std::string(result.status().message()));
    FillProvenance(&record);
    std::cout << "reproduce: " << run.name << " diverged: " << result.status().message() << "\n";
  } else {
    return absl::Status(result.status().code(), absl::StrCat(run.name, ": ", result.status().message()));
  }
  record.set_name(run.name);
  if (record.config_hash() != run.config_hash) {
    return absl::InternalError(absl::StrCat(run.name, ": the trainer's config hash ", record.config_hash(),
                                            " differs from the plan's ", run.config_hash));
  }
  if (!Lead()) return absl::OkStatus();
  return WriteRecord(run.record_path, record);
}

// The intra-op threads of one run: --threads, or with --jobs > 1 the cores shared out; -1 keeps
// the config's run.threads.
int ThreadsPerRun() {
  const int jobs = std::max(1, absl::GetFlag(FLAGS_jobs));
  if (absl::GetFlag(FLAGS_threads) >= 0 || jobs == 1) return absl::GetFlag(FLAGS_threads);
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / jobs);
}

// Starts this binary as a worker that trains `run` and writes its record. The worker is given
// the run's config as planned here, so it reads no table or base config of its own: configs
// edited while a sweep runs change none of its runs.
absl::StatusOr<int> StartWorker(const PlannedRun& run) {
  const fs::path dir = run.config.run().output_dir();
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string config_path = (dir / "sweep_config.pbtxt").string();
  MOCO_RETURN_IF_ERROR(WriteFileAtomic(config_path, ToText(run.config)));
  return StartProcess({fs::read_symlink("/proc/self/exe").string(), absl::StrCat("--job_config=", config_path),
                       absl::StrCat("--job_record=", run.record_path), absl::StrCat("--threads=", ThreadsPerRun())});
}

// The worker's side of StartWorker: trains one run and writes its record.
absl::Status RunJob(const std::string& config_path, const std::string& record_path) {
  PlannedRun run;
  MOCO_ASSIGN_OR_RETURN(run.config, LoadConfig(config_path));
  run.name = fs::path(record_path).stem().string();
  run.seed = run.config.run().seed();
  run.config_hash = ConfigHash(ConfigIdentity(run.config));
  run.record_path = record_path;
  return RunOne(run);
}

absl::Status RunTable(TableJob& job) {
  const bool writes_reports = Lead();
  ReportsLock lock;
  if (writes_reports) MOCO_RETURN_IF_ERROR(lock.Acquire(job.report_dir));
  std::set<std::string> ran_here;  // other ranks do not wait for rank 0's records to appear
  const std::string only_flag = absl::GetFlag(FLAGS_runs);
  std::set<std::string> only;
  for (absl::string_view name : absl::StrSplit(only_flag, ',', absl::SkipEmpty())) only.insert(std::string(name));
  const int max_runs = absl::GetFlag(FLAGS_max_runs);
  const int jobs = std::max(1, absl::GetFlag(FLAGS_jobs));
  std::map<int, PlannedRun> workers;  // pid -> its run, with --jobs > 1
  absl::Status failed;                 // the first worker that failed; no new run starts after it
  bool planned = false;
  int ran = 0;
  const auto sweep_start = std::chrono::steady_clock::now();
  while (!absl::GetFlag(FLAGS_report_only)) {
    // Re-plan before every run: a finished run may complete another point of this table.
    MOCO_ASSIGN_OR_RETURN(std::vector<PlannedRun> runs, PlanTable(job.table, job.records_dir, job.runs_dir));
    std::vector<const PlannedRun*> todo;
    for (const PlannedRun& run : runs) {
      if (run.state != RunState::kDone && !ran_here.count(run.name) && (only.empty() || only.count(run.name))) {
        bool in_flight = false;
        for (const auto& [pid, started] : workers) in_flight |= (started.name == run.name);
        if (!in_flight) todo.push_back(&run);
      }
    }
    if (!planned) {
      planned = true;
      if (todo.empty()) {
        std::cout << absl::StrFormat("reproduce: %s / %s: every selected run has a record; nothing to run\n",
                                     job.tier, job.table_name);
      } else {
        PrintPlan(job, runs);
      }
    }
    const bool may_start = !todo.empty() && failed.ok() &&
                           !(max_runs > 0 && ran + static_cast<int>(workers.size()) >= max_runs);
    if (may_start && static_cast<int>(workers.size()) < jobs) {
      double left = 0;
      for (const PlannedRun* run : todo) left += EstimateSeconds(job.table, *run, runs);
      const PlannedRun& next = *todo.front();
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - sweep_start).count();
      std::cout << absl::StrFormat("\nreproduce: [%s / %s] run %s (%d left, about %s; %s elapsed)\n", job.tier,
                                   job.table_name, next.name, todo.size(),
                                   Hms(left / std::min<int>(jobs, todo.size())), Hms(elapsed));
      std::cout.flush();
      if (jobs == 1) {
        MOCO_RETURN_IF_ERROR(RunOne(next));
        ran_here.insert(next.name);
        ++ran;
        if (writes_reports) MOCO_RETURN_IF_ERROR(WriteReport(job));  // progress shows in the report as runs finish
      } else {
        MOCO_ASSIGN_OR_RETURN(const int pid, StartWorker(next));
        workers[pid] = next;
      }
      continue;
    }
    if (workers.empty()) break;
    // Wait for a worker to finish; its record is on disk when it exits with 0.
    bool reaped = false;
    while (!reaped) {
      for (auto it = workers.begin(); it != workers.end() && !reaped; ++it) {
        MOCO_ASSIGN_OR_RETURN(const std::optional<int> code, WaitProcessFor(it->first, absl::ZeroDuration()));
        if (!code.has_value()) continue;
        reaped = true;
        const PlannedRun& run = it->second;
        ran_here.insert(run.name);
        ++ran;
        absl::Status status;
        if (*code != 0) {
          status = absl::InternalError(absl::StrCat(run.name, " failed (exit status ", *code, "; its error is above)"));
        } else if (absl::StatusOr<config::RunRecord> record = ReadRecord(run.record_path); !record.ok()) {
          status = record.status();
        } else if (record->config_hash() != run.config_hash) {
          status = absl::InternalError(absl::StrCat(run.record_path, ": config hash ", record->config_hash(),
                                                    " differs from the plan's ", run.config_hash));
        }
        if (!status.ok() && failed.ok()) {
          failed = absl::Status(status.code(),
                                absl::StrCat(status.message(), "; the runs already going were finished"));
        }
        workers.erase(it);
      }
      if (!reaped) absl::SleepFor(absl::Seconds(1));
    }
    if (writes_reports) MOCO_RETURN_IF_ERROR(WriteReport(job));
  }
  if (writes_reports && ran == 0) MOCO_RETURN_IF_ERROR(WriteReport(job));  // otherwise written after each run
  return failed;
}

int Main() {
  const std::string tier_flag = absl::AsciiStrToLower(absl::GetFlag(FLAGS_tier));
  const std::string table_flag = absl::GetFlag(FLAGS_table);
  const bool dry = absl::GetFlag(FLAGS_dry_run);
  if (tier_flag == "all" && !dry) {
    std::cerr << "reproduce: error: --tier=all is only for --dry_run; name one tier to run\n";
    return 1;
  }
  auto check = [](const std::string& value, const std::vector<std::string>& allowed, const char* flag) {
    if (value == "all" || std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return true;
    std::cerr << "reproduce: error: --" << flag << "=" << value << " is not one of " << absl::StrJoin(allowed, ", ")
              << ", all\n";
    return false;
  };
  const std::string table_file = absl::GetFlag(FLAGS_table_file).empty() ? "" : UserPath(absl::GetFlag(FLAGS_table_file));
  if (!check(tier_flag, kTiers, "tier") || !check(table_flag, kTables, "table")) return 1;
  const std::vector<std::string> tiers = table_file.empty() ? Expand(tier_flag, kTiers) : std::vector<std::string>{""};
  const std::vector<std::string> tables =
      table_file.empty() ? Expand(table_flag, kTables) : std::vector<std::string>{""};
  for (const std::string& tier : tiers) {
    for (const std::string& table : tables) {
      absl::StatusOr<TableJob> job = MakeJob(table, tier, table_file);
      if (!job.ok()) {
        std::cerr << "reproduce: error: " << job.status().message() << "\n";
        return 1;
      }
      absl::Status status;
      if (dry) {
        absl::StatusOr<std::vector<PlannedRun>> runs = PlanTable(job->table, job->records_dir, job->runs_dir);
        if (!runs.ok()) {
          status = runs.status();
        } else {
          PrintPlan(*job, *runs);
        }
      } else {
        status = RunTable(*job);
      }
      if (!status.ok()) {
        std::cerr << "reproduce: error: " << status.message() << "\n";
        return 1;
      }
    }
  }
  if (!dry && Lead()) {
    const std::string reports = absl::GetFlag(FLAGS_reports_dir).empty() ? (fs::path(Workspace()) / "reports").string()
                                                                         : absl::GetFlag(FLAGS_reports_dir);
    if (absl::Status s = WriteIndex(reports); !s.ok()) {
      std::cerr << "reproduce: error: " << s.message() << "\n";
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace moco

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Reproduces the paper's queue-size table (Figure 3), momentum table and shuffle-BN ablation from\n"
      "real training runs: plans the sweep of configs/tables/<tier>/<table>.pbtxt, runs every run that\n"
      "has no result record in reports/<tier>/runs/ (resuming interrupted ones from runs/<tier>/), and\n"
      "writes reports/<tier>/<table>.md with a plot and the paper's findings checked.\n"
      "Usage: reproduce --table=queue_size|momentum|shuffle_bn|all --tier=smoke|cpu|gpu|paper\n"
      "                 [--dry_run] [--max_runs=N] [--runs=NAME,...] [--report_only] [--threads=N] [--jobs=N]");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  moco::PinGitCommit();  // records name the commit this run started from
  if (absl::GetFlag(FLAGS_job_config).empty() != absl::GetFlag(FLAGS_job_record).empty()) {
    std::cerr << "reproduce: error: --job_config and --job_record go together (they are set by a sweep for its "
                 "workers)\n";
    return 1;
  }
  if (!absl::GetFlag(FLAGS_job_config).empty()) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // a worker ends with the sweep that started it
    const absl::Status status = moco::RunJob(absl::GetFlag(FLAGS_job_config), absl::GetFlag(FLAGS_job_record));
    if (!status.ok()) std::cerr << "reproduce: error: " << status.message() << "\n";
    return status.ok() ? 0 : 1;
  }
  if (absl::GetFlag(FLAGS_jobs) > 1 && absl::GetFlag(FLAGS_nproc_per_node) > 1) {
    std::cerr << "reproduce: error: --jobs > 1 trains several single-process runs at once; it does not combine "
                 "with --nproc_per_node > 1\n";
    return 1;
  }
  if (rest.size() > 1) {
    std::cerr << "reproduce: error: unexpected argument '" << rest[1] << "'\n";
    return 1;
  }
  const int nproc = absl::GetFlag(FLAGS_nproc_per_node);
  if (nproc > 1 && std::getenv("RANK") == nullptr && !absl::GetFlag(FLAGS_dry_run)) {
    // Run this same command as `nproc` workers that train every run together.
    std::vector<std::string> worker_argv = {std::filesystem::read_symlink("/proc/self/exe").string()};
    for (int i = 1; i < argc; ++i) worker_argv.push_back(argv[i]);
    worker_argv.push_back("--nproc_per_node=1");
    const absl::Status status = moco::LaunchWorkers(nproc, worker_argv);
    if (!status.ok()) std::cerr << "reproduce: error: " << status.message() << "\n";
    return status.ok() ? 0 : 1;
  }
  return moco::Main();
}
