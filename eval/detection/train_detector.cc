// TrainDetector of detection.h: detectron2's fine-tuning loop (SGD with momentum, linear
// warm-up, lr x 0.1 at 3/4 and 11/12 of the schedule; random image order, flips and sizes),
// then PreciseBN and the detector checkpoint, on one process or several.
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
#include <exception>
#include <filesystem>
#include <optional>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "moco/augment/random.h"
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

// The images of each global batch, their sizes and flips: an endless sequence of random passes
// over the training images with a box, drawn from (seed) alone, so every process draws the same
// global batches and takes its share, and a resumed run draws them again up to its iteration.
class DetectionSampler {
 public:
  DetectionSampler(const DetectionDataset& train, const DetectionEvalConfig& d, uint64_t seed)
      : d_(d), rng_(seed), flip_(d.flip_probability()) {
    for (size_t i = 0; i < train.images.size(); ++i) {
      if (HasObject(train.images[i])) usable_.push_back(static_cast<int>(i));
    }
    sizes_.assign(d.train_min_sizes().begin(), d.train_min_sizes().end());
    if (sizes_.empty()) sizes_.push_back(d.min_size());
    size_choice_ = std::uniform_int_distribution<size_t>(0, sizes_.size() - 1);
  }
  bool empty() const { return usable_.empty(); }

  struct Draw {
    std::vector<int> indices, min_sizes;
    std::vector<bool> flips;
  };
  // The next global batch (eval.detection.batch_size images).
  Draw Next() {
    Draw draw;
    for (int k = 0; k < d_.batch_size(); ++k) {
      if (cursor_ == order_.size()) {
        order_ = usable_;
        std::shuffle(order_.begin(), order_.end(), rng_);
        cursor_ = 0;
      }
      draw.indices.push_back(order_[cursor_++]);
      draw.min_sizes.push_back(sizes_[size_choice_(rng_)]);
      draw.flips.push_back(flip_(rng_));
    }
    return draw;
  }

 private:
  const DetectionEvalConfig& d_;
  std::vector<int> usable_, sizes_;
  std::mt19937_64 rng_;
  std::bernoulli_distribution flip_;
  std::uniform_int_distribution<size_t> size_choice_;
  std::vector<int> order_;
  size_t cursor_ = 0;
};

// The seeds of the anchor and RoI samples of the image in place `slot` of global batch
// `iteration` (eval.detection.sampling PER_IMAGE): a hash of the three, as ViewSeed hashes.
std::array<uint64_t, 2> SampleSeeds(uint64_t seed, int64_t iteration, int64_t slot) {
  constexpr uint64_t kWeyl = 0x9E3779B97F4A7C15ULL;
  uint64_t h = Mix64(seed * 0xA0761D6478BD642FULL + 0xDE7EC7 + kWeyl) + static_cast<uint64_t>(iteration);
  h = Mix64(h + kWeyl) + static_cast<uint64_t>(slot);
  return {Mix64(h + kWeyl), Mix64(h + 2 * kWeyl)};
}

// This process's share of a global batch, decoded, padded to the global batch's padded size
// (so that every process's BN sees what one process would), on the model's device, with the
// sample seeds of its places when sampling PER_IMAGE.
struct ShareBatch {
  DetectorBatch batch;
  std::vector<std::array<uint64_t, 2>> seeds;
};
absl::StatusOr<ShareBatch> MakeShare(const DetectionDataset& train, const DetectionSampler::Draw& draw,
                                     const DetectionPreprocessing& preprocessing, const TrainDetectorOptions& options,
                                     int64_t iteration) {
  const int world = options.group != nullptr ? options.group->world_size() : 1;
  const int rank = options.group != nullptr ? options.group->rank() : 0;
  const size_t n = draw.indices.size() / world, first = rank * n;
  const auto share = [&](const auto& v) { return std::decay_t<decltype(v)>(v.begin() + first, v.begin() + first + n); };
  const std::array<int64_t, 2> pad = PaddedBatchSize(train, draw.indices, draw.min_sizes, preprocessing);
  const std::vector<int> indices = share(draw.indices);
  MOCO_ASSIGN_OR_RETURN(std::vector<at::Tensor> pixels, DecodeDetectionImages(train, indices));
  ShareBatch out;
  out.batch = MakeDetectorBatch(train, indices, pixels, share(draw.min_sizes), share(draw.flips), preprocessing, &pad);
  out.batch.images = out.batch.images.to(options.device);
  for (ImageTargets& target : out.batch.targets) {
    target.boxes = target.boxes.to(options.device);
    target.labels = target.labels.to(options.device);
  }
  if (options.per_image_sampling) {
    for (size_t k = 0; k < n; ++k) out.seeds.push_back(SampleSeeds(options.seed, iteration, static_cast<int64_t>(first + k)));
  }
  return out;
}

