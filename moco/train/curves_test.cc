#include "moco/train/curves.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace moco {
namespace {

std::string Temp(const std::string& name) {
  const char* root = std::getenv("TEST_TMPDIR");
  return (std::filesystem::path(root ? root : "/tmp") / name).string();
}

TEST(CurvesTest, ReadsTheTrainersMetricsLines) {
  const std::string path = Temp("metrics.jsonl");
  std::ofstream(path) << "{\"epoch\": 1, \"step\": 40, \"loss\": 5.1, \"pretext_top1\": 2.5, \"knn_top1\": 30.5, "
                         "\"epoch_seconds\": 20.1}\n"
                         "{\"epoch\": 2, \"step\": 80, \"loss\": 4.6, \"pretext_top1\": 9.0, \"knn_top1\": null, "
                         "\"epoch_seconds\": 19.8}\n";
  absl::StatusOr<std::vector<EpochMetrics>> epochs = ReadEpochMetrics(path);
  ASSERT_TRUE(epochs.ok()) << epochs.status();
  ASSERT_EQ(epochs->size(), 2u);
  EXPECT_EQ((*epochs)[1].epoch, 2);
  EXPECT_EQ((*epochs)[1].step, 80);
  EXPECT_DOUBLE_EQ((*epochs)[0].knn_top1, 30.5);
  EXPECT_DOUBLE_EQ((*epochs)[1].knn_top1, -1);  // the monitor did not run
  EXPECT_DOUBLE_EQ((*epochs)[1].loss, 4.6);
}

TEST(CurvesTest, ABadLineIsAnErrorNamingFileAndLine) {
  const std::string path = Temp("bad.jsonl");
  std::ofstream(path) << "{\"epoch\": 1, \"loss\": 5.1}\nnot json\n";
  absl::StatusOr<std::vector<EpochMetrics>> epochs = ReadEpochMetrics(path);
  ASSERT_FALSE(epochs.ok());
  EXPECT_NE(std::string(epochs.status().message()).find(path + ":2"), std::string::npos) << epochs.status();
}

TEST(CurvesTest, DrawsAPng) {
  const std::string png = Temp("curves.png");
  std::filesystem::remove(png);
  std::vector<EpochMetrics> epochs = {{1, 40, 5.1, 2.5, 30.5}, {2, 80, 4.6, 9.0, 34.0}};
  absl::Status status = WriteCurves(epochs, 27.6, png);
  ASSERT_TRUE(status.ok()) << status;
  std::ifstream in(png, std::ios::binary);
  char magic[8] = {};
  in.read(magic, 8);
  EXPECT_EQ(std::string(magic + 1, 3), "PNG");
  EXPECT_FALSE(std::filesystem::exists(png + ".gp"));  // the script is removed
}

}  // namespace
}  // namespace moco
