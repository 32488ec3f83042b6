#include "benchmarks/harness/sweep.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmarks/harness/curve_report.h"
#include "benchmarks/harness/markdown.h"
#include "benchmarks/harness/report.h"
#include "moco/common/subprocess.h"
#include "configs/config.h"
#include "configs/record.h"
#include "moco/common/duration.h"
#include "moco/common/files.h"
#include "moco/common/status.h"

namespace moco {
namespace {

namespace fs = std::filesystem;

// "h:mm:ss" always (plan columns line up); ClockText drops the hours below one.
std::string Hms(double seconds) {
  const int64_t s = static_cast<int64_t>(std::max(0.0, seconds));
  return absl::StrFormat("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
}

// --table / --tier: every value for "all", else the one named.
std::vector<std::string> Expand(const std::string& value, const std::vector<std::string>& all) {
  if (value == "all") return all;
  return {value};
}

std::string ReportsDir(const SweepOptions& options) {
  return options.reports_dir.empty() ? (fs::path(WorkspaceDir()) / "reports").string() : options.reports_dir;
}

struct TableJob {
  std::string table_name;
  std::string tier;
  config::TableConfig table;
  std::string records_dir;
  std::string runs_dir;
  std::string report_dir;
};

// The job of configs/tables/<tier>/<table_name>.pbtxt, or of `file` when it is not empty.
absl::StatusOr<TableJob> MakeJob(const std::string& table_name, const std::string& tier, const std::string& file,
                                 const SweepOptions& options) {
  TableJob job;
  job.table_name = table_name;
  job.tier = tier;
  const std::string path = file.empty() ? absl::StrCat("configs/tables/", tier, "/", table_name, ".pbtxt") : file;
  MOCO_ASSIGN_OR_RETURN(job.table, LoadTable(path));
  if (!file.empty()) {
    job.table_name = job.table.table();
    job.tier = absl::AsciiStrToLower(config::Tier_Name(job.table.tier()));
  }
  job.report_dir = (fs::path(ReportsDir(options)) / job.tier).string();
  job.records_dir = (fs::path(job.report_dir) / "runs").string();
  job.runs_dir =
      options.runs_dir.empty() ? (fs::path(WorkspaceDir()) / "runs" / job.tier).string() : options.runs_dir;
  return job;
}

absl::Status WriteReport(const TableJob& job, const std::string& metric) {
  MOCO_ASSIGN_OR_RETURN(std::vector<PlannedRun> runs, PlanTable(job.table, job.records_dir, job.runs_dir));
  const std::vector<Cell> cells = Aggregate(runs, metric);
  std::vector<Finding> findings = CheckFindings(job.table, cells);
  std::string curve_section;  // a table with a published curve: ours beside it, epoch by epoch
  if (job.table.has_published_curve()) {
    MOCO_ASSIGN_OR_RETURN(const std::vector<PublishedEpoch> published,
                          ReadPublishedCurve(job.table.published_curve().file()));
    const CurveComparison comparison = CompareCurves(runs, published);
    for (Finding& f : CurveFindings(job.table, comparison)) findings.push_back(std::move(f));
    std::string curve_png = absl::StrCat(job.table_name, "_curve.png");
    const absl::Status drawn =
        WriteCurvePlot(job.table, comparison, published, (fs::path(job.report_dir) / curve_png).string());
    if (!drawn.ok()) {
      std::cerr << "reproduce: no curve plot: " << drawn.message() << "\n";
      curve_png.clear();
    }
    curve_section = RenderCurveSection(job.table, comparison, curve_png);
  }
  const std::string png = absl::StrCat(job.table_name, ".png");
  const absl::Status plotted = WritePlot(job.table, cells, metric, (fs::path(job.report_dir) / png).string());
  if (!plotted.ok()) std::cerr << "reproduce: no plot: " << plotted.message() << "\n";
  std::string gap_png;
  if (job.table.gaps_size() > 0) {
    gap_png = absl::StrCat(job.table_name, "_gaps.png");
    const absl::Status gaps = WriteGapPlot(job.table, cells, metric, (fs::path(job.report_dir) / gap_png).string());
    if (!gaps.ok()) {
      std::cerr << "reproduce: no gap plot: " << gaps.message() << "\n";
      gap_png.clear();
    }
  }
  const std::string md =
      RenderReport(job.table, runs, cells, findings, metric, plotted.ok() ? png : "", gap_png, curve_section);
  const std::string md_path = (fs::path(job.report_dir) / (job.table_name + ".md")).string();
  MOCO_RETURN_IF_ERROR(WriteFileAtomic(md_path, md));
  std::cout << "reproduce: wrote " << md_path << "\n";
  for (const Finding& f : findings) std::cout << "  [" << VerdictName(f.verdict) << "] " << f.claim << "\n";
  return absl::OkStatus();
}

// reports/README.md: every report there is, with how it was made.
absl::Status WriteIndex(const SweepOptions& options) {
  const std::string reports_dir = ReportsDir(options);
  std::vector<IndexEntry> entries;
  for (const std::string& tier : SweepTiers()) {
    // The smoke tier's reports are scratch (CI's regression writes them; .gitignore keeps them out).
    if (tier == "smoke") continue;
    for (const std::string& table : SweepTables()) {
      if (!fs::exists(fs::path(reports_dir) / tier / (table + ".md"))) continue;
      IndexEntry entry{tier, table, "?"};
      if (absl::StatusOr<TableJob> job = MakeJob(table, tier, "", options); job.ok()) {
        if (auto runs = PlanTable(job->table, job->records_dir, job->runs_dir); runs.ok()) {
          const auto done = std::count_if(runs->begin(), runs->end(),
                                          [](const PlannedRun& r) { return r.state == RunState::kDone; });
          entry.runs_done = absl::StrCat(done, " / ", runs->size());
        }
      }
      entries.push_back(entry);
    }
  }
  const bool benchmarks = fs::exists(fs::path(reports_dir) / "benchmarks.md");
  return WriteFileAtomic((fs::path(reports_dir) / "README.md").string(), RenderIndex(entries, benchmarks));
}

// Starts the worker that trains `run` and writes its record. The worker is given the run's
// config as planned here, so it reads no table or base config of its own.
absl::StatusOr<int> StartWorker(const PlannedRun& run, const SweepOptions& options) {
  const fs::path dir = run.config.run().output_dir();
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string config_path = (dir / "sweep_config.pbtxt").string();
  MOCO_RETURN_IF_ERROR(WriteFileAtomic(config_path, ToText(run.config)));
  return StartProcess({options.worker_program, absl::StrCat("--job_config=", config_path),
                       absl::StrCat("--job_record=", run.record_path),
                       absl::StrCat("--threads=", ThreadsPerRun(options))});
}

// A finished worker's outcome: its record on disk with the planned hash when it exited with 0.
absl::Status WorkerOutcome(const PlannedRun& run, int exit_code) {
  if (exit_code != 0) {
    return absl::InternalError(absl::StrCat(run.name, " failed (exit status ", exit_code, "; its error is above)"));
  }
  MOCO_ASSIGN_OR_RETURN(config::RunRecord record, ReadRecord(run.record_path));
  if (record.config_hash() != run.config_hash) {
    return absl::InternalError(absl::StrCat(run.record_path, ": config hash ", record.config_hash(),
                                            " differs from the plan's ", run.config_hash));
  }
  return absl::OkStatus();
}

// The runs that may start now, in plan order: not done, not run or running here, selected by
// --only, and whose earlier piece is done.
std::vector<const PlannedRun*> RunsToStart(const std::vector<PlannedRun>& runs, const std::set<std::string>& ran_here,
                                           const std::map<int, PlannedRun>& workers, const SweepOptions& options) {
  std::set<std::string> done;
  for (const PlannedRun& run : runs) {
    if (run.state == RunState::kDone) done.insert(run.name);
  }
  std::vector<const PlannedRun*> todo;
  for (const PlannedRun& run : runs) {
    if (run.state == RunState::kDone || ran_here.count(run.name)) continue;
    if (!options.only.empty() && !options.only.count(run.name)) continue;
    if (!run.continues.empty() && !done.count(run.continues) && !ran_here.count(run.continues)) continue;
    bool in_flight = false;
    for (const auto& [pid, started] : workers) in_flight |= (started.name == run.name);
    if (!in_flight) todo.push_back(&run);
  }
  return todo;
}

absl::Status RunTable(const TableJob& job, const SweepOptions& options) {
  const bool writes_reports = options.lead;
  ReportsLock lock;
  if (writes_reports) MOCO_RETURN_IF_ERROR(lock.Acquire(job.report_dir));
  std::set<std::string> ran_here;  // other ranks do not wait for rank 0's records to appear
  const int jobs = std::max(1, options.jobs);
  std::map<int, PlannedRun> workers;  // pid -> its run, with jobs > 1
  absl::Status failed;                 // the first worker that failed; no new run starts after it
  bool planned = false;
  int ran = 0;
  const auto sweep_start = std::chrono::steady_clock::now();
  while (!options.report_only) {
    // Re-plan before every run: a finished run may complete another point of this table.
    MOCO_ASSIGN_OR_RETURN(std::vector<PlannedRun> runs, PlanTable(job.table, job.records_dir, job.runs_dir));
    const std::vector<const PlannedRun*> todo = RunsToStart(runs, ran_here, workers, options);
    if (!planned) {
      planned = true;
      if (todo.empty()) {
        std::cout << absl::StrFormat("reproduce: %s / %s: every selected run has a record; nothing to run\n",
                                     job.tier, job.table_name);
      } else {
        PrintPlan(job.table, job.tier, job.table_name, runs, jobs, std::cout);
      }
    }
    const bool may_start = !todo.empty() && failed.ok() &&
                           !(options.max_runs > 0 && ran + static_cast<int>(workers.size()) >= options.max_runs);
    if (may_start && static_cast<int>(workers.size()) < jobs) {
      double left = 0;
      for (const PlannedRun* run : todo) left += EstimateSeconds(job.table, *run, runs);
      const PlannedRun& next = *todo.front();
      std::cout << absl::StrFormat("\nreproduce: [%s / %s] run %s (%d left, about %s; %s elapsed)\n", job.tier,
                                   job.table_name, next.name, todo.size(),
                                   Hms(left / std::min<int>(jobs, todo.size())), Hms(SecondsSince(sweep_start)));
      std::cout.flush();
      if (jobs == 1) {
        MOCO_RETURN_IF_ERROR(options.train(next));
        ran_here.insert(next.name);
        ++ran;
        if (writes_reports) MOCO_RETURN_IF_ERROR(WriteReport(job, options.metric));  // progress shows as runs finish
      } else {
        MOCO_ASSIGN_OR_RETURN(const int pid, StartWorker(next, options));
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
        const absl::Status status = WorkerOutcome(run, *code);
        if (!status.ok() && failed.ok()) {
          failed = absl::Status(status.code(),
                                absl::StrCat(status.message(), "; the runs already going were finished"));
        }
        workers.erase(it);
      }
      if (!reaped) absl::SleepFor(absl::Seconds(1));
    }
    if (writes_reports) MOCO_RETURN_IF_ERROR(WriteReport(job, options.metric));
  }
  if (writes_reports && ran == 0) MOCO_RETURN_IF_ERROR(WriteReport(job, options.metric));  // else after each run
  return failed;
}

absl::Status CheckNamed(const std::string& value, const std::vector<std::string>& allowed, const char* flag) {
  if (value == "all" || std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, "=", value, " is not one of ", absl::StrJoin(allowed, ", "), ", all"));
}

}  // namespace

const std::vector<std::string>& SweepTables() {
  static const auto* tables =
      new std::vector<std::string>{"queue_size", "momentum", "shuffle_bn", "length", "precision", "notebook"};
  return *tables;
}

const std::vector<std::string>& SweepTiers() {
  static const auto* tiers = new std::vector<std::string>{"smoke", "cpu", "gpu", "paper"};
  return *tiers;
}

absl::Status ReportsLock::Acquire(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  path_ = (fs::path(dir) / ".lock").string();
  fd_ = open(path_.c_str(), O_RDWR | O_CREAT, 0644);
  if (fd_ < 0) return absl::PermissionDeniedError(absl::StrCat("cannot open lock file ", path_));
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char holder[64] = {0};
    const ssize_t n = pread(fd_, holder, sizeof(holder) - 1, 0);
    return absl::UnavailableError(absl::StrCat("another reproduce (pid ", n > 0 ? std::string(holder, n) : "unknown",
                                               ") is writing ", dir,
                                               "; wait for it to finish, or use another --reports_dir"));
  }
  const std::string pid = absl::StrCat(getpid());
  if (ftruncate(fd_, 0) != 0 || pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
    return absl::InternalError(absl::StrCat("cannot write ", path_));
  }
  return absl::OkStatus();
}