// Averages the gradients of `parameters` over the processes (a parameter without a gradient in
// this process counts as a zero one, as the others may have one).
absl::Status AverageGradients(const std::vector<at::Tensor>& parameters, const ProcessGroupHandle& group) {
  std::vector<at::Tensor> flat;
  for (const at::Tensor& p : parameters) flat.push_back(p.grad().defined() ? p.grad().reshape(-1) : at::zeros({p.numel()}, p.options()));
  at::Tensor all = at::cat(flat);
  const c10::Device device = all.device();
  at::Tensor summed = all.to(CollectiveDevice(group)).contiguous();
  MOCO_RETURN_IF_ERROR(group.AllReduceSum(summed));
  summed = summed.div_(group.world_size()).to(device);
  int64_t offset = 0;
  for (const at::Tensor& p : parameters) {
    at::Tensor mean = summed.slice(0, offset, offset + p.numel()).view_as(p);
    offset += p.numel();
    if (p.grad().defined()) {
      p.mutable_grad().copy_(mean);
    } else {
      p.mutable_grad() = mean.clone();
    }
  }
  return absl::OkStatus();
}

// One iteration's losses (total, rpn_objectness, rpn_box, roi_classifier, roi_box), averaged
// over the processes, after the optimizer step.
absl::StatusOr<std::array<double, 5>> Step(FasterRcnnC4Impl& model, torch::optim::SGD& optimizer,
                                           const std::vector<at::Tensor>& parameters, const ShareBatch& share,
                                           const TrainDetectorOptions& options, int64_t iteration, double lr) {
  try {
    DetectorLosses losses = model.Losses(share.batch.images, share.batch.image_sizes, share.batch.targets,
                                         share.seeds.empty() ? nullptr : &share.seeds);
    at::Tensor total = losses.Total();
    std::array<double, 5> parts = {total.item<double>(), losses.rpn_objectness.item<double>(),
                                   losses.rpn_box.item<double>(), losses.roi_classifier.item<double>(),
                                   losses.roi_box.item<double>()};
    if (options.group != nullptr && options.group->world_size() > 1) {
      at::Tensor all =
          at::tensor(std::vector<double>(parts.begin(), parts.end()), at::kDouble).to(CollectiveDevice(*options.group));
      MOCO_RETURN_IF_ERROR(options.group->AllReduceSum(all));
      all = all.cpu();
      for (int k = 0; k < 5; ++k) parts[k] = all[k].item<double>() / options.group->world_size();
    }
    if (!std::isfinite(parts[0])) {
      return absl::InternalError(absl::StrFormat(
          "detection training: non-finite loss at iteration %d (rpn_objectness %g, rpn_box %g, roi_classifier %g, "
          "roi_box %g, lr %g)",
          iteration + 1, parts[1], parts[2], parts[3], parts[4], lr));
    }
    optimizer.zero_grad();
    total.backward();
    if (options.group != nullptr && options.group->world_size() > 1) {
      MOCO_RETURN_IF_ERROR(AverageGradients(parameters, *options.group));
    }
    optimizer.step();
    return parts;
  } catch (const std::exception& e) {  // a collective inside synchronised BN failed, or torch did
    return absl::InternalError(absl::StrCat("detection training, iteration ", iteration + 1, ": ", e.what()));
  }
}

// The progress lines of training: every `every` iterations and at the last, the window's mean
// losses, its time per iteration and an ETA from the mean so far (the first iteration of a
// session, which warms up, is not timed).
class ProgressLog {
 public:
  ProgressLog(std::ostream* log, int every, int64_t first, int64_t iterations)
      : log_(log), every_(every), first_(first), iterations_(iterations) {}

