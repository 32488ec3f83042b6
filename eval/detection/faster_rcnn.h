// Faster R-CNN with the C4 design (Ren et al. 2015, as detectron2's R50-C4 and the MoCo paper's
// PASCAL VOC experiments) on an encoder of this suite: the stem and res2..res4 (layer1..layer3)
// give one feature map; an RPN on it proposes boxes; RoIAlign crops each proposal from res4
// and res5 (layer4, its first block of stride 2) is the box head, followed by global average
// pooling, a classifier over C + 1 classes (background last) and class-specific box deltas.
//
//   FasterRcnnOptions options(/*num_classes=*/1);
//   options.anchor_sizes({16, 32, 64, 128, 256}).bn(DetectorBatchNorm::kTrained);
//   FasterRcnnC4 model(ResNet(ResNetOptions(18).width_multiplier(0.25).cifar_stem(true)), options);
//   model->train();
//   DetectorLosses losses = model->Losses(images, image_sizes, targets);  // images: N x 3 x H x W
//   losses.Total().backward();
//   model->eval();
//   std::vector<ImageDetections> found = model->Detect(images, image_sizes);
//
// Batch norm (the paper's "normalized fine-tuning"): with kTrained every BN of the backbone
// and of the res5 head normalises with batch statistics in train mode and learns its affine
// parameters; with kFrozen every BN uses the encoder's stored statistics and its affine
// parameters do not train (FrozenBatchNorm), in train mode too. Statistics are per process
// unless the backbone's SynchronizeBatchNorm synchronises them (several processes).
//
// Boxes are (x1, y1, x2, y2) in the pixels of the (resized) input image, continuous
// coordinates (width = x2 - x1), labels 0..num_classes-1. The anchors of a feature map are
// location-major (row, column), then anchor kind (GenerateAnchors in ops.h); the RPN's
// objectness channel a and delta channels 4a..4a+3 belong to anchor kind a.
#ifndef MOCO_EVAL_DETECTION_FASTER_RCNN_H_
#define MOCO_EVAL_DETECTION_FASTER_RCNN_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <cstdint>
#include <vector>

#include "moco/models/resnet.h"

namespace moco {

enum class DetectorBatchNorm {
  kTrained,  // batch statistics in training, affine parameters learned (the paper)
  kFrozen,   // stored statistics, frozen affine parameters
};

// Defaults are detectron2's R50-C4 values; see DetectionEvalConfig in configs/experiment.proto.
struct FasterRcnnOptions {
  explicit FasterRcnnOptions(int num_classes) : num_classes_(num_classes) {}
  /// Foreground classes.
  TORCH_ARG(int, num_classes);
  /// Anchor sides in input pixels and aspect ratios (height / width); A = sizes x ratios.
  TORCH_ARG(std::vector<double>, anchor_sizes) = std::vector<double>{32, 64, 128, 256, 512};
  TORCH_ARG(std::vector<double>, aspect_ratios) = std::vector<double>{0.5, 1.0, 2.0};
  /// Proposals: best-scoring anchors kept before NMS, NMS IoU, proposals kept after, per image.
  TORCH_ARG(int, rpn_pre_nms_top_n_train) = 12000;
  TORCH_ARG(int, rpn_post_nms_top_n_train) = 2000;
  TORCH_ARG(int, rpn_pre_nms_top_n_test) = 6000;
  TORCH_ARG(int, rpn_post_nms_top_n_test) = 1000;
  TORCH_ARG(double, rpn_nms_threshold) = 0.7;
  /// RPN loss: anchors sampled per image, positive share, IoU thresholds, smooth-L1 beta (0: L1).
  TORCH_ARG(int, rpn_batch_size_per_image) = 256;
  TORCH_ARG(double, rpn_positive_fraction) = 0.5;
  TORCH_ARG(double, rpn_foreground_iou) = 0.7;
  TORCH_ARG(double, rpn_background_iou) = 0.3;
  TORCH_ARG(double, rpn_smooth_l1_beta) = 0.0;
  /// RoI head loss: RoIs sampled per image, foreground share and IoU, smooth-L1 beta (0: L1).
  TORCH_ARG(int, roi_batch_size_per_image) = 512;
  TORCH_ARG(double, roi_positive_fraction) = 0.25;
  TORCH_ARG(double, roi_foreground_iou) = 0.5;
  TORCH_ARG(double, roi_smooth_l1_beta) = 0.0;
  /// RoIAlign output side and samples per bin side (aligned = true).
  TORCH_ARG(int, pooler_resolution) = 14;
  TORCH_ARG(int, pooler_sampling_ratio) = 2;
  /// Inference: minimum class score, per-class NMS IoU, detections kept per image.
  TORCH_ARG(double, score_threshold) = 0.05;
  TORCH_ARG(double, nms_threshold) = 0.5;
  TORCH_ARG(int, detections_per_image) = 100;
  TORCH_ARG(DetectorBatchNorm, bn) = DetectorBatchNorm::kTrained;
};

// One image's ground truth, in input pixels: boxes G x 4 float, labels G int64.
struct ImageTargets {
  at::Tensor boxes;
  at::Tensor labels;
};

// One image's detections, best first: boxes K x 4, scores K, labels K int64.
struct ImageDetections {
  at::Tensor boxes;
  at::Tensor scores;
  at::Tensor labels;
};

// The four losses of a training step, each a scalar.
struct DetectorLosses {
  at::Tensor rpn_objectness;  // BCE over the sampled anchors
  at::Tensor rpn_box;         // box regression of the positive anchors
  at::Tensor roi_classifier;  // cross-entropy over the sampled RoIs (C + 1 classes)
  at::Tensor roi_box;         // class-specific box regression of the foreground RoIs
  at::Tensor Total() const { return rpn_objectness + rpn_box + roi_classifier + roi_box; }
};

// The RPN's raw outputs over a batch.
struct RpnOutputs {
  at::Tensor objectness;  // N x (H' * W' * A) logits
  at::Tensor deltas;      // N x (H' * W' * A) x 4
  at::Tensor anchors;     // (H' * W' * A) x 4, shared by the batch
};

// Parameters the optimizer updates, split so that BN affine parameters can get their own
// weight decay (detectron2's WEIGHT_DECAY_NORM).
struct DetectorParameters {
  std::vector<at::Tensor> norm;   // BN weights and biases (empty with kFrozen)
  std::vector<at::Tensor> other;  // convolutions, RPN, predictors
};

class FasterRcnnC4Impl : public torch::nn::Module {
 public:
  // `encoder` becomes the backbone (registered as "backbone"; its fc head is unused and
  // frozen). It must have bn_splits 1. New layers are initialised from the global torch RNG:
  // normal std 0.01 (0.001 for bbox_pred), zero bias.
  FasterRcnnC4Impl(ResNet encoder, const FasterRcnnOptions& options);

