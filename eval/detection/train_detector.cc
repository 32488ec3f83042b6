// TrainDetector of detection.h: detectron2's fine-tuning loop (SGD with momentum, linear
// warm-up, lr x 0.1 at 3/4 and 11/12 of the schedule; random image order, flips and sizes),
// then PreciseBN and the detector checkpoint.
//
//   TrainDetectorOptions options;
//   options.iterations = options.schedule_iterations = 24000;
//   MOCO_ASSIGN_OR_RETURN(TrainDetectorResult trained,
//                         TrainDetector(*model, train, config.eval().detection(), preprocessing, options));
#include "eval/detection/detection.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <random>
#include <utility>

#include "absl/strings/str_format.h"
#include "moco/common/duration.h"
#include "moco/common/status.h"
#include "moco/train/checkpoint.h"

namespace moco {
namespace {

using Clock = std::chrono::steady_clock;
using config::DetectionEvalConfig;

bool HasObject(const DetectionImage& image) {
  return std::any_of(image.boxes.begin(), image.boxes.end(), [](const GroundTruthBox& b) { return !b.crowd; });
}

}  // namespace

absl::StatusOr<TrainDetectorResult> TrainDetector(FasterRcnnC4Impl& model, const DetectionDataset& train,
                                                  const DetectionEvalConfig& d,
                                                  const DetectionPreprocessing& preprocessing,
                                                  const TrainDetectorOptions& options) {
  std::vector<int> usable;
  for (size_t i = 0; i < train.images.size(); ++i) {
    if (HasObject(train.images[i])) usable.push_back(static_cast<int>(i));
  }
  if (usable.empty()) return absl::InvalidArgumentError("TrainDetector: no training image has a non-crowd box");
  const Clock::time_point load_start = Clock::now();
  MOCO_ASSIGN_OR_RETURN(DecodedImages decoded, DecodeImages(train, usable));
  if (options.log != nullptr) {
    *options.log << absl::StrFormat("detection: %d training images decoded in %.1f s\n", usable.size(),
                                    SecondsSince(load_start));
  }

  const DetectorParameters parameters = model.TrainableParameters();
  using torch::optim::SGDOptions;
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(parameters.other,
                      std::make_unique<SGDOptions>(SGDOptions(d.lr()).momentum(d.momentum()).weight_decay(d.weight_decay())));
  if (!parameters.norm.empty()) {
    groups.emplace_back(parameters.norm, std::make_unique<SGDOptions>(
                                             SGDOptions(d.lr()).momentum(d.momentum()).weight_decay(d.weight_decay_norm())));
  }
  torch::optim::SGD optimizer(groups, SGDOptions(d.lr()).momentum(d.momentum()).weight_decay(d.weight_decay()));

  const int64_t iterations = std::min(options.iterations, options.schedule_iterations);
  std::vector<int> train_sizes(d.train_min_sizes().begin(), d.train_min_sizes().end());
  if (train_sizes.empty()) train_sizes.push_back(d.min_size());
  std::mt19937_64 rng(options.seed);
  std::bernoulli_distribution flip(d.flip_probability());
  std::uniform_int_distribution<size_t> size_choice(0, train_sizes.size() - 1);
  std::vector<int> order;
  size_t cursor = 0;
  // The next batch_size images of an endless sequence of random passes over the images.
  const auto next_batch = [&]() {
    std::vector<int> indices;
    std::vector<at::Tensor> pixels;
    std::vector<int> sizes;
    std::vector<bool> flips;
    for (int k = 0; k < d.batch_size(); ++k) {
      if (cursor == order.size()) {
        order = usable;
        std::shuffle(order.begin(), order.end(), rng);
        cursor = 0;
      }
      indices.push_back(order[cursor++]);
      pixels.push_back(decoded.pixels[indices.back()]);
      sizes.push_back(train_sizes[size_choice(rng)]);
      flips.push_back(flip(rng));
    }
    DetectorBatch batch = MakeDetectorBatch(train, indices, pixels, sizes, flips, preprocessing);
    batch.images = batch.images.to(options.device);
    for (ImageTargets& target : batch.targets) {
      target.boxes = target.boxes.to(options.device);
      target.labels = target.labels.to(options.device);
    }
    return batch;
  };

  TrainDetectorResult result;
  model.train();
  const Clock::time_point start = Clock::now();
  Clock::time_point window_start = start;
  Clock::time_point first_done = start;
  std::array<double, 4> window_sums{};
  int64_t window_count = 0;
  for (int64_t iteration = 0; iteration < iterations; ++iteration) {
    const double lr = DetectionLearningRate(d, iteration, options.schedule_iterations);
    for (auto& group : optimizer.param_groups()) static_cast<SGDOptions&>(group.options()).lr(lr);
    DetectorBatch batch = next_batch();
    DetectorLosses losses = model.Losses(batch.images, batch.image_sizes, batch.targets);
    at::Tensor total = losses.Total();
    const std::array<double, 4> parts = {losses.rpn_objectness.item<double>(), losses.rpn_box.item<double>(),
                                         losses.roi_classifier.item<double>(), losses.roi_box.item<double>()};
    const double total_value = total.item<double>();
    if (!std::isfinite(total_value)) {
      return absl::InternalError(absl::StrFormat(
          "detection training: non-finite loss at iteration %d (rpn_objectness %g, rpn_box %g, roi_classifier %g, "
          "roi_box %g, lr %g)",
          iteration + 1, parts[0], parts[1], parts[2], parts[3], lr));
    }
    optimizer.zero_grad();
    total.backward();
    optimizer.step();
    result.total_losses.push_back(total_value);
    for (int k = 0; k < 4; ++k) window_sums[k] += parts[k];
    ++window_count;
    if (iteration == 0) first_done = Clock::now();

    const bool last = iteration + 1 == iterations;
    if (options.log != nullptr && ((iteration + 1) % d.log_every_iterations() == 0 || last)) {
      const double per_iteration = SecondsSince(window_start) / window_count;
      const double mean_so_far = iteration > 0 ? SecondsSince(first_done) / iteration : per_iteration;
      double sum = 0;
      for (double& s : window_sums) sum += s /= window_count;
      *options.log << absl::StrFormat(
          "iter %*d/%d  lr %.5f  loss %.3f (rpn_cls %.3f rpn_box %.3f cls %.3f box %.3f)  %.2f s/iter  ETA %s\n",
          std::to_string(iterations).size(), iteration + 1, iterations, lr, sum, window_sums[0], window_sums[1],
          window_sums[2], window_sums[3], per_iteration, ClockText(mean_so_far * (iterations - iteration - 1)));
      options.log->flush();
      window_sums = {};
      window_count = 0;
      window_start = Clock::now();
    }
  }
  result.iterations = iterations;
  result.seconds = SecondsSince(start);
  result.seconds_per_iteration = iterations > 1 ? SecondsSince(first_done) / (iterations - 1) : result.seconds;

  // PreciseBN: with momentum unset, BN's running statistics are the plain mean over the batches
  // seen since reset_running_stats(); batch statistics as in training (train mode, no gradient).
  if (d.bn() == DetectionEvalConfig::TRAINED && d.precise_bn_iterations() > 0 && iterations > 0) {
    const Clock::time_point precise_start = Clock::now();
    std::vector<std::pair<torch::nn::BatchNorm2dImpl*, std::optional<double>>> norms;
    for (const auto& module : model.modules(/*include_self=*/false)) {
      if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
        norms.emplace_back(bn, bn->options.momentum());
        bn->options.momentum(std::nullopt);
        bn->reset_running_stats();
      }
    }
    {
      at::NoGradGuard no_grad;
      for (int k = 0; k < d.precise_bn_iterations(); ++k) {
        DetectorBatch batch = next_batch();
        model.Losses(batch.images, batch.image_sizes, batch.targets);
      }
    }
    for (auto& [bn, momentum] : norms) bn->options.momentum(momentum);
    result.precise_bn_seconds = SecondsSince(precise_start);
    if (options.log != nullptr) {
      *options.log << absl::StrFormat("precise BN: statistics of %d BN layers over %d batches in %.0f s\n",
                                      norms.size(), d.precise_bn_iterations(), result.precise_bn_seconds);
    }
  }
  if (!options.checkpoint_path.empty()) {
    CheckpointState state;
    state.step = iterations;
    state.config = options.config_text;
    MOCO_RETURN_IF_ERROR(SaveCheckpoint(options.checkpoint_path, state, model, optimizer));
  }
  return result;
}

}  // namespace moco
