#include "eval/linear.h"

#include <ATen/ATen.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "eval/classification.h"
#include "moco/train/knn_monitor.h"
#include "moco/common/duration.h"
#include "moco/common/parallel.h"
#include "moco/augment/image_batches.h"
#include "moco/common/status.h"
#include "moco/data/image_folder.h"
#include "moco/models/autocast.h"

namespace moco {
namespace {

using Clock = std::chrono::steady_clock;

// The features of the training images `indices` in `epoch`: n x D, float, on the classifier's device.
using BatchFeatures = std::function<absl::StatusOr<at::Tensor>(const at::Tensor& indices, int64_t epoch)>;

double LearningRateAt(const LinearProbeOptions& options, int epoch) {
  double lr = options.lr;
  for (int drop : options.lr_drop_epochs) {
    if (epoch >= drop) lr *= options.lr_drop_factor;
  }
  return lr;
}

// Linear(feature_dim, num_classes) initialised as main_lincls.py does (weights N(0, 0.01), bias 0),
// from options.seed, on options.device.
torch::nn::Linear NewClassifier(int64_t feature_dim, int num_classes, const LinearProbeOptions& options) {
  torch::manual_seed(options.seed);
  torch::nn::Linear classifier(feature_dim, num_classes);
  {
    torch::NoGradGuard no_grad;
    torch::nn::init::normal_(classifier->weight, 0.0, 0.01);
    torch::nn::init::zeros_(classifier->bias);
  }
  classifier->to(options.device);
  return classifier;
}

// Top-1 and top-5 (%) of `classifier` on the test features.
absl::StatusOr<Metrics> TestClassifier(torch::nn::LinearImpl& classifier, const at::Tensor& test_features,
                                       const at::Tensor& test_labels, c10::Device device) {
  ClassificationEvaluator evaluator({1, 5});
  evaluator.Reset();
  torch::NoGradGuard no_grad;
  const int64_t chunk = 4096;
  for (int64_t begin = 0; begin < test_features.size(0); begin += chunk) {
    const int64_t count = std::min(chunk, test_features.size(0) - begin);
    const at::Tensor logits = classifier.forward(test_features.narrow(0, begin, count).to(device));
    MOCO_RETURN_IF_ERROR(evaluator.Process({logits, test_labels.narrow(0, begin, count)}));
  }
  return evaluator.Evaluate();
}

// The training loop both modes share: SGD on NewClassifier, then top-k on the test features.
absl::StatusOr<LinearProbeResult> TrainClassifier(const at::Tensor& train_labels, const BatchFeatures& batch_features,
                                                  int64_t feature_dim, const at::Tensor& test_features,
                                                  const at::Tensor& test_labels, int num_classes,
                                                  const LinearProbeOptions& options, bool log_within_epoch,
                                                  Clock::time_point started) {
  const int64_t n = train_labels.size(0);
  if (n == 0) return absl::InvalidArgumentError("linear classification: the training set is empty");
  if (options.epochs < 1 || options.batch_size < 1 || !(options.lr > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("linear classification: needs epochs >= 1, batch size >= 1 and ",
                                                   "lr > 0, got ", options.epochs, ", ", options.batch_size, ", ",
                                                   options.lr));
  }
  torch::nn::Linear classifier = NewClassifier(feature_dim, num_classes, options);
  torch::optim::SGD sgd(classifier->parameters(), torch::optim::SGDOptions(options.lr)
                                                      .momentum(options.momentum)
                                                      .weight_decay(options.weight_decay));
  const int64_t steps = (n + options.batch_size - 1) / options.batch_size;
  const at::Tensor labels_on_device = train_labels.to(options.device, at::kLong);
  LinearProbeResult result;
  double train_seconds = 0;
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    const auto epoch_start = Clock::now();
    const double lr = LearningRateAt(options, epoch);
    for (auto& group : sgd.param_groups()) static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
    const std::vector<int64_t> order = EpochOrder(options.seed, epoch, n);
    const at::Tensor order_tensor = at::tensor(order, at::kLong);
    double loss_sum = 0;
    int64_t correct = 0;
    for (int64_t b = 0; b < steps; ++b) {
      const int64_t begin = b * options.batch_size, count = std::min<int64_t>(options.batch_size, n - begin);
      const at::Tensor indices = order_tensor.narrow(0, begin, count);
      MOCO_ASSIGN_OR_RETURN(const at::Tensor x, batch_features(indices, epoch));     // count x D
      const at::Tensor y = labels_on_device.index_select(0, indices.to(options.device));  // count
      const at::Tensor logits = classifier->forward(x);                                // count x classes
      const at::Tensor loss = at::cross_entropy_loss(logits, y);
      sgd.zero_grad();
      loss.backward();
      sgd.step();
      const double loss_value = loss.item<double>();
      if (!std::isfinite(loss_value)) {
        return absl::DataLossError(absl::StrFormat(
            "linear classification: the loss is %f at epoch %d, step %d (lr %g): lower eval.linear_lr", loss_value,
            epoch + 1, b + 1, lr));
      }
      loss_sum += loss_value * count;
      correct += logits.argmax(1).eq(y).sum().item<int64_t>();
      if (options.log && log_within_epoch && (b + 1) % std::max<int64_t>(1, steps / 5) == 0 && b + 1 < steps) {
        const double per_step = SecondsSince(epoch_start) / (b + 1);
        *options.log << absl::StrFormat("%s epoch %d/%d step %d/%d  loss %.4f  lr %g  ETA %s\n", options.log_prefix,
                                        epoch + 1, options.epochs, b + 1, steps, loss_sum / (begin + count), lr,
                                        ClockText(per_step * (steps - b - 1) +
                                                 (options.epochs - epoch - 1) * per_step * steps));
        options.log->flush();
      }
    }
    train_seconds += SecondsSince(epoch_start);
    result.train_loss = loss_sum / n;
    result.train_top1 = 100.0 * correct / n;
    if (options.on_epoch) options.on_epoch(epoch + 1, result.train_loss, result.train_top1, lr);
    if (options.log) {
      const double per_epoch = train_seconds / (epoch + 1);
      *options.log << absl::StrFormat("%s epoch %d/%d  loss %.4f  train top-1 %5.1f%%  lr %g  %.1f s/epoch  ETA %s\n",
                                      options.log_prefix, epoch + 1, options.epochs, result.train_loss,
                                      result.train_top1, lr, per_epoch,
                                      ClockText(per_epoch * (options.epochs - epoch - 1)));
      options.log->flush();
    }
  }