ReportsLock::~ReportsLock() {
  if (fd_ >= 0) close(fd_);
}

int ThreadsPerRun(const SweepOptions& options) {
  const int jobs = std::max(1, options.jobs);
  if (options.threads >= 0 || jobs == 1) return options.threads;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / jobs);
}

absl::StatusOr<PlannedRun> LoadJobRun(const std::string& config_path, const std::string& record_path) {
  PlannedRun run;
  MOCO_ASSIGN_OR_RETURN(run.config, LoadConfig(config_path));
  run.name = fs::path(record_path).stem().string();
  run.seed = run.config.run().seed();
  run.config_hash = ConfigHash(ConfigIdentity(run.config));
  run.record_path = record_path;
  return run;
}

void PrintPlan(const config::TableConfig& table, const std::string& tier, const std::string& table_name,
               const std::vector<PlannedRun>& runs, int jobs, std::ostream& out) {
  double total = 0, remaining = 0;
  int missing = 0;
  out << absl::StrFormat("%s / %s: %d runs (%s)\n", tier, table_name, runs.size(), table.title());
  for (const PlannedRun& run : runs) {
    const double seconds = EstimateSeconds(table, run, runs);
    total += seconds;
    if (run.state != RunState::kDone) {
      remaining += seconds;
      ++missing;
    }
    out << absl::StrFormat("  %-28s %-7s %s  %s %s, %lld epochs x %lld images  hash %s\n", run.name,
                           RunStateName(run.state), seconds > 0 ? Hms(seconds) : "  ?    ",
                           run.state == RunState::kDone ? "took" : "est.", run.series_label,
                           static_cast<long long>(run.config.run().stop_after_epochs() > 0
                                                      ? run.config.run().stop_after_epochs()
                                                      : run.config.optim().epochs()),
                           static_cast<long long>(TrainImagesPerEpoch(run.config)), run.config_hash);
  }
  jobs = std::max(1, jobs);
  out << absl::StrFormat("  => %d to run, about %s left (%s for the whole table)%s\n", missing, Hms(remaining),
                         Hms(total),
                         jobs > 1 ? absl::StrFormat("; %d at a time: about %s", jobs, Hms(remaining / jobs)) : "");
}

