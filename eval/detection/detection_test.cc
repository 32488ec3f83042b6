#include "eval/detection/detection.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/utils.h>

#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "configs/config.h"
#include "configs/record.h"
#include "eval/detection/coco_eval.h"
#include "moco/common/files.h"
#include "moco/common/paths.h"
#include "moco/common/subprocess.h"
#include "moco/models/resnet.h"
#include "moco/train/checkpoint.h"
#include "nlohmann/json.hpp"

namespace moco {
namespace {

std::string TestDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return (std::filesystem::path(tmp != nullptr ? tmp : "/tmp") / name).string();
}

// A tiny version of the cpu tier: ResNet-18 at width 0.125 with the CIFAR stem (feature
// stride 4), Penn-Fudan at a short side of 128 px.
config::ExperimentConfig TinyConfig() {
  absl::StatusOr<config::ExperimentConfig> config = ParseConfig(R"pb(
    name: "detection_test"
    data { root: "cifar10-jpeg" image_size: 32 augmentation: CIFAR }
    model { depth: 18 width_multiplier: 0.125 stem: CIFAR head: LINEAR }
    moco { queue_size: 4096 }
    run { seed: 7 device: CPU_ONLY }
    eval {
      detection {
        dataset: PENN_FUDAN
        root: "pennfudan/PennFudanPed"
        min_size: 128
        max_size: 256
        flip_probability: 0
        anchor_sizes: [ 16, 32, 64, 128 ]
        rpn_pre_nms_top_n_train: 1000
        rpn_post_nms_top_n_train: 300
        rpn_pre_nms_top_n_test: 500
        rpn_post_nms_top_n_test: 100
        rpn_smooth_l1_beta: 0.111
        roi_batch_size_per_image: 128
        roi_smooth_l1_beta: 0.111
        batch_size: 2
        lr: 0.02
        iterations: 100
        warmup_iterations: 10
        log_every_iterations: 20
        precise_bn_iterations: 10
      }
    }
  )pb", "TinyConfig");
  EXPECT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(Validate(*config).ok()) << Validate(*config);
  return Resolve(*config);
}

TEST(DetectionLearningRate, WarmupThenStepsAtThreeQuartersAndElevenTwelfths) {
  config::DetectionEvalConfig d;  // lr 0.02, warm-up 100 iterations from 0.001 x
  EXPECT_NEAR(DetectionLearningRate(d, 0, 24000), 0.02 * 0.001, 1e-9);
  EXPECT_NEAR(DetectionLearningRate(d, 50, 24000), 0.02f * (0.001 * 0.5 + 0.5), 1e-9);
  EXPECT_DOUBLE_EQ(DetectionLearningRate(d, 100, 24000), 0.02f);
  EXPECT_DOUBLE_EQ(DetectionLearningRate(d, 17999, 24000), 0.02f);
  EXPECT_NEAR(DetectionLearningRate(d, 18000, 24000), 0.002, 1e-9);
  EXPECT_NEAR(DetectionLearningRate(d, 21999, 24000), 0.002, 1e-9);
  EXPECT_NEAR(DetectionLearningRate(d, 22000, 24000), 0.0002, 1e-9);
  EXPECT_NEAR(DetectionLearningRate(d, 47999, 48000), 0.0002, 1e-9);  // 2x: steps at 36000, 44000
  EXPECT_DOUBLE_EQ(DetectionLearningRate(d, 35999, 48000), 0.02f);
}

TEST(MakeDetectorBatch, ResizesFlipsNormalisesAndPads) {
  DetectionDataset data;
  data.class_names = {"a", "b"};
  DetectionImage image;
  image.id = 5;
  image.width = 60;
  image.height = 40;
  image.boxes = {{10, 4, 30, 20, 1, false}, {0, 0, 5, 5, 0, true}};  // the crowd box is dropped
  data.images = {image};
  const at::Tensor pixels = at::full({3, 40, 60}, 51, at::kByte);  // 51 / 255 = 0.2
  DetectionPreprocessing pre;
  pre.size_divisibility = 4;
  for (const bool flip : {false, true}) {
    DetectorBatch batch = MakeDetectorBatch(data, {0}, {pixels}, {20}, {flip}, pre);
    // Shorter side 40 -> 20: 20 x 30, padded to 20 x 32.
    ASSERT_EQ(batch.images.sizes(), (std::vector<int64_t>{1, 3, 20, 32}));
    EXPECT_EQ(batch.image_sizes[0], (std::array<int64_t, 2>{20, 30}));
    EXPECT_DOUBLE_EQ(batch.scales[0][0], 0.5);
    EXPECT_DOUBLE_EQ(batch.scales[0][1], 0.5);
    for (int c = 0; c < 3; ++c) {
      const float expected = (0.2f - pre.mean[c]) / pre.stddev[c];
      EXPECT_NEAR(batch.images[0][c].slice(1, 0, 30).min().item<float>(), expected, 1e-5);
      EXPECT_NEAR(batch.images[0][c].slice(1, 0, 30).max().item<float>(), expected, 1e-5);
      EXPECT_EQ(batch.images[0][c].slice(1, 30).abs().max().item<float>(), 0.0f);
    }
    ASSERT_EQ(batch.targets[0].boxes.sizes(), (std::vector<int64_t>{1, 4}));
    // (10, 4, 30, 20) x 0.5 = (5, 2, 15, 10); mirrored in a 30 px wide image: (15, 2, 25, 10).
    const std::vector<float> expected = flip ? std::vector<float>{15, 2, 25, 10} : std::vector<float>{5, 2, 15, 10};
    for (int j = 0; j < 4; ++j) EXPECT_FLOAT_EQ(batch.targets[0].boxes[0][j].item<float>(), expected[j]);
    EXPECT_EQ(batch.targets[0].labels[0].item<int64_t>(), 1);
  }
  // max_size caps the longer side: 40 x 60 at min_size 40, max_size 45 -> scale 0.75: 30 x 45.
  pre.max_size = 45;
  DetectorBatch capped = MakeDetectorBatch(data, {0}, {pixels}, {40}, {false}, pre);
  EXPECT_EQ(capped.image_sizes[0], (std::array<int64_t, 2>{30, 45}));
  EXPECT_EQ(capped.images.sizes(), (std::vector<int64_t>{1, 3, 32, 48}));
}

TEST(Detection, OverfitsTwoImagesAndThenDetectsThem) {
  const config::ExperimentConfig config = TinyConfig();
  const config::DetectionEvalConfig& d = config.eval().detection();
  absl::StatusOr<DetectionDataset> train = LoadDetectionSplit(d, /*train=*/true);
  ASSERT_TRUE(train.ok()) << train.status() << " (tools/setup.sh installs Penn-Fudan)";
  train->images.resize(2);

  torch::manual_seed(7);
  ResNet encoder(ResNetOptions(18).width_multiplier(0.125).cifar_stem(true));
  FasterRcnnC4 model(encoder, FasterRcnnOptionsFor(d, 1));
  const DetectionPreprocessing pre = PreprocessingFor(config, *model);
  TrainDetectorOptions options;
  options.iterations = options.schedule_iterations = d.iterations();
  options.seed = 7;
  std::ostringstream log;
  options.log = &log;
  absl::StatusOr<TrainDetectorResult> trained = TrainDetector(*model, *train, d, pre, options);
  ASSERT_TRUE(trained.ok()) << trained.status();
  std::cout << log.str();
  ASSERT_EQ(trained->total_losses.size(), 100u);
  const auto mean = [](auto begin, auto end) { return std::accumulate(begin, end, 0.0) / (end - begin); };
  const double first = mean(trained->total_losses.begin(), trained->total_losses.begin() + 5);
  const double last = mean(trained->total_losses.end() - 5, trained->total_losses.end());
  EXPECT_LT(last, 0.5 * first) << "first 5 iterations " << first << ", last 5 " << last;

  absl::StatusOr<EvaluateDetectorResult> evaluated = EvaluateDetector(*model, *train, d, pre, c10::kCPU);
  ASSERT_TRUE(evaluated.ok()) << evaluated.status();
  std::cout << "AP " << evaluated->metrics.at("AP") << "  AP50 " << evaluated->metrics.at("AP50") << "\n";
  EXPECT_GT(evaluated->metrics.at("AP50"), 80.0);
  ASSERT_EQ(evaluated->detections.size(), 2u);
  for (const auto& detections : evaluated->detections) {
    ASSERT_FALSE(detections.empty());
    // Boxes are reported in the original image's pixels (images are 300-600 px wide).
    float right = 0;
    for (const Detection& det : detections) right = std::max(right, det.x2);
    EXPECT_GT(right, 150.0f);
  }
}

// Stopped after 3 of 6 iterations (the lr schedule of 6 kept) and resumed from checkpoint.pt, the
// run ends bit-identical to one never stopped: weights, optimizer, torch's RNG, losses, and the
// detector after PreciseBN. A checkpoint of another config, or a corrupt one, is refused.
TEST(TrainDetector, ResumesFromItsCheckpointBitIdentically) {
  config::ExperimentConfig config = TinyConfig();
  config::DetectionEvalConfig* d = config.mutable_eval()->mutable_detection();
  d->set_precise_bn_iterations(2);
  d->set_warmup_iterations(2);
  absl::StatusOr<DetectionDataset> train = LoadDetectionSplit(*d, /*train=*/true);
  ASSERT_TRUE(train.ok()) << train.status();
  train->images.resize(6);
  auto run = [&](const std::string& dir, int64_t iterations, const std::string& identity) {
    std::filesystem::create_directories(dir);
    torch::manual_seed(3);
    FasterRcnnC4 model(ResNet(ResNetOptions(18).width_multiplier(0.125).cifar_stem(true)), FasterRcnnOptionsFor(*d, 1));
    TrainDetectorOptions options;
    options.iterations = iterations;
    options.schedule_iterations = 6;
    options.seed = 11;
    options.checkpoint_path = dir + "/checkpoint.pt";
    options.checkpoint_every = 2;
    options.final_model_path = dir + "/model_final.pt";
    options.config_text = identity;
    return TrainDetector(*model, *train, *d, PreprocessingFor(config, *model), options);
  };
  const std::string straight = TestDir("resume_straight"), stopped = TestDir("resume_stopped");
  absl::StatusOr<TrainDetectorResult> whole = run(straight, 6, "config A");
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(whole->resumed_from, 0);
  absl::StatusOr<TrainDetectorResult> first = run(stopped, 3, "config A");
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<TrainDetectorResult> second = run(stopped, 6, "config A");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->resumed_from, 3);
  EXPECT_EQ(second->total_losses, whole->total_losses);
  for (const char* file : {"/checkpoint.pt", "/model_final.pt"}) {
    absl::StatusOr<std::vector<std::string>> differences = CheckpointDifferences(straight + file, stopped + file);
    ASSERT_TRUE(differences.ok()) << differences.status();
    EXPECT_TRUE(differences->empty()) << file << ": " << differences->front();
  }

