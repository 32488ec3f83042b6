// Running a table's sweep and writing its reports (what //benchmarks:reproduce does): plan
// configs/tables/<tier>/<table>.pbtxt (plan.h), hold reports/<tier>/.lock, train every selected
// run that has no record yet (one at a time, or --jobs at a time as worker processes of the same
// binary), rewrite reports/<tier>/<table>.md and its plot after each run (report.h), and list
// every report in reports/README.md. Training itself is the caller's `train` function, so this
// library links no LibTorch.
//
//   SweepOptions options;
//   options.reports_dir = "reports";
//   options.jobs = 2;
//   options.worker_program = "/proc/self/exe";  // run with --job_config, --job_record, --threads
//   options.train = [](const PlannedRun& run) { return TrainPlannedRun(run, -1, true); };
//   SweepRequest request;
//   request.table = "queue_size";
//   request.tier = "cpu";
//   MOCO_RETURN_IF_ERROR(Reproduce(request, options));
//
// A worker (the binary started with --job_config=F --job_record=R) trains one run:
//   MOCO_ASSIGN_OR_RETURN(PlannedRun run, LoadJobRun(F, R));  then train(run)
#ifndef MOCO_BENCHMARKS_HARNESS_SWEEP_H_
#define MOCO_BENCHMARKS_HARNESS_SWEEP_H_

#include <functional>
#include <iosfwd>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "benchmarks/harness/plan.h"
#include "configs/table.pb.h"

namespace moco {

// The tables and tiers of configs/tables/<tier>/<table>.pbtxt, in report order.
const std::vector<std::string>& SweepTables();  // queue_size, momentum, shuffle_bn, length, precision, notebook
const std::vector<std::string>& SweepTiers();   // smoke, cpu, gpu, paper

struct SweepOptions {
  std::string reports_dir;  // records and reports: <reports_dir>/<tier>/runs/, <tier>/<table>.md
  std::string runs_dir;     // checkpoints (<runs_dir>/<run>/); empty: <workspace>/runs/<tier>
  std::string metric = "knn_top1";  // the record metric the tables report
  std::set<std::string> only;       // run only these runs (the others are planned, not run); empty: all
  int max_runs = 0;                 // run at most this many missing runs (0: all)
  int jobs = 1;                     // runs trained at a time, each in a worker process when > 1
  int threads = -1;                 // intra-op threads per run; -1: the config's (shared out with jobs > 1)
  bool report_only = false;         // write the reports from the records there are; run nothing
  bool lead = true;                 // rank 0: holds the lock and writes records and reports
  std::string worker_program;       // started as a worker (jobs > 1): --job_config, --job_record, --threads
  // Trains one run and writes its record (with jobs == 1; a worker calls it too). An error stops
  // the sweep (a run that diverged is a record, not an error).
  std::function<absl::Status(const PlannedRun&)> train;
};

// What to reproduce: --table/--tier (each may be "all"), or a table file whose table and tier
// fields name the report.
struct SweepRequest {
  std::string table = "queue_size";
  std::string tier = "smoke";
  std::string table_file;  // instead of table/tier
  bool dry_run = false;    // print the plan with an estimated time per run; run nothing (tier may be all)
};

// The whole command: for each table and tier the plan (dry_run) or the sweep, then (lead, not
// dry_run) reports/README.md. InvalidArgument for an unknown table or tier, or --tier=all without
// dry_run.
absl::Status Reproduce(const SweepRequest& request, const SweepOptions& options);

// Holds an exclusive lock on <dir>/.lock for its lifetime, so that two invocations cannot write
// the same records at once; the file holds the holder's pid.
class ReportsLock {
 public:
  ReportsLock() = default;
  ReportsLock(const ReportsLock&) = delete;
  ReportsLock& operator=(const ReportsLock&) = delete;
  ~ReportsLock();
  // Unavailable, naming the holder's pid, when another holds it.
  absl::Status Acquire(const std::string& dir);

 private:
  std::string path_;
  int fd_ = -1;
};

// The intra-op threads of one run: options.threads, or with jobs > 1 the cores shared out; -1
// keeps the config's run.threads.
int ThreadsPerRun(const SweepOptions& options);

// The run a worker was started for: the config the sweep wrote to `config_path` (the sweep's
// plan, so configs edited while it runs change nothing), its record going to `record_path`.
absl::StatusOr<PlannedRun> LoadJobRun(const std::string& config_path, const std::string& record_path);

// The plan as `reproduce --dry_run` prints it: a line per run with its state and estimated (or
// measured) time, and the total.
void PrintPlan(const config::TableConfig& table, const std::string& tier, const std::string& table_name,
               const std::vector<PlannedRun>& runs, int jobs, std::ostream& out);

// One line of reports/README.md's table.
struct IndexEntry {
  std::string tier;
  std::string table;
  std::string runs_done;  // "16 / 16", or "?" when the table cannot be planned
};
// reports/README.md: how the reports are made, the table of `entries`, and the link to
// benchmarks.md when `benchmarks_report`.
std::string RenderIndex(const std::vector<IndexEntry>& entries, bool benchmarks_report);

}  // namespace moco

#endif  // MOCO_BENCHMARKS_HARNESS_SWEEP_H_
