#include "moco/train/metrics_log.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace moco {
namespace {

std::string Temp(const std::string& name) {
  const char* root = std::getenv("TEST_TMPDIR");
  const std::string path = (std::filesystem::path(root ? root : "/tmp") / name).string();
  std::filesystem::remove(path);
  return path;
}

std::string Text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

EpochMetrics Epoch(int64_t epoch, double knn = -1) {
  EpochMetrics m;
  m.epoch = epoch;
  m.step = 97 * epoch;
  m.loss = 7.5 - 0.25 * epoch;
  m.pretext_top1 = 1.5 * epoch;
  m.knn_top1 = knn;
  m.epoch_seconds = 60.25;
  m.lr = 0.06;
  return m;
}

// The format the committed runs' metrics.jsonl files and the reports rely on.
TEST(MetricsLogTest, TheLineFormat) {
  EXPECT_EQ(EpochMetricsLine(Epoch(2, 31.5)),
            "{\"epoch\": 2, \"step\": 194, \"loss\": 7.000000, \"pretext_top1\": 3.0000, \"knn_top1\": 31.5000, "
            "\"epoch_seconds\": 60.25, \"lr\": 0.06}");
  EXPECT_NE(EpochMetricsLine(Epoch(1)).find("\"knn_top1\": null"), std::string::npos);
}

TEST(MetricsLogTest, WhatIsAppendedReadsBack) {
  const std::string path = Temp("metrics.jsonl");
  ASSERT_TRUE(AppendEpochMetrics(path, Epoch(1)).ok());
  ASSERT_TRUE(AppendEpochMetrics(path, Epoch(2, 33.25)).ok());
  absl::StatusOr<std::vector<EpochMetrics>> epochs = ReadEpochMetrics(path);
  ASSERT_TRUE(epochs.ok()) << epochs.status();
  ASSERT_EQ(epochs->size(), 2u);
  EXPECT_EQ((*epochs)[1].epoch, 2);
  EXPECT_EQ((*epochs)[1].step, 194);
  EXPECT_DOUBLE_EQ((*epochs)[0].knn_top1, -1);  // the monitor did not run
  EXPECT_DOUBLE_EQ((*epochs)[1].knn_top1, 33.25);
  EXPECT_DOUBLE_EQ((*epochs)[1].loss, 7.0);
  EXPECT_DOUBLE_EQ((*epochs)[1].pretext_top1, 3.0);
  EXPECT_DOUBLE_EQ((*epochs)[1].epoch_seconds, 60.25);
  EXPECT_DOUBLE_EQ((*epochs)[1].lr, 0.06);
}

TEST(MetricsLogTest, LinesFromBeforeTheLrFieldRead) {
  const std::string path = Temp("old.jsonl");
  std::ofstream(path) << "{\"epoch\": 1, \"step\": 40, \"loss\": 5.1, \"pretext_top1\": 2.5, \"knn_top1\": 30.5, "
                         "\"epoch_seconds\": 20.1}\n";
  absl::StatusOr<std::vector<EpochMetrics>> epochs = ReadEpochMetrics(path);
  ASSERT_TRUE(epochs.ok()) << epochs.status();
  ASSERT_EQ(epochs->size(), 1u);
  EXPECT_DOUBLE_EQ((*epochs)[0].lr, 0);
  EXPECT_DOUBLE_EQ((*epochs)[0].knn_top1, 30.5);
}

TEST(MetricsLogTest, ABadLineIsAnErrorNamingFileAndLine) {
  const std::string path = Temp("bad.jsonl");
  std::ofstream(path) << "{\"epoch\": 1, \"loss\": 5.1}\nnot json\n";
  absl::StatusOr<std::vector<EpochMetrics>> epochs = ReadEpochMetrics(path);
  ASSERT_FALSE(epochs.ok());
  EXPECT_NE(std::string(epochs.status().message()).find(path + ":2"), std::string::npos) << epochs.status();
}

TEST(MetricsLogTest, KeepsTheCheckpointsEpochsAsWritten) {
  const std::string path = Temp("keep.jsonl");
  for (int e = 1; e <= 4; ++e) ASSERT_TRUE(AppendEpochMetrics(path, Epoch(e, e == 2 ? 30 : -1)).ok());
  ASSERT_TRUE(KeepEpochMetricsUpTo(path, 2).ok());
  EXPECT_EQ(Text(path), EpochMetricsLine(Epoch(1)) + "\n" + EpochMetricsLine(Epoch(2, 30)) + "\n");
  ASSERT_TRUE(KeepEpochMetricsUpTo(path, 0).ok());
  EXPECT_EQ(Text(path), "");
  EXPECT_TRUE(KeepEpochMetricsUpTo(Temp("missing.jsonl"), 3).ok());
}

TEST(MetricsLogTest, ATornLastLineIsDroppedAndACompleteOneKept) {
  const std::string torn = Temp("torn.jsonl");
  const std::string line1 = EpochMetricsLine(Epoch(1)), line2 = EpochMetricsLine(Epoch(2));
  std::ofstream(torn) << line1 << "\n" << line2.substr(0, line2.size() / 2);
  ASSERT_TRUE(KeepEpochMetricsUpTo(torn, 5).ok());
  EXPECT_EQ(Text(torn), line1 + "\n");
  // Killed after the line but before its newline: the epoch's line is whole and kept.
  const std::string whole = Temp("whole.jsonl");
  std::ofstream(whole) << line1 << "\n" << line2;
  ASSERT_TRUE(KeepEpochMetricsUpTo(whole, 5).ok());
  EXPECT_EQ(Text(whole), line1 + "\n" + line2 + "\n");
}

TEST(MetricsLogTest, ABadLineBeforeTheLastIsAnError) {
  const std::string path = Temp("middle.jsonl");
  std::ofstream(path) << EpochMetricsLine(Epoch(1)) << "\n{\"epoch\": 2, \"lo\n" << EpochMetricsLine(Epoch(3)) << "\n";
  absl::Status kept = KeepEpochMetricsUpTo(path, 5);
  ASSERT_FALSE(kept.ok());
  EXPECT_NE(std::string(kept.message()).find(path + ":2"), std::string::npos) << kept;
}

}  // namespace
}  // namespace moco