  // Input pixels per res4 cell: 16 with the ImageNet stem, 4 with the CIFAR stem.
  int feature_stride() const { return feature_stride_; }
  int num_anchor_kinds() const;
  const FasterRcnnOptions& options() const { return options_; }
  // The encoder: res2-res4 and the stem make the features, res5 the box head.
  ResNet backbone() const { return backbone_; }

  // images: N x 3 x H x W (normalised, zero-padded) -> res4 features N x C4 x H/s x W/s
  // (rounded up).
  at::Tensor Features(const at::Tensor& images);
  // The RPN on res4 features.
  RpnOutputs Rpn(const at::Tensor& features);
  // Per image (image_sizes: the (height, width) of each before padding): decode the top
  // pre-NMS anchors, clip, drop empty boxes, NMS, keep the top post-NMS. Uses the train or
  // test counts by is_training(). No gradient flows through the proposals: P_i x 4 each.
  std::vector<at::Tensor> Proposals(const RpnOutputs& rpn, const std::vector<std::array<int64_t, 2>>& image_sizes);
  // RoIs K x 5 (batch index, x1, y1, x2, y2) -> class logits K x (C + 1), deltas K x 4C.
  std::pair<at::Tensor, at::Tensor> BoxHead(const at::Tensor& features, const at::Tensor& rois);

  // A training step's losses (call in train mode). Crowd boxes must already be removed. Anchors
  // and RoIs are sampled from torch's global generator, image after image, unless
  // `sample_seeds` gives each image a generator of its own (SampleBalanced's seed): two per
  // image, its anchors' then its RoIs'.
  DetectorLosses Losses(const at::Tensor& images, const std::vector<std::array<int64_t, 2>>& image_sizes,
                        const std::vector<ImageTargets>& targets,
                        const std::vector<std::array<uint64_t, 2>>* sample_seeds = nullptr);
  // Inference (call in eval mode, under NoGradGuard): softmax scores, per-class decoded and
  // clipped boxes, score > score_threshold, per-class NMS, the best detections_per_image.
  std::vector<ImageDetections> Detect(const at::Tensor& images, const std::vector<std::array<int64_t, 2>>& image_sizes);

  // Module::train, except that with kFrozen every BN stays in eval mode.
  void train(bool on = true) override;
  DetectorParameters TrainableParameters() const;

 private:
  FasterRcnnOptions options_;
  int feature_stride_ = 0;
  ResNet backbone_{nullptr};
  torch::nn::Conv2d rpn_conv_{nullptr}, rpn_objectness_{nullptr}, rpn_deltas_{nullptr};
  torch::nn::Linear cls_score_{nullptr}, bbox_pred_{nullptr};
};
TORCH_MODULE(FasterRcnnC4);

}  // namespace moco

#endif  // MOCO_EVAL_DETECTION_FASTER_RCNN_H_
