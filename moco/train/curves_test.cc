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