std::string RenderIndex(const std::vector<IndexEntry>& entries, bool benchmarks_report) {
  std::string md =
      "# Reports\n\nEvery file here is generated; no number is typed in by hand. Each table report is written by\n"
      "`bazel run //benchmarks:reproduce -- --table=<table> --tier=<tier>` from the result records in\n"
      "`<tier>/runs/` (one JSON record per training run: metrics, the config and its hash, git commit,\n"
      "LibTorch version, device, threads, wall time, seed) and its table config in\n"
      "`configs/tables/<tier>/` (titles, published numbers with their source, notes). A run whose record\n"
      "exists is not run again unless its config changes. Published numbers appear only in sections\n"
      "labelled published.\n\n";
  MarkdownTable table({"tier", "report", "runs done"});
  for (const IndexEntry& e : entries) {
    table.AddRow({e.tier, absl::StrCat("[", e.table, "](", e.tier, "/", e.table, ".md)"), e.runs_done});
  }
  absl::StrAppend(&md, table.Render());
  if (benchmarks_report) {
    absl::StrAppend(&md,
                    "\nThroughput and micro-benchmarks: [benchmarks.md](benchmarks.md) (`bazel run "
                    "//benchmarks:report`).\n");
  }
  return md;
}

absl::Status Reproduce(const SweepRequest& request, const SweepOptions& options) {
  const std::string tier_flag = absl::AsciiStrToLower(request.tier);
  if (tier_flag == "all" && !request.dry_run) {
    return absl::InvalidArgumentError("--tier=all is only for --dry_run; name one tier to run");
  }
  MOCO_RETURN_IF_ERROR(CheckNamed(tier_flag, SweepTiers(), "tier"));
  MOCO_RETURN_IF_ERROR(CheckNamed(request.table, SweepTables(), "table"));
  const bool from_file = !request.table_file.empty();
  const std::vector<std::string> tiers = from_file ? std::vector<std::string>{""} : Expand(tier_flag, SweepTiers());
  const std::vector<std::string> tables =
      from_file ? std::vector<std::string>{""} : Expand(request.table, SweepTables());
  for (const std::string& tier : tiers) {
    for (const std::string& table : tables) {
      // Not every tier has every table (the training-length and precision studies are not the paper's).
      if (request.table == "all" && !from_file &&
          !fs::exists(absl::StrCat("configs/tables/", tier, "/", table, ".pbtxt"))) {
        continue;
      }
      MOCO_ASSIGN_OR_RETURN(const TableJob job, MakeJob(table, tier, request.table_file, options));
      if (request.dry_run) {
        MOCO_ASSIGN_OR_RETURN(std::vector<PlannedRun> runs, PlanTable(job.table, job.records_dir, job.runs_dir));
        PrintPlan(job.table, job.tier, job.table_name, runs, options.jobs, std::cout);
      } else {
        MOCO_RETURN_IF_ERROR(RunTable(job, options));
      }
    }
  }
  if (!request.dry_run && options.lead) MOCO_RETURN_IF_ERROR(WriteIndex(options));
  return absl::OkStatus();
}

}  // namespace moco
