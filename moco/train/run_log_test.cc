#include "moco/train/run_log.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace moco {
namespace {

namespace fs = std::filesystem;

std::string FreshDir(const std::string& name) {
  const char* root = std::getenv("TEST_TMPDIR");
  const fs::path dir = fs::path(root ? root : "/tmp") / name;
  fs::remove_all(dir);
  return dir.string();
}

int EventFiles(const std::string& dir) {
  int n = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    n += entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
  }
  return n;
}

EpochMetrics Epoch(int64_t epoch) {
  EpochMetrics m;
  m.epoch = epoch;
  m.step = 10 * epoch;
  m.loss = 5.0;
  return m;
}

StepReport Step(int64_t step, bool report) {
  StepReport s;
  s.epoch = 0;
  s.epochs = 2;
  s.batch = step - 1;
  s.batches = 10;
  s.step = step;
  s.total_steps = 20;
  s.global_batch = 8;
  s.loss = 4.25;
  s.images_per_second = 8;
  s.eta_seconds = 2 * (20 - step);  // 2 s a step
  s.report = report;
  return s;
}

// A resumed run's log: the torn writes of a killed run go, metrics.jsonl keeps the checkpoint's
// epochs, each session adds an event file, and the step lines come when asked for.
TEST(RunLogTest, BeginKeepsTheCheckpointsEpochsAndLinesComeWhenAskedFor) {
  const std::string dir = FreshDir("resumed");
  fs::create_directories(dir);
  std::ofstream(fs::path(dir) / "checkpoint.pt.tmp.123") << "torn";
  std::ostringstream progress;
  {
    RunLog first("run", dir, /*lead=*/true, &progress);
    ASSERT_TRUE(first.Begin(0).ok());
    for (int e = 1; e <= 3; ++e) ASSERT_TRUE(first.EpochDone(Epoch(e)).ok());
  }
  EXPECT_FALSE(fs::exists(fs::path(dir) / "checkpoint.pt.tmp.123"));
  RunLog second("run", dir, /*lead=*/true, &progress);
  ASSERT_TRUE(second.Begin(2).ok());
  absl::StatusOr<std::vector<EpochMetrics>> kept = ReadEpochMetrics(second.metrics_path());
  ASSERT_TRUE(kept.ok()) << kept.status();
  ASSERT_EQ(kept->size(), 2u);
  EXPECT_EQ(kept->back().epoch, 2);
  EXPECT_EQ(EventFiles(dir), 2);

  progress.str("");
  ASSERT_TRUE(second.StepDone(Step(3, /*report=*/false)).ok());
  EXPECT_EQ(progress.str(), "");
  ASSERT_TRUE(second.StepDone(Step(4, /*report=*/true)).ok());
  EXPECT_NE(progress.str().find("[run] epoch 1/2 step 4/10  loss 4.2500"), std::string::npos) << progress.str();
  EXPECT_NE(progress.str().find("8 img/s (data wait 0.0%)  ETA 0:32\n"), std::string::npos) << progress.str();
  StepReport untimed_knn = Step(5, /*report=*/true);
  untimed_knn.eta_lacks_knn = true;  // kNN passes ahead, none timed yet
  ASSERT_TRUE(second.StepDone(untimed_knn).ok());
  EXPECT_NE(progress.str().find("ETA 0:30 + kNN passes\n"), std::string::npos) << progress.str();
}

// Ranks other than 0 write no file and say nothing.
TEST(RunLogTest, OtherRanksWriteNothing) {
  const std::string dir = FreshDir("rank1");
  std::ostringstream progress;
  RunLog log("run", dir, /*lead=*/false, &progress);
  log.Say("hello");
  ASSERT_TRUE(log.Begin(0).ok());
  ASSERT_TRUE(log.StepDone(Step(1, true)).ok());
  ASSERT_TRUE(log.EpochDone(Epoch(1)).ok());
  EXPECT_FALSE(log.Finish(-1).ok());
  EXPECT_EQ(progress.str(), "");
  EXPECT_TRUE(fs::exists(dir));  // every rank makes the folder its checkpoint goes to
  EXPECT_TRUE(fs::is_empty(dir));
}

}  // namespace
}  // namespace moco
