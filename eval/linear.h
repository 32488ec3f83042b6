// The linear classification protocol (MoCo paper, section 4.1; main_lincls.py of the official
// code): a fully connected classifier on the frozen encoder's pooled features (encoder in eval
// mode, no gradient through it), trained with SGD (momentum 0.9, lr 30, weight decay 0, 100
// epochs, lr x 0.1 at epochs 60 and 80, batch 256 in the paper; EvalConfig's linear_* fields),
// and its top-1 / top-5 accuracy on the test split (ClassificationEvaluator).
//
// Two modes:
//   paper: each epoch draws new random views of the training images (LinearTrainView:
//          RandomResizedCrop with scale 0.08-1 and a horizontal flip, no colour ops, as
//          main_lincls.py; the same for CIFAR-size images, where CIFAR papers often use a padded
//          RandomCrop(32, 4) that the augment code does not have), features recomputed each step.
//   fast:  the pooled features of the evaluation view of every train and test image are
//          computed once and kept in memory; the classifier trains on them (minutes on a CPU for
//          CIFAR-10). Features stay raw, as in the paper: no standardisation or L2
//          normalisation. lr 30 suits the small pooled features of a ResNet-50 after BN and
//          ReLU; other encoders may want another eval.linear_lr.
// The reported accuracy is the last epoch's (main_lincls.py reports the best epoch on the
// validation set, which is the test set there).
//
//   LinearProbeOptions options = LinearProbeOptionsFor(config);  // resolved config
//   options.log = &std::cout;
//   MOCO_ASSIGN_OR_RETURN(LinearProbeResult r, LinearProbeFast(*encoder, train, test, view, options));
//   // r.metrics: {"top1": 61.2, "top5": 96.0}
#ifndef MOCO_EVAL_LINEAR_H_
#define MOCO_EVAL_LINEAR_H_

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "configs/experiment.pb.h"
#include "eval/evaluator.h"
#include "moco/augment/augment.h"
#include "moco/data/image.h"
#include "moco/models/resnet.h"

namespace moco {

struct LinearProbeOptions {
  int epochs = 100;
  double lr = 30.0;
  double momentum = 0.9;
  double weight_decay = 0.0;
  // The lr is multiplied by lr_drop_factor at the start of each of these epochs (0-based count
  // of epochs done: {60, 80} drops before the 61st and 81st).
  std::vector<int> lr_drop_epochs = {60, 80};
  double lr_drop_factor = 0.1;
  int batch_size = 256;
  // Seeds the classifier's initialisation, the epoch order and (paper mode) the views.
  uint64_t seed = 0;
  // Augmentation and decoding threads (0: one per core).
  int threads = 0;
  c10::Device device = c10::Device(c10::kCPU);
  // The encoder's feature passes under bf16 autocast (run.precision, resolved by PickBf16).
  bool bf16 = false;
  // Progress lines (one per epoch, with ETA) go here; nullptr silences them.
  std::ostream* log = nullptr;
  // Starts every progress line, e.g. "[linear_fast]".
  std::string log_prefix = "[linear]";
  // Called after each epoch with its mean training loss and top-1 (%) and its lr (the
  // evaluation runs write them to TensorBoard); may be empty.
  std::function<void(int epoch, double train_loss, double train_top1, double lr)> on_epoch;
};

// The options of a resolved config: eval.linear_* and run.seed.
LinearProbeOptions LinearProbeOptionsFor(const config::ExperimentConfig& config);

struct LinearProbeResult {
  Metrics metrics;          // "top1", "top5" on the test split, in %
  double train_loss = 0;    // mean cross-entropy over the last epoch
  double train_top1 = 0;    // top-1 on the training batches of the last epoch, in %
  double seconds = 0;       // wall time, feature extraction included
};

// The training views of the paper mode: `eval_view`'s size and normalisation, with
// RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3) and a horizontal flip only.
AugmentOptions LinearTrainView(const AugmentOptions& eval_view);

// Trains the classifier on fixed features (rows of train_features, N x D; labels int64 N) and
// evaluates it on test_features. The core of the fast mode, exposed for tests. Errors:
// mismatched shapes or labels outside [0, num_classes), and a non-finite loss (lr too high).
absl::StatusOr<LinearProbeResult> TrainLinearOnFeatures(const at::Tensor& train_features, const at::Tensor& train_labels,
                                                        const at::Tensor& test_features, const at::Tensor& test_labels,
                                                        int num_classes, const LinearProbeOptions& options);

// Fast mode: the pooled features of both splits once (EncodeImages, moco/train/knn_monitor.h),
// then TrainLinearOnFeatures.
absl::StatusOr<LinearProbeResult> LinearProbeFast(ResNetImpl& encoder, const LabeledImages& train,
                                                  const LabeledImages& test, const AugmentOptions& eval_view,
                                                  const LinearProbeOptions& options);

// Paper mode: new LinearTrainView views of the training images every epoch, features
// recomputed every step; the test split through its evaluation view. Fails if the encoder's
// weights or BN statistics changed during training (main_lincls.py's sanity check).
absl::StatusOr<LinearProbeResult> LinearProbePaper(ResNetImpl& encoder, const LabeledImages& train,
                                                   const LabeledImages& test, const AugmentOptions& eval_view,
                                                   const LinearProbeOptions& options);

}  // namespace moco

#endif  // MOCO_EVAL_LINEAR_H_
