#include "benchmarks/harness/sweep.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "configs/config.h"
#include "configs/record.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace moco {
namespace {

namespace fs = std::filesystem;
using testing::ElementsAre;
using testing::HasSubstr;

// Two points, one seed; nothing here is ever trained (the sweep's `train` is a stand-in).
constexpr char kTable[] = R"pb(
  table: "queue_size"
  title: "A test table"
  tier: SMOKE
  base {
    data { format: IMAGE_FOLDER root: "cifar10-jpeg" image_size: 32 augmentation: CIFAR max_train_images: 2048 }
    model { depth: 18 width_multiplier: 0.25 stem: CIFAR bn_splits: 8 }
    moco { queue_size: 1024 momentum: 0.99 }
    optim { batch_size: 128 epochs: 2 lr: 0.06 }
  }
  series { label: "MoCo" id: "moco" axis: "moco { queue_size: $ }" values: [256, 512, 1024] }
  seeds: [0]
  axis_label: "K"
  estimate_images_per_second: 100
)pb";

std::string TempDir(const std::string& name) {
  const fs::path dir = fs::path(testing::TempDir()) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A sweep over kTable in `dir` whose training writes a record at once and remembers the run.
struct Fixture {
  explicit Fixture(const std::string& name) : dir(TempDir(name)) {
    table_file = dir + "/table.pbtxt";
    std::ofstream(table_file) << kTable;
    request.table_file = table_file;
    options.reports_dir = dir + "/reports";
    options.runs_dir = dir + "/runs";
    options.train = [this](const PlannedRun& run) {
      trained.push_back(run.name);
      if (run.name == fail_on) return absl::InternalError(run.name + " broke");
      config::RunRecord record;
      record.set_kind("pretrain");
      record.set_name(run.name);
      record.set_config_hash(run.config_hash);
      (*record.mutable_metrics())["knn_top1"] = 40 + trained.size();
      record.set_wall_seconds(30);
      return WriteRecord(run.record_path, record);
    };
  }
  std::string Report() const { return Read(options.reports_dir + "/smoke/queue_size.md"); }

  std::string dir, table_file, fail_on;
  SweepRequest request;
  SweepOptions options;
  std::vector<std::string> trained;
};

TEST(SweepTest, TrainsEveryMissingRunAndWritesTheReports) {
  Fixture f("all");
  ASSERT_TRUE(Reproduce(f.request, f.options).ok());
  EXPECT_THAT(f.trained, ElementsAre("moco-256-s0", "moco-512-s0", "moco-1024-s0"));
  EXPECT_THAT(f.Report(), HasSubstr("3 of 3 runs done"));
  EXPECT_THAT(f.Report(), HasSubstr("| moco-512-s0 | done | 42.0 |"));
  EXPECT_TRUE(fs::exists(f.options.reports_dir + "/README.md"));
  // Again: every run has its record, nothing trains.
  f.trained.clear();
  ASSERT_TRUE(Reproduce(f.request, f.options).ok());
  EXPECT_TRUE(f.trained.empty());
}

TEST(SweepTest, MaxRunsRunsAndReportOnlySelect) {
  Fixture f("select");
  f.options.max_runs = 1;
  ASSERT_TRUE(Reproduce(f.request, f.options).ok());
  EXPECT_THAT(f.trained, ElementsAre("moco-256-s0"));
  f.options.max_runs = 0;
  f.options.only = {"moco-1024-s0"};
  ASSERT_TRUE(Reproduce(f.request, f.options).ok());
  EXPECT_THAT(f.trained, ElementsAre("moco-256-s0", "moco-1024-s0"));
  EXPECT_THAT(f.Report(), HasSubstr("| moco-512-s0 | to run |  |"));
  f.options.only.clear();
  f.options.report_only = true;
  ASSERT_TRUE(Reproduce(f.request, f.options).ok());
  EXPECT_EQ(f.trained.size(), 2u);
  EXPECT_THAT(f.Report(), HasSubstr("2 of 3 runs done"));
}

TEST(SweepTest, AFailingRunStopsTheSweep) {
  Fixture f("fail");
  f.fail_on = "moco-512-s0";
  const absl::Status status = Reproduce(f.request, f.options);
  EXPECT_EQ(status.message(), "moco-512-s0 broke");
  EXPECT_THAT(f.trained, ElementsAre("moco-256-s0", "moco-512-s0"));
  EXPECT_THAT(f.Report(), HasSubstr("1 of 3 runs done"));  // written after the run before it
}

TEST(SweepTest, UnknownTablesAndTiersAreRefused) {
  Fixture f("refused");
  SweepRequest request;
  request.tier = "all";
  EXPECT_EQ(Reproduce(request, f.options).message(), "--tier=all is only for --dry_run; name one tier to run");
  request.tier = "laptop";
  request.dry_run = true;
  EXPECT_EQ(Reproduce(request, f.options).message(), "--tier=laptop is not one of smoke, cpu, gpu, paper, all");
  request.tier = "cpu";
  request.table = "linear";
  EXPECT_EQ(Reproduce(request, f.options).message(),
            "--table=linear is not one of queue_size, momentum, shuffle_bn, length, precision, all");
  EXPECT_TRUE(f.trained.empty());
}

TEST(SweepTest, ASecondLockOnTheSameFolderIsRefused) {
  const std::string dir = TempDir("lock");
  {
    ReportsLock first;
    ASSERT_TRUE(first.Acquire(dir).ok());
    EXPECT_EQ(Read(dir + "/.lock"), std::to_string(getpid()));
    ReportsLock second;
    const absl::Status refused = second.Acquire(dir);
    EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
    EXPECT_THAT(std::string(refused.message()),
                HasSubstr(absl::StrCat("(pid ", getpid(), ") is writing ", dir, "; wait for it to finish")));
  }
  ReportsLock again;  // the first is gone
  EXPECT_TRUE(again.Acquire(dir).ok());
}

TEST(SweepTest, AWorkerGetsThePlannedRun) {
  Fixture f("worker");
  absl::StatusOr<std::vector<PlannedRun>> runs =
      PlanTable(*LoadTable(f.table_file), f.options.reports_dir + "/smoke/runs", f.options.runs_dir);
  ASSERT_TRUE(runs.ok()) << runs.status();
  const PlannedRun& planned = (*runs)[1];
  const std::string config_path = f.dir + "/sweep_config.pbtxt";
  std::ofstream(config_path) << ToText(planned.config);
  absl::StatusOr<PlannedRun> run = LoadJobRun(config_path, planned.record_path);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->name, "moco-512-s0");
  EXPECT_EQ(run->config_hash, planned.config_hash);
  EXPECT_EQ(run->seed, 0u);
  EXPECT_EQ(run->record_path, planned.record_path);
}