  absl::StatusOr<TrainDetectorResult> other = run(stopped, 6, "config B");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition) << other.status();
  EXPECT_THAT(std::string(other.status().message()), testing::HasSubstr("another config"));
  absl::StatusOr<TrainDetectorResult> shorter = run(stopped, 4, "config A");
  EXPECT_EQ(shorter.status().code(), absl::StatusCode::kFailedPrecondition) << shorter.status();
  std::filesystem::resize_file(stopped + "/checkpoint.pt", 1000);
  absl::StatusOr<TrainDetectorResult> corrupt = run(stopped, 6, "config A");
  EXPECT_EQ(corrupt.status().code(), absl::StatusCode::kDataLoss) << corrupt.status();
  EXPECT_THAT(std::string(corrupt.status().message()), testing::HasSubstr(stopped + "/checkpoint.pt"));
}

TEST(TrainDetector, PreciseBatchNormAveragesBatchStatisticsUnderTheFinalWeights) {
  config::ExperimentConfig config = TinyConfig();
  config::DetectionEvalConfig* d = config.mutable_eval()->mutable_detection();
  d->set_batch_size(1);
  d->set_iterations(2);
  d->set_precise_bn_iterations(3);
  d->set_log_every_iterations(1);
  absl::StatusOr<DetectionDataset> train = LoadDetectionSplit(*d, /*train=*/true);
  ASSERT_TRUE(train.ok()) << train.status();
  train->images.resize(1);
  torch::manual_seed(3);
  FasterRcnnC4 model(ResNet(ResNetOptions(18).width_multiplier(0.125).cifar_stem(true)), FasterRcnnOptionsFor(*d, 1));
  const DetectionPreprocessing pre = PreprocessingFor(config, *model);
  TrainDetectorOptions options;
  options.iterations = options.schedule_iterations = 2;
  absl::StatusOr<TrainDetectorResult> trained = TrainDetector(*model, *train, *d, pre, options);
  ASSERT_TRUE(trained.ok()) << trained.status();
  // Every batch is the one image, unflipped: the stem BN's statistics must be those of the
  // stem convolution's output on it, under the final weights (variance unbiased, as BN keeps it).
  absl::StatusOr<std::vector<at::Tensor>> decoded = DecodeDetectionImages(*train, {0});
  ASSERT_TRUE(decoded.ok());
  DetectorBatch batch = MakeDetectorBatch(*train, {0}, *decoded, {d->min_size()}, {false}, pre);
  auto named = model->named_parameters();
  at::Tensor conv = at::conv2d(batch.images, named["backbone.conv1.weight"], {}, 1, 1);
  auto buffers = model->named_buffers();
  EXPECT_TRUE(at::allclose(buffers["backbone.bn1.running_mean"], conv.mean({0, 2, 3}), 1e-4, 1e-5));
  EXPECT_TRUE(at::allclose(buffers["backbone.bn1.running_var"], conv.var({0, 2, 3}, /*unbiased=*/true), 1e-4, 1e-5));
  EXPECT_EQ(buffers["backbone.bn1.num_batches_tracked"].item<int64_t>(), 3);
  for (const auto& module : model->modules(false)) {
    if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
      EXPECT_EQ(bn->options.momentum(), 0.1);
    }
  }
}