  MOCO_ASSIGN_OR_RETURN(result.metrics, TestClassifier(*classifier, test_features, test_labels, options.device));
  result.seconds = SecondsSince(started);
  if (options.log) {
    *options.log << absl::StrFormat("%s test top-1 %.2f%%  top-5 %.2f%%  (%d test images; %s in all)\n",
                                    options.log_prefix, result.metrics["top1"], result.metrics["top5"],
                                    test_features.size(0), ClockText(result.seconds));
  }
  return result;
}

absl::Status CheckFeatures(const at::Tensor& features, const at::Tensor& labels, int num_classes, const char* split) {
  if (features.dim() != 2 || labels.dim() != 1 || features.size(0) != labels.size(0)) {
    return absl::InvalidArgumentError(absl::StrCat("linear classification: ", split, " features ",
                                                   c10::str(features.sizes()), " and labels ",
                                                   c10::str(labels.sizes()), " do not match"));
  }
  if (labels.numel() > 0 && (labels.min().item<int64_t>() < 0 || labels.max().item<int64_t>() >= num_classes)) {
    return absl::InvalidArgumentError(absl::StrCat("linear classification: a ", split, " label is outside [0, ",
                                                   num_classes, ")"));
  }
  return absl::OkStatus();
}

at::Tensor Labels(const LabeledImages& data) {
  return at::tensor(std::vector<int64_t>(data.labels.begin(), data.labels.end()), at::kLong);
}

// TrainLinearOnFeatures, with the time the whole evaluation started (for the total in the log).
absl::StatusOr<LinearProbeResult> TrainOnCachedFeatures(const at::Tensor& train_features, const at::Tensor& train_labels,
                                                        const at::Tensor& test_features, const at::Tensor& test_labels,
                                                        int num_classes, const LinearProbeOptions& options,
                                                        Clock::time_point started) {
  if (absl::Status s = CheckFeatures(train_features, train_labels, num_classes, "train"); !s.ok()) return s;
  if (absl::Status s = CheckFeatures(test_features, test_labels, num_classes, "test"); !s.ok()) return s;
  if (test_features.size(1) != train_features.size(1)) {
    return absl::InvalidArgumentError(absl::StrCat("linear classification: train features have ",
                                                   train_features.size(1), " dimensions, test features ",
                                                   test_features.size(1)));
  }
  const at::Tensor cached = train_features.to(options.device, at::kFloat);
  BatchFeatures batch = [&](const at::Tensor& indices, int64_t) -> absl::StatusOr<at::Tensor> {
    return cached.index_select(0, indices.to(options.device));
  };
  return TrainClassifier(train_labels, batch, train_features.size(1), test_features.to(at::kFloat), test_labels,
                         num_classes, options, /*log_within_epoch=*/false, started);
}

}  // namespace

