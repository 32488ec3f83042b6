#include "eval/linear.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>

#include "configs/config.h"
#include "moco/augment/augment.h"
#include "moco/data/dataset.h"

namespace moco {
namespace {

// n points per class around 4 centres 10 apart along the first axes of R^16.
void Blobs(int per_class, uint64_t seed, at::Tensor* features, at::Tensor* labels) {
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor centres = 10.0 * at::eye(4, 16);
  *labels = at::arange(4, at::kLong).repeat_interleave(per_class);
  *features = centres.index_select(0, *labels) + at::randn({4 * per_class, 16}, generator, at::kFloat);
}

LinearProbeOptions SmallOptions() {
  LinearProbeOptions options;
  options.epochs = 10;
  options.lr = 1.0;
  options.lr_drop_epochs = {6, 8};
  options.batch_size = 32;
  options.seed = 7;
  return options;
}

TEST(TrainLinearOnFeaturesTest, SeparatesFarApartBlobs) {
  at::Tensor train, train_labels, test, test_labels;
  Blobs(100, 1, &train, &train_labels);
  Blobs(50, 2, &test, &test_labels);
  absl::StatusOr<LinearProbeResult> result =
      TrainLinearOnFeatures(train, train_labels, test, test_labels, 4, SmallOptions());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_DOUBLE_EQ(result->metrics.at("top1"), 100.0);
  EXPECT_DOUBLE_EQ(result->metrics.at("top5"), 100.0);
  EXPECT_GT(result->train_top1, 99.0);
  EXPECT_LT(result->train_loss, 0.1);
}

TEST(TrainLinearOnFeaturesTest, ChanceOnShuffledLabels) {
  // Test labels unrelated to the features: the classifier cannot beat chance by much.
  at::Tensor train, train_labels, test, test_labels;
  Blobs(100, 1, &train, &train_labels);
  Blobs(100, 2, &test, &test_labels);
  test_labels = test_labels.index_select(0, at::randperm(400, at::make_generator<at::CPUGeneratorImpl>(3)));
  absl::StatusOr<LinearProbeResult> result =
      TrainLinearOnFeatures(train, train_labels, test, test_labels, 4, SmallOptions());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_LT(result->metrics.at("top1"), 40.0);
}

TEST(TrainLinearOnFeaturesTest, RejectsBadInputsAndStopsOnANonFiniteLoss) {
  at::Tensor train, train_labels;
  Blobs(10, 1, &train, &train_labels);
  EXPECT_EQ(TrainLinearOnFeatures(train, train_labels, train, train_labels, 3, SmallOptions()).status().code(),
            absl::StatusCode::kInvalidArgument);  // label 3 with 3 classes
  EXPECT_EQ(TrainLinearOnFeatures(train, train_labels.narrow(0, 0, 5), train, train_labels, 4, SmallOptions())
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  at::Tensor broken = train.clone();
  broken[3][0] = NAN;
  const absl::Status status = TrainLinearOnFeatures(broken, train_labels, train, train_labels, 4, SmallOptions())
                                  .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(status.message().find("linear_lr"), std::string::npos) << status;
}

TEST(LinearTrainViewTest, CropAndFlipOnly) {
  AugmentOptions eval_view;
  eval_view.recipe = AugmentRecipe::kCifar;
  eval_view.out_size = 32;
  const AugmentOptions view = LinearTrainView(eval_view);
  ASSERT_TRUE(view.steps.has_value());
  EXPECT_DOUBLE_EQ(view.steps->min_crop_scale, 0.08);
  EXPECT_DOUBLE_EQ(view.steps->flip_p, 0.5);
  EXPECT_DOUBLE_EQ(view.steps->jitter_p, 0.0);
  EXPECT_DOUBLE_EQ(view.steps->grayscale_p, 0.0);
  EXPECT_DOUBLE_EQ(view.steps->blur_p, 0.0);
  EXPECT_EQ(view.out_size, 32);
  EXPECT_TRUE(CheckAugmentArgs(32, 32, 3, view).ok());
}

// Both modes end to end on a real CIFAR-10 subset with a random narrow encoder.
class LinearProbeCifarTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<ExperimentConfig> config = ParseConfig(
        "data { format: IMAGE_FOLDER root: 'cifar10-jpeg' train_split: 'train' test_split: 'test' image_size: 32 "
        "augmentation: CIFAR max_train_images: 512 max_test_images: 256 } "
        "model { depth: 18 width_multiplier: 0.25 stem: CIFAR } eval { linear_epochs: 5 }",
        "test");
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = new ExperimentConfig(Resolve(*config));
    absl::StatusOr<LabeledImages> train = LoadDataset(config_->data(), Split::kTrain, 0);
    ASSERT_TRUE(train.ok()) << train.status();
    absl::StatusOr<LabeledImages> test = LoadDataset(config_->data(), Split::kTest, 0);
    ASSERT_TRUE(test.ok()) << test.status();
    train_ = new LabeledImages(std::move(*train));
    test_ = new LabeledImages(std::move(*test));
  }

  void SetUp() override { ASSERT_NE(config_, nullptr) << "the data did not load"; }

  static ExperimentConfig* config_;
  static LabeledImages* train_;
  static LabeledImages* test_;
};
ExperimentConfig* LinearProbeCifarTest::config_ = nullptr;
LabeledImages* LinearProbeCifarTest::train_ = nullptr;
LabeledImages* LinearProbeCifarTest::test_ = nullptr;

void ExpectInRange(const LinearProbeResult& result) {
  const double top1 = result.metrics.at("top1"), top5 = result.metrics.at("top5");
  EXPECT_GE(top1, 0.0);
  EXPECT_LE(top5, 100.0);
  EXPECT_GE(top5, top1);
  EXPECT_TRUE(std::isfinite(result.train_loss));
}

TEST_F(LinearProbeCifarTest, FastModeFinishes) {
  torch::manual_seed(0);
  ResNet encoder(ResNetOptions(18).width_multiplier(0.25).cifar_stem(true));
  LinearProbeOptions options = LinearProbeOptionsFor(*config_);
  EXPECT_EQ(options.lr, 30.0);
  EXPECT_EQ(options.lr_drop_epochs, (std::vector<int>{3, 4}));  // 60% and 80% of 5 epochs
  // lr 30 (the paper's, for ResNet-50) makes the loss of these raw narrow-ResNet features diverge.
  options.lr = 0.1;
  options.batch_size = 64;
  options.log = &std::cout;
  options.log_prefix = "[fast]";
  absl::StatusOr<LinearProbeResult> result = LinearProbeFast(*encoder, *train_, *test_, AugmentOptionsFor(config_->data()), options);
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectInRange(*result);
}

TEST_F(LinearProbeCifarTest, PaperModeFinishesAndLeavesTheEncoderUnchanged) {
  torch::manual_seed(0);
  ResNet encoder(ResNetOptions(18).width_multiplier(0.25).cifar_stem(true));
  encoder->train();
  LinearProbeOptions options = LinearProbeOptionsFor(*config_);
  options.epochs = 2;
  options.lr_drop_epochs = {1};
  options.lr = 0.1;
  options.log = &std::cout;
  options.log_prefix = "[paper]";
  absl::StatusOr<LinearProbeResult> result = LinearProbePaper(*encoder, *train_, *test_, AugmentOptionsFor(config_->data()), options);
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectInRange(*result);
  EXPECT_TRUE(encoder->is_training());  // mode restored
}

}  // namespace
}  // namespace moco
