// The building blocks of a Faster R-CNN: box geometry, non-maximum suppression, RoIAlign,
// the box parametrisation, anchors, proposal-to-ground-truth matching and balanced sampling.
// All are ATen tensor ops, so they run on the CPU and on CUDA; each follows the torchvision
// function named beside it (same numbers to float rounding), and RoiAlign is differentiable
// with respect to the features through autograd.
//
//   at::Tensor anchors = GenerateAnchors(feature_h, feature_w, 16, {32, 64, 128}, {0.5, 1.0, 2.0});
//   BoxCoder coder{{1.0, 1.0, 1.0, 1.0}};
//   at::Tensor boxes = ClipBoxes(coder.Decode(rpn_deltas, anchors), image_h, image_w);
//   at::Tensor keep = Nms(boxes, objectness, 0.7);                       // kept indices, best first
//   at::Tensor matches = MatchProposals(BoxIou(gt_boxes, proposals), 0.5, 0.5, false);
//   at::Tensor rois = at::cat({at::zeros({proposals.size(0), 1}), proposals}, 1);  // image 0
//   at::Tensor pooled = RoiAlign(features, rois, 14, 1.0 / 16, 2, true);  // K x C x 14 x 14
//
// Boxes are N x 4 tensors (x1, y1, x2, y2) in continuous coordinates: a box's width is
// x2 - x1. Index results are int64 tensors on the inputs' device.
#ifndef MOCO_EVAL_DETECTION_OPS_H_
#define MOCO_EVAL_DETECTION_OPS_H_

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace moco {

// (x2 - x1) * (y2 - y1) of each box: N.
at::Tensor BoxArea(const at::Tensor& boxes);

// Intersection over union of every pair: N x M, as torchvision.ops.box_iou (0 / 0 is NaN).
at::Tensor BoxIou(const at::Tensor& a, const at::Tensor& b);

// Greedy non-maximum suppression, as torchvision.ops.nms: visiting boxes by decreasing score
// (equal scores in index order), a box is kept unless its IoU with an already kept box is
// strictly greater than `iou_threshold`. Returns the kept indices (int64), best score first.
// The greedy loop runs on the CPU (CUDA inputs are copied there; the result goes back).
at::Tensor Nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold);

// Nms within each label independently (torchvision.ops.batched_nms): boxes of different
// labels never suppress each other. `labels` is an integer N vector. Result sorted by
// decreasing score.
at::Tensor BatchedNms(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& labels,
                      double iou_threshold);

// RoIAlign, as torchvision.ops.roi_align(features, rois, output_size, spatial_scale,
// sampling_ratio, aligned). features: N x C x H x W; rois: K x 5 (batch index, x1, y1, x2, y2)
// in image coordinates (multiplied by spatial_scale to reach the feature map); returns
// K x C x S x S with S = output_size. Each output bin averages sampling_ratio^2 bilinear
// samples (sampling_ratio must be > 0: torchvision's adaptive count is not supported).
// Differentiable with respect to `features` (not the rois, which are treated as constants).
//
// The sampling is separable: along the longer axis every bin reads 2 * sampling_ratio rows of
// the map (one embedding_bag, weighted), along the other the bins' weights form a small dense
// matrix (one batched GEMM). Chunks of RoIs bound the intermediate to about 64 MB.
at::Tensor RoiAlign(const at::Tensor& features, const at::Tensor& rois, int output_size, double spatial_scale,
                    int sampling_ratio, bool aligned);

// The Faster R-CNN box parametrisation, as torchvision's BoxCoder: for a proposal of width
// w, height h and centre (x, y) = (x1 + w / 2, y1 + h / 2) and a target (w', h', x', y'),
// deltas = (wx (x' - x) / w, wy (y' - y) / h, ww log(w' / w), wh log(h' / h)).
struct BoxCoder {
  std::array<double, 4> weights{1.0, 1.0, 1.0, 1.0};  // wx, wy, ww, wh

  // targets, proposals: N x 4 -> deltas N x 4.
  at::Tensor Encode(const at::Tensor& targets, const at::Tensor& proposals) const;
  // deltas: N x 4 (or N x 4k, k boxes per proposal, as class-specific regression gives),
  // proposals: N x 4 -> boxes of the shape of `deltas`. dw, dh are clamped at log(1000 / 16).
  at::Tensor Decode(const at::Tensor& deltas, const at::Tensor& proposals) const;
};

// Clamps x into [0, width] and y into [0, height] (torchvision.ops.clip_boxes_to_image).
// boxes: N x 4k.
at::Tensor ClipBoxes(const at::Tensor& boxes, int64_t height, int64_t width);

// Indices (int64) of the boxes with width >= min_size and height >= min_size
// (torchvision.ops.remove_small_boxes).
at::Tensor KeepLargeBoxes(const at::Tensor& boxes, double min_size);

// Anchors over a feature_h x feature_w map with `stride` image pixels per cell, as
// torchvision's AnchorGenerator(sizes=(sizes,), aspect_ratios=(aspect_ratios,)) gives for one
// feature map: cells in row-major order, and in each cell A = |sizes| * |aspect_ratios| boxes,
// aspect ratio outer, size inner. The box of size s and ratio r (height / width) has width
// s / sqrt(r) and height s * sqrt(r), its corners rounded (half to even) and centred on
// (x * stride, y * stride). Returns (feature_h * feature_w * A) x 4 float32 on the CPU.
at::Tensor GenerateAnchors(int64_t feature_h, int64_t feature_w, int64_t stride, const std::vector<double>& sizes,
                           const std::vector<double>& aspect_ratios);

// Proposal-to-ground-truth matching, as torchvision's Matcher. iou: M x N (ground truths x
// proposals). For each proposal: the index of its best ground truth if that IoU >= high, -2
// if low <= IoU < high, -1 if IoU < low. allow_low_quality: each ground truth's best
// proposals (every proposal that ties for its maximum) keep their best match whatever the
// IoU. With M = 0 every proposal gets -1 (torchvision raises instead).
at::Tensor MatchProposals(const at::Tensor& iou, double high, double low, bool allow_low_quality);

// Random balanced sampling, as torchvision's BalancedPositiveNegativeSampler for one image:
// labels (N, integer: >= 1 positive, 0 negative, -1 ignored) -> (positive indices, negative
// indices), at most int(batch * positive_fraction) positives and batch minus the positives
// taken negatives, each a random subset in random order. Draws two torch.randperm from the
// global generator of the labels' device, in torchvision's order, so a seeded run picks
// the same indices as torchvision; with `seed`, from a CPU generator of that seed instead (the
// same indices on any device and in any process).
std::pair<at::Tensor, at::Tensor> SampleBalanced(const at::Tensor& labels, int64_t batch, double positive_fraction,
                                                 std::optional<uint64_t> seed = std::nullopt);

}  // namespace moco

#endif  // MOCO_EVAL_DETECTION_OPS_H_
