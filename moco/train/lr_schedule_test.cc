#include "moco/train/lr_schedule.h"

#include <cmath>

#include "configs/config.h"
#include "gtest/gtest.h"

namespace moco {
namespace {

config::ExperimentConfig Resolved(const std::string& optim) {
  absl::StatusOr<config::ExperimentConfig> config =
      ParseConfig("data { root: \"x\" } moco {} optim { " + optim + " }", "test");
  EXPECT_TRUE(config.ok()) << config.status();
  return Resolve(*config);
}

TEST(LrScheduleTest, StepScheduleDropsAtThePapersEpochs) {
  config::ExperimentConfig config = Resolved("");  // lr 0.03, drops at 120 and 160 of 200
  EXPECT_NEAR(LearningRate(config, 0, 0, 100), 0.03, 1e-8);
  EXPECT_NEAR(LearningRate(config, 119, 99, 100), 0.03, 1e-8);
  EXPECT_NEAR(LearningRate(config, 120, 0, 100), 0.003, 1e-8);
  EXPECT_NEAR(LearningRate(config, 160, 0, 100), 0.0003, 1e-8);
}

TEST(LrScheduleTest, CosineFallsFromLrTowardZeroPerEpoch) {
  config::ExperimentConfig config = Resolved("schedule: COSINE epochs: 10 lr: 0.06 lr_reference_batch: 256");
  EXPECT_NEAR(LearningRate(config, 0, 5, 10), 0.06, 1e-8);
  EXPECT_NEAR(LearningRate(config, 5, 0, 10), 0.03, 1e-8);
  EXPECT_NEAR(LearningRate(config, 9, 0, 10), 0.06 * 0.5 * (1 + std::cos(M_PI * 0.9)), 1e-8);
  EXPECT_EQ(LearningRate(config, 9, 0, 10), LearningRate(config, 9, 9, 10));  // per epoch
  // (Config fields are float: rates match to float precision.)
}

TEST(LrScheduleTest, LinearScalingAndWarmup) {
  config::ExperimentConfig config = Resolved("batch_size: 1024 lr: 0.03 warmup_epochs: 2 epochs: 10");
  // 0.03 * 1024 / 256 = 0.12, reached after 2 epochs of linear warm-up.
  EXPECT_NEAR(LearningRate(config, 0, 0, 10), 0.12 / 20, 1e-8);
  EXPECT_NEAR(LearningRate(config, 1, 4, 10), 0.12 * 15 / 20, 1e-8);
  EXPECT_NEAR(LearningRate(config, 2, 0, 10), 0.12, 1e-8);
}

}  // namespace
}  // namespace moco