TEST(RunDetectionTransfer, WritesCheckpointRecordDetectionsAndPicture) {
  config::ExperimentConfig config = TinyConfig();
  config.mutable_eval()->mutable_detection()->set_max_test_images(2);
  config.mutable_eval()->mutable_detection()->set_score_threshold(0);  // keep every detection, to score
  config.mutable_eval()->mutable_detection()->set_visualize_images(2);
  torch::manual_seed(0);
  ResNet encoder(ResNetOptions(18).width_multiplier(0.125).cifar_stem(true).bn_splits(8));
  DetectionRunOptions options;
  options.init = "random";
  options.output_dir = TestDir("run");
  options.max_iterations = 2;
  absl::StatusOr<DetectionRunResult> result = RunDetectionTransfer(config, encoder, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->iterations, 2);
  EXPECT_TRUE(std::filesystem::exists(result->checkpoint_path));
  EXPECT_TRUE(std::filesystem::exists(result->picture_path));
  absl::StatusOr<config::RunRecord> record = ReadRecord(result->record_path);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->kind(), "detection");
  for (const char* metric : {"AP", "AP50", "AP75", "APs", "APm", "APl"}) {
    EXPECT_EQ(record->metrics().count(metric), 1u) << metric;
  }
  EXPECT_EQ(record->checkpoint(), "random");
  EXPECT_NE(record->note().find("stopped by --max_iters after 2 of 100"), std::string::npos) << record->note();

  // detections.json is COCO's results format: pycocotools scores it against the test split (as
  // WriteCocoJson writes it) and gets the record's AP.
  absl::StatusOr<DetectionDataset> test = LoadDetectionSplit(config.eval().detection(), /*train=*/false);
  ASSERT_TRUE(test.ok()) << test.status();
  test->images.resize(2);
  const std::string gt = TestDir("pennfudan_test_gt.json"), stats = TestDir("pycocotools_stats.json");
  ASSERT_TRUE(WriteCocoJson(*test, gt).ok());
  absl::StatusOr<std::string> python = PythonInterpreter();
  ASSERT_TRUE(python.ok()) << python.status();
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const std::string script = absl::StrCat(srcdir != nullptr ? srcdir : ".", "/moco_cpp/eval/detection/coco_eval_reference.py");
  absl::StatusOr<ProcessResult> scored = RunProcess({*python, script, stats, gt, result->detections_path}, ProcessOptions());
  ASSERT_TRUE(scored.ok()) << scored.status();
  ASSERT_EQ(scored->exit_code, 0);
  absl::StatusOr<std::string> stats_text = ReadFile(stats);
  ASSERT_TRUE(stats_text.ok()) << stats_text.status();
  const std::vector<double> reference = nlohmann::json::parse(*stats_text)["stats"][0].get<std::vector<double>>();
  const char* names[] = {"AP", "AP50", "AP75", "APs", "APm", "APl"};
  for (int k = 0; k < 6; ++k) {
    const double ours = record->metrics().at(names[k]);
    EXPECT_NEAR(ours, reference[k] < 0 ? -1.0 : 100.0 * reference[k], 1e-9) << names[k];
  }
  EXPECT_GT(record->metrics().at("AP50"), 0.0) << "a test that scores no detection checks nothing";
}

}  // namespace
}  // namespace moco