  void Add(int64_t iteration, double lr, const std::array<double, 5>& parts) {
    for (int k = 0; k < 4; ++k) sums_[k] += parts[k + 1];
    ++count_;
    if (iteration == first_) first_done_ = Clock::now();
    const bool last = iteration + 1 == iterations_;
    if (log_ == nullptr || ((iteration + 1) % every_ != 0 && !last)) return;
    const double per_iteration = SecondsSince(window_start_) / count_;
    const int64_t timed = iteration - first_;
    const double mean_so_far = timed > 0 ? SecondsSince(first_done_) / timed : per_iteration;
    double sum = 0;
    for (double& s : sums_) sum += s /= count_;
    *log_ << absl::StrFormat(
        "iter %*d/%d  lr %.5f  loss %.3f (rpn_cls %.3f rpn_box %.3f cls %.3f box %.3f)  %.2f s/iter  ETA %s\n",
        std::to_string(iterations_).size(), iteration + 1, iterations_, lr, sum, sums_[0], sums_[1], sums_[2],
        sums_[3], per_iteration, ClockText(mean_so_far * (iterations_ - iteration - 1)));
    log_->flush();
    sums_ = {};
    count_ = 0;
    window_start_ = Clock::now();
  }

  // Mean seconds per timed iteration of this session (`total` when none was timed).
  double SecondsPerIteration(double total) const {
    const int64_t timed = iterations_ - first_ - 1;
    return timed > 0 ? SecondsSince(first_done_) / timed : total;
  }

 private:
  std::ostream* log_;
  int every_;
  int64_t first_, iterations_;
  Clock::time_point window_start_ = Clock::now(), first_done_ = Clock::now();
  std::array<double, 4> sums_{};
  int64_t count_ = 0;
};

// Loads options.checkpoint_path into the model and optimizer where it exists (and torch's RNG, and
// the losses so far into `losses`) and returns its iteration; 0 where there is none. A checkpoint
// of another config, or past the iterations to run, is refused.
absl::StatusOr<int64_t> ResumeDetector(FasterRcnnC4Impl& model, torch::optim::SGD& optimizer,
                                       const TrainDetectorOptions& options, int64_t iterations,
                                       std::vector<double>& losses) {
  const std::string& path = options.checkpoint_path;
  if (path.empty() || !std::filesystem::exists(path)) return 0;
  MOCO_ASSIGN_OR_RETURN(const CheckpointState header, ReadCheckpointState(path));
  if (header.config != options.config_text) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, " was written by a detection run of another config; --fresh starts over, or choose another --output_dir"));
  }
  if (header.step > iterations) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s is at iteration %d, past the %d to run; --fresh starts over, or run at least %d", path, header.step,
        iterations, header.step));
  }
  MOCO_ASSIGN_OR_RETURN(const CheckpointState state, LoadCheckpoint(path, model, optimizer));
  if (state.losses.size() != static_cast<size_t>(state.step)) {
    return absl::DataLossError(absl::StrFormat("%s holds %d losses for %d iterations", path, state.losses.size(), state.step));
  }
  losses = state.losses;
  if (options.log != nullptr) *options.log << "detection: resumed from " << path << " at iteration " << state.step << "\n";
  return state.step;
}