LinearProbeOptions LinearProbeOptionsFor(const config::ExperimentConfig& config) {
  const auto& eval = config.eval();
  LinearProbeOptions options;
  options.epochs = eval.linear_epochs();
  options.lr = eval.linear_lr();
  options.weight_decay = eval.linear_weight_decay();
  options.lr_drop_epochs.assign(eval.linear_lr_drop_epochs().begin(), eval.linear_lr_drop_epochs().end());
  options.batch_size = eval.linear_batch_size();
  options.seed = config.run().seed();
  return options;
}

AugmentOptions LinearTrainView(const AugmentOptions& eval_view) {
  AugmentOptions view = eval_view;
  AugmentSteps steps;
  steps.min_crop_scale = 0.08;  // torchvision's RandomResizedCrop default
  steps.max_crop_scale = 1.0;
  steps.flip_p = 0.5;
  steps.jitter_p = 0.0;
  steps.grayscale_p = 0.0;
  steps.blur_p = 0.0;
  view.steps = steps;
  return view;
}

namespace {

// The probe's pooled features of `data`'s evaluation views, with progress lines.
absl::StatusOr<at::Tensor> PooledFeatures(ResNetImpl& encoder, const LabeledImages& data,
                                          const AugmentOptions& eval_view, const LinearProbeOptions& options,
                                          const std::string& what) {
  EncodeOptions encode;
  encode.features = Features::kPooled;
  encode.batch_size = std::max(options.batch_size, 256);
  encode.device = options.device;
  encode.threads = options.threads;
  encode.bf16 = options.bf16;
  encode.log = options.log;
  encode.what = options.log_prefix + " " + what + " features:";
  return EncodeImages(encoder, data, eval_view, encode);
}

}  // namespace

absl::StatusOr<LinearProbeResult> TrainLinearOnFeatures(const at::Tensor& train_features, const at::Tensor& train_labels,
                                                        const at::Tensor& test_features, const at::Tensor& test_labels,
                                                        int num_classes, const LinearProbeOptions& options) {
  return TrainOnCachedFeatures(train_features, train_labels, test_features, test_labels, num_classes, options,
                               Clock::now());
}

