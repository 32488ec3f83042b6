// Reproduces a table of the paper from real training runs: plans the sweep of
// configs/tables/<tier>/<table>.pbtxt, runs what has no result record yet (resuming an
// interrupted run from its checkpoint), and writes reports/<tier>/<table>.md with its plot
// (benchmarks/harness/sweep.h; one run's training is benchmarks/train_run.h).
//
//   bazel run //benchmarks:reproduce -- --table=queue_size --tier=smoke
//   bazel run //benchmarks:reproduce -- --table=all --tier=all --dry_run     # plans and time estimates
//   bazel run //benchmarks:reproduce -- --table=momentum --tier=cpu --max_runs=2   # a piece of a sweep
//   bazel run //benchmarks:reproduce -- --table=all --tier=cpu --jobs=2 --threads=1  # two runs at a time
#include <signal.h>
#include <sys/prctl.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "benchmarks/harness/sweep.h"
#include "benchmarks/train_run.h"
#include "configs/record.h"
#include "moco/common/paths.h"
#include "moco/common/status.h"
#include "moco/distributed/worker_launcher.h"

ABSL_FLAG(std::string, table, "queue_size",
          "queue_size, momentum, shuffle_bn, length (the cpu tier's training-length study), precision (bf16 "
          "against fp32, smoke and cpu tiers), or all.");
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

// Under several processes (--nproc_per_node or torchrun) only rank 0 writes.
bool Lead() {
  const char* rank = std::getenv("RANK");
  return rank == nullptr || std::string(rank) == "0";
}

SweepOptions OptionsFromFlags() {
  SweepOptions options;
  options.reports_dir = absl::GetFlag(FLAGS_reports_dir);
  options.runs_dir = absl::GetFlag(FLAGS_runs_dir);
  options.metric = absl::GetFlag(FLAGS_metric);
  for (absl::string_view name : absl::StrSplit(absl::GetFlag(FLAGS_runs), ',', absl::SkipEmpty())) {
    options.only.insert(std::string(name));
  }
  options.max_runs = absl::GetFlag(FLAGS_max_runs);
  options.jobs = absl::GetFlag(FLAGS_jobs);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.report_only = absl::GetFlag(FLAGS_report_only);
  options.lead = Lead();
  options.worker_program = std::filesystem::read_symlink("/proc/self/exe").string();
  const int threads = options.threads;
  const bool lead = options.lead;
  options.train = [threads, lead](const PlannedRun& run) { return TrainPlannedRun(run, threads, lead); };
  return options;
}

// The worker's side of --jobs: trains the run the sweep planned and writes its record.
absl::Status RunJob() {
  MOCO_ASSIGN_OR_RETURN(PlannedRun run, LoadJobRun(absl::GetFlag(FLAGS_job_config), absl::GetFlag(FLAGS_job_record)));
  return TrainPlannedRun(run, absl::GetFlag(FLAGS_threads), Lead());
}

int Main() {
  SweepRequest request;
  request.table = absl::GetFlag(FLAGS_table);
  request.tier = absl::GetFlag(FLAGS_tier);
  request.table_file = absl::GetFlag(FLAGS_table_file).empty() ? "" : UserPath(absl::GetFlag(FLAGS_table_file));
  request.dry_run = absl::GetFlag(FLAGS_dry_run);
  const absl::Status status = Reproduce(request, OptionsFromFlags());
  if (!status.ok()) std::cerr << "reproduce: error: " << status.message() << "\n";
  return status.ok() ? 0 : 1;
}

}  // namespace
}  // namespace moco

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Reproduces the paper's queue-size table (Figure 3), momentum table and shuffle-BN ablation (and,\n"
      "for the cpu tier, the findings across training length; bf16 against fp32) from\n"
      "real training runs: plans the sweep of configs/tables/<tier>/<table>.pbtxt, runs every run that\n"
      "has no result record in reports/<tier>/runs/ (resuming interrupted ones from runs/<tier>/), and\n"
      "writes reports/<tier>/<table>.md with a plot and the paper's findings checked.\n"
      "Usage: reproduce --table=queue_size|momentum|shuffle_bn|length|precision|all --tier=smoke|cpu|gpu|paper\n"
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
    const absl::Status status = moco::RunJob();
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
