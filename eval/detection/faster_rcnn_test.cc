#include "eval/detection/faster_rcnn.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include <cmath>
#include <map>
#include <string>

#include "eval/detection/ops.h"

namespace moco {
namespace {

ResNet TinyEncoder(bool cifar_stem) {
  return ResNet(ResNetOptions(18).width_multiplier(0.125).cifar_stem(cifar_stem));
}

FasterRcnnOptions TinyOptions(int num_classes) {
  return FasterRcnnOptions(num_classes)
      .anchor_sizes({8, 16, 32})
      .aspect_ratios({0.5, 1.0, 2.0})
      .rpn_pre_nms_top_n_train(500)
      .rpn_post_nms_top_n_train(100)
      .rpn_pre_nms_top_n_test(300)
      .rpn_post_nms_top_n_test(50)
      .roi_batch_size_per_image(64)
      .detections_per_image(20);
}

// Two images of different sizes, zero-padded to 64 x 96, one box each.
struct TinyBatch {
  at::Tensor images = at::randn({2, 3, 64, 96});
  std::vector<std::array<int64_t, 2>> sizes = {{64, 96}, {48, 80}};
  std::vector<ImageTargets> targets = {
      {at::tensor({10.f, 12.f, 40.f, 50.f}).view({1, 4}), at::tensor({int64_t{0}})},
      {at::tensor({30.f, 5.f, 70.f, 30.f, 2.f, 2.f, 20.f, 40.f}).view({2, 4}), at::tensor({int64_t{0}, int64_t{0}})}};
  TinyBatch() { images.slice(2, 48).select(0, 1).zero_(); }
};

TEST(FasterRcnnC4, FeatureStrideFollowsTheStem) {
  torch::manual_seed(0);
  FasterRcnnC4 cifar(TinyEncoder(true), TinyOptions(1));
  FasterRcnnC4 imagenet(TinyEncoder(false), TinyOptions(1));
  EXPECT_EQ(cifar->feature_stride(), 4);
  EXPECT_EQ(imagenet->feature_stride(), 16);
  at::NoGradGuard no_grad;
  // res4 of a width-0.125 ResNet-18: 256 / 8 = 32 channels.
  EXPECT_EQ(cifar->Features(at::zeros({1, 3, 64, 96})).sizes(), (std::vector<int64_t>{1, 32, 16, 24}));
  EXPECT_EQ(imagenet->Features(at::zeros({1, 3, 64, 96})).sizes(), (std::vector<int64_t>{1, 32, 4, 6}));
}

TEST(FasterRcnnC4, RpnShapesAndAnchorOrder) {
  torch::manual_seed(0);
  FasterRcnnC4 model(TinyEncoder(true), TinyOptions(1));
  model->eval();
  at::NoGradGuard no_grad;
  TinyBatch batch;
  RpnOutputs rpn = model->Rpn(model->Features(batch.images));
  const int64_t a = 9, cells = 16 * 24;
  EXPECT_EQ(model->num_anchor_kinds(), a);
  EXPECT_EQ(rpn.objectness.sizes(), (std::vector<int64_t>{2, cells * a}));
  EXPECT_EQ(rpn.deltas.sizes(), (std::vector<int64_t>{2, cells * a, 4}));
  EXPECT_EQ(rpn.anchors.sizes(), (std::vector<int64_t>{cells * a, 4}));
  // Anchor kind 4 (ratio 1, size 16) of the cell at row 2, column 5 is centred on (5 * 4, 2 * 4),
  // 16 pixels a side.
  at::Tensor anchor = rpn.anchors[(2 * 24 + 5) * a + 4];
  EXPECT_FLOAT_EQ(anchor[0].item<float>(), 20 - 8);
  EXPECT_FLOAT_EQ(anchor[1].item<float>(), 8 - 8);
  EXPECT_FLOAT_EQ(anchor[2].item<float>(), 20 + 8);
  EXPECT_FLOAT_EQ(anchor[3].item<float>(), 8 + 8);

  // The objectness of an anchor is channel a of its cell: compare with a direct evaluation.
  at::Tensor features = model->Features(batch.images);
  auto named = model->named_parameters();
  at::Tensor hidden = at::conv2d(features, named["rpn_conv.weight"], named["rpn_conv.bias"], 1, 1).relu();
  at::Tensor logits = at::conv2d(hidden, named["rpn_objectness.weight"], named["rpn_objectness.bias"]);
  at::Tensor deltas = at::conv2d(hidden, named["rpn_deltas.weight"], named["rpn_deltas.bias"]);
  const int64_t row = 7, col = 11, kind = 6;
  const int64_t index = (row * 24 + col) * a + kind;
  EXPECT_FLOAT_EQ(rpn.objectness[1][index].item<float>(), logits[1][kind][row][col].item<float>());
  for (int j = 0; j < 4; ++j) {
    EXPECT_FLOAT_EQ(rpn.deltas[1][index][j].item<float>(), deltas[1][4 * kind + j][row][col].item<float>());
  }

  // Proposals: at most post-NMS top-n per image, inside each image's own size, non-empty.
  std::vector<at::Tensor> proposals = model->Proposals(rpn, batch.sizes);
  ASSERT_EQ(proposals.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const at::Tensor& p = proposals[i];
    ASSERT_EQ(p.dim(), 2);
    EXPECT_EQ(p.size(1), 4);
    EXPECT_GT(p.size(0), 0);
    EXPECT_LE(p.size(0), 50);
    EXPECT_GE(p.min().item<float>(), 0.0f);
    EXPECT_LE(p.select(1, 2).max().item<float>(), batch.sizes[i][1]);
    EXPECT_LE(p.select(1, 3).max().item<float>(), batch.sizes[i][0]);
    EXPECT_TRUE((p.select(1, 2) > p.select(1, 0)).all().item<bool>());
    // No two kept proposals overlap by more than the NMS threshold.
    at::Tensor iou = BoxIou(p, p) - at::eye(p.size(0));
    EXPECT_LE(iou.max().item<float>(), 0.7f + 1e-5f);
  }
  model->train();
  EXPECT_LE(model->Proposals(rpn, batch.sizes)[0].size(0), 100);
}

TEST(FasterRcnnC4, InitialLossesAreThoseOfNearZeroLogits) {
  torch::manual_seed(1);
  FasterRcnnC4 model(TinyEncoder(true), TinyOptions(1));
  model->train();
  TinyBatch batch;
  DetectorLosses losses = model->Losses(batch.images, batch.sizes, batch.targets);
  // New layers start with weights of std 0.01, so every logit is close to 0: binary
  // cross-entropy log 2 per sampled anchor (each image has >= 256 anchors to sample, so the
  // normaliser equals the number sampled), and cross-entropy log(C + 1) = log 2 per RoI. The
  // pooled res5 features (64 channels after BN and ReLU, norm about 6) put the two class logits
  // within about +-0.1 of each other, hence the wider tolerance there.
  EXPECT_NEAR(losses.rpn_objectness.item<double>(), std::log(2.0), 0.02);
  EXPECT_NEAR(losses.roi_classifier.item<double>(), std::log(2.0), 0.1);
  EXPECT_GT(losses.rpn_box.item<double>(), 0.0);
  EXPECT_GT(losses.roi_box.item<double>(), 0.0);
  losses.Total().backward();
  auto named = model->named_parameters();
  for (const char* name : {"rpn_conv.weight", "rpn_objectness.weight", "rpn_deltas.weight", "cls_score.weight",
                           "bbox_pred.weight", "backbone.conv1.weight", "backbone.layer3.1.conv2.weight",
                           "backbone.layer4.1.conv2.weight", "backbone.layer4.0.bn1.weight"}) {
    ASSERT_TRUE(named[name].grad().defined()) << name;
    EXPECT_GT(named[name].grad().abs().sum().item<double>(), 0.0) << name;
  }
  EXPECT_FALSE(named["backbone.fc.weight"].requires_grad());
}

TEST(FasterRcnnC4, DetectGivesSortedBoxesInsideTheImage) {
  torch::manual_seed(2);
  FasterRcnnC4 model(TinyEncoder(true), TinyOptions(3).score_threshold(0.0));
  model->eval();
  at::NoGradGuard no_grad;
  TinyBatch batch;
  std::vector<ImageDetections> found = model->Detect(batch.images, batch.sizes);
  ASSERT_EQ(found.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const ImageDetections& d = found[i];
    const int64_t k = d.boxes.size(0);
    EXPECT_GT(k, 0);
    EXPECT_LE(k, 20);
    EXPECT_EQ(d.scores.size(0), k);
    EXPECT_EQ(d.labels.size(0), k);
    EXPECT_GE(d.labels.min().item<int64_t>(), 0);
    EXPECT_LE(d.labels.max().item<int64_t>(), 2);
    EXPECT_TRUE((d.scores.slice(0, 1) <= d.scores.slice(0, 0, k - 1)).all().item<bool>());
    EXPECT_LE(d.boxes.select(1, 2).max().item<float>(), batch.sizes[i][1]);
    EXPECT_LE(d.boxes.select(1, 3).max().item<float>(), batch.sizes[i][0]);
    // Softmax over 4 near-equal logits: every class score is close to 1/4.
    EXPECT_NEAR(d.scores[0].item<float>(), 0.25f, 0.05f);
  }
}

// Parameters and buffers of every BN in the backbone, by name, cloned.
std::map<std::string, at::Tensor> BatchNormState(FasterRcnnC4& model) {
  std::map<std::string, at::Tensor> state;
  for (const auto& item : model->named_parameters()) {
    if (item.key().find("bn") != std::string::npos || item.key().find("downsample.1") != std::string::npos) {
      state[item.key()] = item.value().detach().clone();
    }
  }
  for (const auto& item : model->named_buffers()) state[item.key()] = item.value().detach().clone();
  return state;
}

// Runs three SGD steps and returns how many BN tensors changed, and whether a conv changed.
std::pair<int, bool> ChangedAfterSteps(DetectorBatchNorm bn) {
  torch::manual_seed(3);
  FasterRcnnC4 model(TinyEncoder(true), TinyOptions(1).bn(bn));
  // Non-trivial stored statistics, so that using them differs from batch statistics.
  {
    at::NoGradGuard no_grad;
    for (const auto& item : model->named_buffers()) {
      if (item.key().find("running_var") != std::string::npos) item.value().fill_(2.0);
      if (item.key().find("running_mean") != std::string::npos) item.value().fill_(0.1);
    }
  }
  const std::map<std::string, at::Tensor> before = BatchNormState(model);
  const at::Tensor conv_before = model->named_parameters()["backbone.layer1.0.conv1.weight"].detach().clone();
  DetectorParameters parameters = model->TrainableParameters();
  std::vector<at::Tensor> all = parameters.other;
  all.insert(all.end(), parameters.norm.begin(), parameters.norm.end());
  torch::optim::SGD optimizer(all, torch::optim::SGDOptions(0.01).momentum(0.9));
  model->train();
  TinyBatch batch;
  for (int step = 0; step < 3; ++step) {
    optimizer.zero_grad();
    model->Losses(batch.images, batch.sizes, batch.targets).Total().backward();
    optimizer.step();
  }
  int changed = 0;
  for (const auto& [name, value] : BatchNormState(model)) {
    if (!at::equal(value, before.at(name))) ++changed;
  }
  const bool conv_changed = !at::equal(model->named_parameters()["backbone.layer1.0.conv1.weight"], conv_before);
  if (bn == DetectorBatchNorm::kFrozen) {
    EXPECT_TRUE(parameters.norm.empty());
  } else {
    EXPECT_FALSE(parameters.norm.empty());
  }
  return {changed, conv_changed};
}

TEST(FasterRcnnC4, FrozenBatchNormKeepsStatisticsAndAffineParameters) {
  const auto [changed, conv_changed] = ChangedAfterSteps(DetectorBatchNorm::kFrozen);
  EXPECT_EQ(changed, 0);
  EXPECT_TRUE(conv_changed);
}

TEST(FasterRcnnC4, TrainedBatchNormUpdatesStatisticsAndAffineParameters) {
  const auto [changed, conv_changed] = ChangedAfterSteps(DetectorBatchNorm::kTrained);
  // Every BN weight, bias, running mean, running var and batch count of the backbone
  // (stem + 8 blocks: 1 + 8 * 2 + 3 downsample = 20 BNs, 5 tensors each) moves.
  EXPECT_EQ(changed, 20 * 5);
  EXPECT_TRUE(conv_changed);
}

TEST(FasterRcnnC4, FrozenBatchNormStaysInEvalMode) {
  FasterRcnnC4 model(TinyEncoder(true), TinyOptions(1).bn(DetectorBatchNorm::kFrozen));
  model->train();
  EXPECT_TRUE(model->is_training());
  int bns = 0;
  for (const auto& module : model->modules(false)) {
    if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
      EXPECT_FALSE(bn->is_training());
      ++bns;
    }
  }
  EXPECT_EQ(bns, 20);
}

}  // namespace
}  // namespace moco