absl::StatusOr<LinearProbeResult> LinearProbeFast(ResNetImpl& encoder, const LabeledImages& train,
                                                  const LabeledImages& test, const AugmentOptions& eval_view,
                                                  const LinearProbeOptions& options) {
  const auto started = Clock::now();
  MOCO_ASSIGN_OR_RETURN(const at::Tensor train_features, PooledFeatures(encoder, train, eval_view, options, "train"));
  MOCO_ASSIGN_OR_RETURN(const at::Tensor test_features, PooledFeatures(encoder, test, eval_view, options, "test"));
  return TrainOnCachedFeatures(train_features, Labels(train), test_features, Labels(test),
                               static_cast<int>(train.class_names.size()), options, started);
}

absl::StatusOr<LinearProbeResult> LinearProbePaper(ResNetImpl& encoder, const LabeledImages& train,
                                                   const LabeledImages& test, const AugmentOptions& eval_view,
                                                   const LinearProbeOptions& options) {
  const auto started = Clock::now();
  const int num_classes = static_cast<int>(train.class_names.size());
  const at::Tensor train_labels = Labels(train), test_labels = Labels(test);
  if (absl::Status s = CheckFeatures(at::empty({train.size(), 1}), train_labels, num_classes, "train"); !s.ok()) return s;
  if (absl::Status s = CheckFeatures(at::empty({test.size(), 1}), test_labels, num_classes, "test"); !s.ok()) return s;
  // Copies of every weight and BN statistic, to check afterwards that the backbone stayed frozen.
  std::vector<at::Tensor> before;
  for (const auto& t : encoder.parameters()) before.push_back(t.detach().clone());
  for (const auto& t : encoder.buffers()) before.push_back(t.detach().clone());

  MOCO_ASSIGN_OR_RETURN(const at::Tensor test_features, PooledFeatures(encoder, test, eval_view, options, "test"));
  const AugmentOptions train_view = LinearTrainView(eval_view);
  const bool was_training = encoder.is_training();
  encoder.eval();
  const int size = train_view.out_size;
  BatchFeatures batch = [&](const at::Tensor& indices, int64_t epoch) -> absl::StatusOr<at::Tensor> {
    const int64_t count = indices.size(0);
    const int64_t view_floats = 3LL * size * size;
    at::Tensor views = at::empty({count, 3, size, size}, at::kFloat);
    float* out = views.data_ptr<float>();
    const int64_t* index = indices.data_ptr<int64_t>();
    MOCO_RETURN_IF_ERROR(ParallelForUntilError(count, options.threads, [&](int64_t i) -> absl::Status {
      const uint64_t seed = ViewSeed(options.seed, epoch, index[i], 0);
      DecodeScaleFn scale;  // full size unless data.decode FAST
      if (train_view.fast_decode) {
        scale = [&](int height, int width) { return TrainDecodeScale(height, width, train_view, &seed, 1); };
      }
      thread_local Image scratch;  // a streamed image, decoded here
      MOCO_ASSIGN_OR_RETURN(const ImageRef image, LoadImageScaled(train, index[i], &scratch, scale));
      AugmentView(image.pixels, image.height, image.width, image.channels, train_view, seed, out + i * view_floats);
      return absl::OkStatus();
    }));
    torch::NoGradGuard no_grad;
    Bf16Autocast autocast(options.device, options.bf16);
    return encoder.features(views.contiguous(at::MemoryFormat::ChannelsLast).to(options.device)).to(at::kFloat);
  };
  absl::StatusOr<LinearProbeResult> result =
      TrainClassifier(train_labels, batch, encoder.feature_dim(), test_features, test_labels, num_classes, options,
                      /*log_within_epoch=*/true, started);
  encoder.train(was_training);
  if (!result.ok()) return result;

  size_t i = 0;
  for (const auto& t : encoder.parameters()) {
    if (!at::equal(t.detach(), before[i++])) return absl::InternalError("linear classification: the encoder changed");
  }
  for (const auto& t : encoder.buffers()) {
    if (!at::equal(t.detach(), before[i++])) {
      return absl::InternalError("linear classification: the encoder's BN statistics changed");
    }
  }
  return result;
}

}  // namespace moco
