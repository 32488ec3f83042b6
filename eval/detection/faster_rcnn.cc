#include "eval/detection/faster_rcnn.h"

#include <ATen/ATen.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/batchnorm.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "eval/detection/ops.h"

namespace moco {
namespace {

namespace nn = torch::nn;

// Output channels of an encoder stage (its last block's).
int StageChannels(const ResNet& encoder, int stage) {
  const nn::Sequential layer = encoder->stage(stage);
  return layer->ptr(layer->size() - 1)->as<ResidualBlockImpl>()->out_channels();
}

// Sum of smooth-L1 (beta > 0) or L1 (beta == 0) over all elements.
at::Tensor BoxRegressionSum(const at::Tensor& input, const at::Tensor& target, double beta) {
  if (beta < 1e-5) return (input - target).abs().sum();
  return at::smooth_l1_loss(input, target, at::Reduction::Sum, beta);
}

// Labels {1: positive, 0: negative, -1: ignored} from MatchProposals' output (gt index, -1
// below the low threshold, -2 between the thresholds).
at::Tensor BinaryLabels(const at::Tensor& matched) {
  at::Tensor labels = at::full_like(matched, -1);
  labels.masked_fill_(matched >= 0, 1);
  labels.masked_fill_(matched == -1, 0);
  return labels;
}

void InitNormal(nn::Conv2d& conv, double std) {
  nn::init::normal_(conv->weight, 0.0, std);
  nn::init::zeros_(conv->bias);
}

void InitNormal(nn::Linear& linear, double std) {
  nn::init::normal_(linear->weight, 0.0, std);
  nn::init::zeros_(linear->bias);
}

// Image i's RPN losses, summed into *objectness and *box: its anchors matched to its ground truth
// `gt_boxes` (G x 4), a balanced sample of them (from `seed`, or torch's generator), and the
// objectness of the sample and the box regression of its positives.
void AddRpnLosses(const FasterRcnnOptions& options, const RpnOutputs& rpn, int64_t i, const at::Tensor& gt_boxes,
                  std::optional<uint64_t> seed, at::Tensor* objectness, at::Tensor* box) {
  const BoxCoder anchor_coder{{1.0, 1.0, 1.0, 1.0}};
  const at::TensorOptions real = rpn.objectness.options();
  at::Tensor matched = gt_boxes.size(0) > 0
                           ? MatchProposals(BoxIou(gt_boxes, rpn.anchors), options.rpn_foreground_iou(),
                                            options.rpn_background_iou(), /*allow_low_quality=*/true)
                           : at::full({rpn.anchors.size(0)}, -1, at::kLong);
  auto [pos, neg] = SampleBalanced(BinaryLabels(matched), options.rpn_batch_size_per_image(),
                                   options.rpn_positive_fraction(), seed);
  at::Tensor sampled = at::cat({pos, neg});
  at::Tensor targets = at::cat({at::ones({pos.size(0)}, real), at::zeros({neg.size(0)}, real)});
  *objectness = *objectness + at::binary_cross_entropy_with_logits(rpn.objectness[i].index_select(0, sampled),
                                                                   targets, {}, {}, at::Reduction::Sum);
  if (pos.size(0) > 0) {
    at::Tensor matched_gt = gt_boxes.index_select(0, matched.index_select(0, pos));
    at::Tensor target = anchor_coder.Encode(matched_gt, rpn.anchors.index_select(0, pos));  // pos x 4
    *box = *box + BoxRegressionSum(rpn.deltas[i].index_select(0, pos), target, options.rpn_smooth_l1_beta());
  }
}

}  // namespace

FasterRcnnC4Impl::FasterRcnnC4Impl(ResNet encoder, const FasterRcnnOptions& options)
    : options_(options), backbone_(std::move(encoder)) {
  TORCH_CHECK(options_.num_classes() >= 1, "FasterRcnnC4: num_classes must be >= 1, got ", options_.num_classes());
  TORCH_CHECK(backbone_->options().bn_splits() == 1, "FasterRcnnC4: the encoder must have bn_splits 1, got ",
              backbone_->options().bn_splits());
  TORCH_CHECK(!options_.anchor_sizes().empty() && !options_.aspect_ratios().empty(),
              "FasterRcnnC4: anchor_sizes and aspect_ratios must not be empty");
  TORCH_CHECK(options_.pooler_resolution() % 2 == 0, "FasterRcnnC4: pooler_resolution must be even, got ",
              options_.pooler_resolution());
  // Stem: stride 1 (CIFAR) or 4 (7x7/2 conv, 3x3/2 max-pool); layer2 and layer3 halve again.
  feature_stride_ = (backbone_->options().cifar_stem() ? 1 : 4) * 4;
  register_module("backbone", backbone_);
  const int res4 = StageChannels(backbone_, 3);
  const int res5 = StageChannels(backbone_, 4);
  const int anchors = num_anchor_kinds();
  rpn_conv_ = register_module("rpn_conv", nn::Conv2d(nn::Conv2dOptions(res4, res4, 3).padding(1)));
  rpn_objectness_ = register_module("rpn_objectness", nn::Conv2d(nn::Conv2dOptions(res4, anchors, 1)));
  rpn_deltas_ = register_module("rpn_deltas", nn::Conv2d(nn::Conv2dOptions(res4, 4 * anchors, 1)));
  cls_score_ = register_module("cls_score", nn::Linear(res5, options_.num_classes() + 1));
  bbox_pred_ = register_module("bbox_pred", nn::Linear(res5, 4 * options_.num_classes()));
  {
    at::NoGradGuard no_grad;
    InitNormal(rpn_conv_, 0.01);
    InitNormal(rpn_objectness_, 0.01);
    InitNormal(rpn_deltas_, 0.01);
    InitNormal(cls_score_, 0.01);
    InitNormal(bbox_pred_, 0.001);
  }
  // The encoder's projection head plays no part in detection.
  for (const auto& item : backbone_->named_parameters()) {
    if (item.key().rfind("fc.", 0) == 0) item.value().set_requires_grad(false);
  }
  if (options_.bn() == DetectorBatchNorm::kFrozen) {
    for (const auto& module : backbone_->modules(/*include_self=*/false)) {
      if (auto* bn = module->as<nn::BatchNorm2d>()) {
        bn->weight.set_requires_grad(false);
        bn->bias.set_requires_grad(false);
      }
    }
  }
  train(is_training());
}

int FasterRcnnC4Impl::num_anchor_kinds() const {
  return static_cast<int>(options_.anchor_sizes().size() * options_.aspect_ratios().size());
}

void FasterRcnnC4Impl::train(bool on) {
  torch::nn::Module::train(on);
  if (options_.bn() != DetectorBatchNorm::kFrozen) return;
  for (const auto& module : backbone_->modules(/*include_self=*/false)) {
    if (auto* bn = module->as<nn::BatchNorm2d>()) bn->eval();
  }
}

DetectorParameters FasterRcnnC4Impl::TrainableParameters() const {
  DetectorParameters parameters;
  std::vector<const at::Tensor*> norm_tensors;
  for (const auto& module : modules(/*include_self=*/false)) {
    if (auto* bn = module->as<nn::BatchNorm2d>()) {
      norm_tensors.push_back(&bn->weight);
      norm_tensors.push_back(&bn->bias);
    }
  }
  for (const at::Tensor& p : this->parameters()) {
    if (!p.requires_grad()) continue;
    const bool norm = std::any_of(norm_tensors.begin(), norm_tensors.end(),
                                  [&](const at::Tensor* t) { return t->is_same(p); });
    (norm ? parameters.norm : parameters.other).push_back(p);
  }
  return parameters;
}

at::Tensor FasterRcnnC4Impl::Features(const at::Tensor& images) {
  at::Tensor x = backbone_->stem(images);
  for (int stage = 1; stage <= 3; ++stage) x = backbone_->stage(stage)->forward(x);
  return x;  // N x C4 x H/s x W/s
}

RpnOutputs FasterRcnnC4Impl::Rpn(const at::Tensor& features) {
  const int64_t n = features.size(0), h = features.size(2), w = features.size(3);
  const int64_t a = num_anchor_kinds();
  at::Tensor hidden = rpn_conv_(features).relu_();
  RpnOutputs out;
  // N x A x H x W -> N x H x W x A -> N x (H W A): location-major, as the anchors.
  out.objectness = rpn_objectness_(hidden).permute({0, 2, 3, 1}).reshape({n, -1});
  // N x 4A x H x W -> N x A x 4 x H x W -> N x H x W x A x 4 -> N x (H W A) x 4.
  out.deltas = rpn_deltas_(hidden).view({n, a, 4, h, w}).permute({0, 3, 4, 1, 2}).reshape({n, -1, 4});
  out.anchors = GenerateAnchors(h, w, feature_stride_, options_.anchor_sizes(), options_.aspect_ratios())
                    .to(features.device(), at::kFloat);
  return out;
}

std::vector<at::Tensor> FasterRcnnC4Impl::Proposals(const RpnOutputs& rpn,
                                                    const std::vector<std::array<int64_t, 2>>& image_sizes) {
  at::NoGradGuard no_grad;
  const bool training = is_training();
  const int64_t pre_nms = training ? options_.rpn_pre_nms_top_n_train() : options_.rpn_pre_nms_top_n_test();
  const int64_t post_nms = training ? options_.rpn_post_nms_top_n_train() : options_.rpn_post_nms_top_n_test();
  const BoxCoder coder{{1.0, 1.0, 1.0, 1.0}};
  std::vector<at::Tensor> proposals;
  for (size_t i = 0; i < image_sizes.size(); ++i) {
    at::Tensor logits = rpn.objectness[i].detach();                    // (H W A)
    const int64_t k = std::min<int64_t>(pre_nms, logits.size(0));
    at::Tensor top = std::get<1>(logits.topk(k));                       // k, by decreasing score
    at::Tensor boxes = coder.Decode(rpn.deltas[i].detach().index_select(0, top), rpn.anchors.index_select(0, top));
    boxes = ClipBoxes(boxes, image_sizes[i][0], image_sizes[i][1]);
    at::Tensor scores = logits.index_select(0, top);
    // Drop empty and non-finite boxes (detectron2 keeps width, height > 0).
    at::Tensor finite = at::isfinite(boxes).all(1) & at::isfinite(scores);
    at::Tensor keep = at::nonzero(finite).squeeze(1);
    boxes = boxes.index_select(0, keep);
    scores = scores.index_select(0, keep);
    keep = KeepLargeBoxes(boxes, 1e-3);
    boxes = boxes.index_select(0, keep);
    scores = scores.index_select(0, keep);
    keep = Nms(boxes, scores, options_.rpn_nms_threshold());
    if (keep.size(0) > post_nms) keep = keep.slice(0, 0, post_nms);
    proposals.push_back(boxes.index_select(0, keep));  // P_i x 4
  }
  return proposals;
}

std::pair<at::Tensor, at::Tensor> FasterRcnnC4Impl::BoxHead(const at::Tensor& features, const at::Tensor& rois) {
  // K x C4 x R x R -> res5 -> K x C5 x R/2 x R/2 -> average pool -> K x C5.
  at::Tensor pooled = RoiAlign(features, rois, options_.pooler_resolution(), 1.0 / feature_stride_,
                               options_.pooler_sampling_ratio(), /*aligned=*/true);
  at::Tensor x = backbone_->stage(4)->forward(pooled).mean({2, 3});
  return {cls_score_(x), bbox_pred_(x)};  // K x (C + 1), K x 4C
}

DetectorLosses FasterRcnnC4Impl::Losses(const at::Tensor& images,
                                        const std::vector<std::array<int64_t, 2>>& image_sizes,
                                        const std::vector<ImageTargets>& targets,
                                        const std::vector<std::array<uint64_t, 2>>* sample_seeds) {
  const int64_t n = images.size(0);
  TORCH_CHECK(static_cast<int64_t>(image_sizes.size()) == n && static_cast<int64_t>(targets.size()) == n,
              "FasterRcnnC4::Losses: ", n, " images, ", image_sizes.size(), " sizes, ", targets.size(), " targets");
  TORCH_CHECK(sample_seeds == nullptr || static_cast<int64_t>(sample_seeds->size()) == n, "FasterRcnnC4::Losses: ", n,
              " images, ", sample_seeds == nullptr ? 0 : sample_seeds->size(), " sample seeds");
  const auto seed = [&](int64_t i, int which) -> std::optional<uint64_t> {
    if (sample_seeds == nullptr) return std::nullopt;
    return (*sample_seeds)[i][which];
  };
  const int num_classes = options_.num_classes();
  at::Tensor features = Features(images);
  RpnOutputs rpn = Rpn(features);
  std::vector<at::Tensor> proposals = Proposals(rpn, image_sizes);

  // RPN: sample anchors per image; both losses normalised by the sample budget of the batch.
  at::Tensor rpn_objectness = at::zeros({}, features.options());
  at::Tensor rpn_box = at::zeros({}, features.options());
  // RoI head: proposals plus the ground truth, sampled per image.
  const BoxCoder roi_coder{{10.0, 10.0, 5.0, 5.0}};
  std::vector<at::Tensor> rois, roi_classes, fg_rows, fg_targets;
  int64_t roi_offset = 0;
  for (int64_t i = 0; i < n; ++i) {
    const at::Tensor gt_boxes = targets[i].boxes.to(features.device(), at::kFloat);  // G x 4
    const at::Tensor gt_labels = targets[i].labels.to(features.device(), at::kLong);  // G
    const int64_t g = gt_boxes.size(0);

    AddRpnLosses(options_, rpn, i, gt_boxes, seed(i, 0), &rpn_objectness, &rpn_box);

    at::Tensor candidates = g > 0 ? at::cat({proposals[i], gt_boxes}) : proposals[i];  // P' x 4
    at::Tensor roi_matched = g > 0 ? MatchProposals(BoxIou(gt_boxes, candidates), options_.roi_foreground_iou(),
                                                    options_.roi_foreground_iou(), /*allow_low_quality=*/false)
                                   : at::full({candidates.size(0)}, -1, at::kLong);
    auto [fg, bg] = SampleBalanced(BinaryLabels(roi_matched), options_.roi_batch_size_per_image(),
                                   options_.roi_positive_fraction(), seed(i, 1));
    at::Tensor chosen = at::cat({fg, bg});
    at::Tensor boxes = candidates.index_select(0, chosen);  // S x 4
    rois.push_back(at::cat({at::full({boxes.size(0), 1}, static_cast<double>(i), boxes.options()), boxes}, 1));
    at::Tensor classes = at::full({chosen.size(0)}, num_classes, at::TensorOptions().dtype(at::kLong).device(boxes.device()));
    if (fg.size(0) > 0) {
      at::Tensor fg_gt = roi_matched.index_select(0, fg);
      classes.slice(0, 0, fg.size(0)).copy_(gt_labels.index_select(0, fg_gt));
      fg_rows.push_back(at::arange(roi_offset, roi_offset + fg.size(0), classes.options()));
      fg_targets.push_back(roi_coder.Encode(gt_boxes.index_select(0, fg_gt), candidates.index_select(0, fg)));
    }
    roi_classes.push_back(classes);
    roi_offset += chosen.size(0);
  }
  const double rpn_normaliser = static_cast<double>(options_.rpn_batch_size_per_image()) * n;

  at::Tensor all_rois = at::cat(rois);            // K x 5
  at::Tensor all_classes = at::cat(roi_classes);  // K, background = num_classes
  auto [logits, deltas] = BoxHead(features, all_rois);
  DetectorLosses losses;
  losses.rpn_objectness = rpn_objectness / rpn_normaliser;
  losses.rpn_box = rpn_box / rpn_normaliser;
  losses.roi_classifier = at::cross_entropy_loss(logits, all_classes);
  losses.roi_box = at::zeros({}, logits.options());
  if (!fg_rows.empty()) {
    at::Tensor rows = at::cat(fg_rows);  // F
    at::Tensor cls = all_classes.index_select(0, rows);
    // K x 4C -> K x C x 4; each foreground RoI regresses the deltas of its own class.
    at::Tensor fg_deltas = deltas.view({deltas.size(0), num_classes, 4}).index({rows, cls});  // F x 4
    losses.roi_box = BoxRegressionSum(fg_deltas, at::cat(fg_targets), options_.roi_smooth_l1_beta()) /
                     static_cast<double>(std::max<int64_t>(1, all_rois.size(0)));
  }
  return losses;
}

std::vector<ImageDetections> FasterRcnnC4Impl::Detect(const at::Tensor& images,
                                                      const std::vector<std::array<int64_t, 2>>& image_sizes) {
  const int num_classes = options_.num_classes();
  at::Tensor features = Features(images);
  std::vector<at::Tensor> proposals = Proposals(Rpn(features), image_sizes);
  std::vector<at::Tensor> rois;
  for (size_t i = 0; i < proposals.size(); ++i) {
    const at::Tensor& p = proposals[i];
    rois.push_back(at::cat({at::full({p.size(0), 1}, static_cast<double>(i), p.options()), p}, 1));
  }
  auto [logits, deltas] = BoxHead(features, at::cat(rois));
  at::Tensor probabilities = logits.softmax(1);  // K x (C + 1)
  const BoxCoder coder{{10.0, 10.0, 5.0, 5.0}};
  std::vector<ImageDetections> detections;
  int64_t offset = 0;
  for (size_t i = 0; i < proposals.size(); ++i) {
    const int64_t k = proposals[i].size(0);
    at::Tensor scores = probabilities.slice(0, offset, offset + k).slice(1, 0, num_classes);  // k x C
    // Each proposal decoded once per class: k x 4C -> k x C x 4.
    at::Tensor boxes = coder.Decode(deltas.slice(0, offset, offset + k), proposals[i]);
    boxes = ClipBoxes(boxes, image_sizes[i][0], image_sizes[i][1]).view({k, num_classes, 4});
    offset += k;
    at::Tensor candidates = at::nonzero(scores > options_.score_threshold());  // M x 2: (proposal, class)
    at::Tensor rows = candidates.select(1, 0), cls = candidates.select(1, 1);
    at::Tensor kept_boxes = boxes.index({rows, cls});  // M x 4
    at::Tensor kept_scores = scores.index({rows, cls});
    at::Tensor keep = BatchedNms(kept_boxes, kept_scores, cls, options_.nms_threshold());
    if (keep.size(0) > options_.detections_per_image()) keep = keep.slice(0, 0, options_.detections_per_image());
    detections.push_back({kept_boxes.index_select(0, keep), kept_scores.index_select(0, keep), cls.index_select(0, keep)});
  }
  return detections;
}

}  // namespace moco
