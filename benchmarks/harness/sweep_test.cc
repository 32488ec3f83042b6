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

// A run trained in pieces beside a published curve: a piece waits for the one it continues, each
// piece's record carries the curve so far, and the report sets it beside the published one.
TEST(SweepTest, PiecesOfOneRunBesideAPublishedCurve) {
  const std::string dir = TempDir("curve");
  std::ofstream(dir + "/published.csv") << "# a published run\nepoch,lr,train_loss,knn_top1\n"
                                        << "1,0.06,7.0,30.0\n2,0.06,6.5,35.0\n3,0.06,6.0,40.0\n4,0.06,5.5,45.0\n";
  std::ofstream(dir + "/table.pbtxt") << R"pb(
    table: "notebook"
    title: "A curve"
    tier: SMOKE
    base {
      data { format: IMAGE_FOLDER root: "cifar10-jpeg" image_size: 32 augmentation: CIFAR max_train_images: 2048 }
      model { depth: 18 width_multiplier: 0.25 stem: CIFAR bn_splits: 8 }
      moco { queue_size: 1024 momentum: 0.99 }
      optim { batch_size: 128 epochs: 200 lr: 0.06 schedule: COSINE_NOTEBOOK }
    }
    series { label: "MoCo" id: "nb" axis: "run { stop_after_epochs: $ }" values: [2, 4] stops_of_one_run: true }
    seeds: [0, 1]
    axis_label: "stopped at epoch"
    published_curve { file: ")pb" << dir << R"pb(/published.csv" label: "theirs (published)" max_epoch_gap: 3 max_mean_gap: 2 }
  )pb";
  SweepRequest request;
  request.table_file = dir + "/table.pbtxt";
  SweepOptions options;
  options.reports_dir = dir + "/reports";
  options.runs_dir = dir + "/runs";
  std::vector<std::string> trained;
  options.train = [&](const PlannedRun& run) {
    trained.push_back(run.name);
    config::RunRecord record;
    record.set_kind("pretrain");
    record.set_name(run.name);
    record.set_config_hash(run.config_hash);
    const int stop = run.config.run().stop_after_epochs();
    (*record.mutable_metrics())["stopped_at_epoch"] = stop;
    (*record.mutable_metrics())["knn_top1"] = 30 + 5 * stop;
    for (int e = 1; e <= stop; ++e) {  // seed 0: 1 point above theirs; seed 1: 2 points below at epoch 3 and 4
      config::EpochPoint& point = *record.add_curve();
      point.set_epoch(e);
      point.set_loss(7.0 - 0.5 * e);
      point.set_knn_top1(25 + 5 * e + (run.seed == 0 ? 1 : (e > 2 ? -8 : 0)));
    }
    record.set_wall_seconds(10 * stop);
    return WriteRecord(run.record_path, record);
  };
  // The second piece alone cannot start before the first.
  options.only = {"nb-4-s0"};
  ASSERT_TRUE(Reproduce(request, options).ok());
  EXPECT_TRUE(trained.empty());
  options.only.clear();
  ASSERT_TRUE(Reproduce(request, options).ok());
  EXPECT_THAT(trained, ElementsAre("nb-2-s0", "nb-4-s0", "nb-2-s1", "nb-4-s1"));
  const std::string report = Read(dir + "/reports/smoke/notebook.md");
  EXPECT_THAT(report, HasSubstr("## Ours beside the published curve, epoch by epoch"));
  // Epoch 1: theirs 30, ours 31 and 30 (mean 30.5); epoch 3: ours 41 and 32 (mean 36.5, gap -3.5).
  EXPECT_THAT(report, HasSubstr("| 1 | 30.00 | 7.0000 | 31.00 | 30.00 | 30.50 | +0.50 | 6.5000 |"));
  EXPECT_THAT(report, HasSubstr("| 3 | 40.00 | 6.0000 | 41.00 | 32.00 | 36.50 | -3.50 | 5.5000 |"));
  // Largest gap -3.5 > 3: does not hold; mean gap (0.5 + 0.5 - 3.5 - 3.5) / 4 = -1.5: holds.
  EXPECT_THAT(report, HasSubstr("**does not hold**: at every epoch, the mean of our seeds is within 3 points"));
  EXPECT_THAT(report, HasSubstr("largest gap -3.50 points at epoch 4, over epochs 1-4 (4 epochs with all 2 seeds)"));
  EXPECT_THAT(report, HasSubstr("**holds**: the mean signed gap (ours - published) is within 2 points. mean gap "
                                "-1.50 points"));
  // The compute counts each run once (the second piece's 40 s include the first's 20 s).
  EXPECT_THAT(report, HasSubstr("4 of 4 runs done, 1.3 min of compute"));
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
            "--table=linear is not one of queue_size, momentum, shuffle_bn, length, precision, notebook, all");
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