// PreciseBN: with momentum unset, BN's running statistics are the plain mean over the batches
// seen since reset_running_stats(); batch statistics as in training (train mode, no gradient),
// synchronised over the processes as in training.
absl::Status PreciseBatchNorm(FasterRcnnC4Impl& model, const DetectionDataset& train, DetectionSampler& sampler,
                              const DetectionPreprocessing& preprocessing, const TrainDetectorOptions& options,
                              int64_t first_iteration, int batches) {
  std::vector<std::pair<torch::nn::BatchNorm2dImpl*, std::optional<double>>> norms;
  for (const auto& module : model.modules(/*include_self=*/false)) {
    if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
      norms.emplace_back(bn, bn->options.momentum());
      bn->options.momentum(std::nullopt);
      bn->reset_running_stats();
    }
  }
  try {
    at::NoGradGuard no_grad;
    for (int k = 0; k < batches; ++k) {
      MOCO_ASSIGN_OR_RETURN(ShareBatch share, MakeShare(train, sampler.Next(), preprocessing, options, first_iteration + k));
      model.Losses(share.batch.images, share.batch.image_sizes, share.batch.targets,
                   share.seeds.empty() ? nullptr : &share.seeds);
    }
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("precise BN: ", e.what()));
  }
  for (auto& [bn, momentum] : norms) bn->options.momentum(momentum);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TrainDetectorResult> TrainDetector(FasterRcnnC4Impl& model, const DetectionDataset& train,
                                                  const DetectionEvalConfig& d,
                                                  const DetectionPreprocessing& preprocessing,
                                                  const TrainDetectorOptions& options) {
  DetectionSampler sampler(train, d, options.seed);
  if (sampler.empty()) return absl::InvalidArgumentError("TrainDetector: no training image has a non-crowd box");
  const int world = options.group != nullptr ? options.group->world_size() : 1;
  if (d.batch_size() % world != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "eval.detection.batch_size %d is not divisible by the %d processes: each takes an equal share", d.batch_size(), world));
  }
  const bool lead = options.group == nullptr || options.group->rank() == 0;

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
  std::vector<at::Tensor> trained = parameters.other;
  trained.insert(trained.end(), parameters.norm.begin(), parameters.norm.end());

  const int64_t iterations = std::min(options.iterations, options.schedule_iterations);
  TrainDetectorResult result;
  MOCO_ASSIGN_OR_RETURN(result.resumed_from, ResumeDetector(model, optimizer, options, iterations, result.total_losses));
  for (int64_t skipped = 0; skipped < result.resumed_from; ++skipped) sampler.Next();
  const auto save = [&](const std::string& path, int64_t done) {
    if (!lead || path.empty()) return absl::OkStatus();
    CheckpointState state;
    state.step = done;
    state.config = options.config_text;
    state.losses = result.total_losses;
    return SaveCheckpoint(path, state, model, optimizer);
  };

  model.train();
  const Clock::time_point start = Clock::now();
  ProgressLog progress(options.log, d.log_every_iterations(), result.resumed_from, iterations);
  for (int64_t iteration = result.resumed_from; iteration < iterations; ++iteration) {
    const double lr = DetectionLearningRate(d, iteration, options.schedule_iterations);
    for (auto& group : optimizer.param_groups()) static_cast<SGDOptions&>(group.options()).lr(lr);
    MOCO_ASSIGN_OR_RETURN(ShareBatch share, MakeShare(train, sampler.Next(), preprocessing, options, iteration));
    MOCO_ASSIGN_OR_RETURN(const auto parts, Step(model, optimizer, trained, share, options, iteration, lr));
    result.total_losses.push_back(parts[0]);
    const bool last = iteration + 1 == iterations;
    if ((options.checkpoint_every > 0 && (iteration + 1) % options.checkpoint_every == 0) || last) {
      MOCO_RETURN_IF_ERROR(save(options.checkpoint_path, iteration + 1));
    }
    progress.Add(iteration, lr, parts);
  }
  result.iterations = iterations;
  result.seconds = SecondsSince(start);
  result.seconds_per_iteration = progress.SecondsPerIteration(result.seconds);

  if (d.bn() == DetectionEvalConfig::TRAINED && d.precise_bn_iterations() > 0 && iterations > 0) {
    const Clock::time_point precise_start = Clock::now();
    MOCO_RETURN_IF_ERROR(
        PreciseBatchNorm(model, train, sampler, preprocessing, options, iterations, d.precise_bn_iterations()));
    result.precise_bn_seconds = SecondsSince(precise_start);
    if (options.log != nullptr) {
      *options.log << absl::StrFormat("precise BN: statistics of every BN layer over %d batches in %.0f s\n",
                                      d.precise_bn_iterations(), result.precise_bn_seconds);
    }
  }
  MOCO_RETURN_IF_ERROR(save(options.final_model_path, iterations));
  return result;
}

}  // namespace moco