TEST(SweepTest, ThreadsAreSharedOutBetweenJobs) {
  SweepOptions options;
  EXPECT_EQ(ThreadsPerRun(options), -1);  // the config's
  options.threads = 3;
  options.jobs = 4;
  EXPECT_EQ(ThreadsPerRun(options), 3);
  options.threads = -1;
  EXPECT_GE(ThreadsPerRun(options), 1);
}

TEST(SweepTest, ThePlanListsEveryRunWithItsEstimate) {
  Fixture f("plan");
  const config::TableConfig table = *LoadTable(f.table_file);
  absl::StatusOr<std::vector<PlannedRun>> runs = PlanTable(table, f.dir + "/none", f.options.runs_dir);
  ASSERT_TRUE(runs.ok()) << runs.status();
  std::ostringstream out;
  PrintPlan(table, "smoke", "queue_size", *runs, 2, out);
  EXPECT_THAT(out.str(), HasSubstr("smoke / queue_size: 3 runs (A test table)\n"));
  EXPECT_THAT(out.str(),
              HasSubstr("  moco-256-s0                  to run  0:00:40  est. MoCo, 2 epochs x 2048 images"));
  EXPECT_THAT(out.str(), HasSubstr("  => 3 to run, about 0:02:02 left (0:02:02 for the whole table); 2 at a time: "
                                   "about 0:01:01\n"));
}

TEST(IndexTest, ListsEachReportWithItsRuns) {
  // Byte for byte what reproduce wrote before the index went through MarkdownTable.
  EXPECT_EQ(RenderIndex({{"cpu", "queue_size", "9 / 22"}, {"gpu", "momentum", "?"}}, true),
            "# Reports\n\nEvery file here is generated; no number is typed in by hand. Each table report is written "
            "by\n`bazel run //benchmarks:reproduce -- --table=<table> --tier=<tier>` from the result records in\n"
            "`<tier>/runs/` (one JSON record per training run: metrics, the config and its hash, git commit,\n"
            "LibTorch version, device, threads, wall time, seed) and its table config in\n"
            "`configs/tables/<tier>/` (titles, published numbers with their source, notes). A run whose record\n"
            "exists is not run again unless its config changes. Published numbers appear only in sections\n"
            "labelled published.\n\n"
            "| tier | report | runs done |\n"
            "| --- | --- | --- |\n"
            "| cpu | [queue_size](cpu/queue_size.md) | 9 / 22 |\n"
            "| gpu | [momentum](gpu/momentum.md) | ? |\n"
            "\nThroughput and micro-benchmarks: [benchmarks.md](benchmarks.md) (`bazel run //benchmarks:report`).\n");
  EXPECT_THAT(RenderIndex({}, false), testing::EndsWith("| tier | report | runs done |\n| --- | --- | --- |\n"));
}

}  // namespace
}  // namespace moco
