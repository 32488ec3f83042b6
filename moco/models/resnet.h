// ResNet-18/34/50 encoders with a width multiplier, ImageNet or CIFAR stem, split-batch BN,
// and the MoCo projection heads. Parameter and buffer names equal torchvision's ResNet
// (conv1, bn1, layer1.0.conv1, layer1.0.downsample.0, ..., fc), and the heads follow the
// official MoCo code (v1: fc is a Linear; v2: fc.0 Linear, fc.1 ReLU, fc.2 Linear), so state
// dicts move between this suite and PyTorch by name.
//
//   ResNet encoder(ResNetOptions(18).width_multiplier(0.25).cifar_stem(true).bn_splits(8)
//                      .head(HeadKind::kLinear).out_dim(128));
//   torch::Tensor z = encoder->forward(images);  // images: N x 3 x H x W -> z: N x 128
#ifndef MOCO_MODELS_RESNET_H_
#define MOCO_MODELS_RESNET_H_

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <functional>
#include <memory>
#include <vector>

namespace moco {

enum class HeadKind {
  kLinear,  // fc: Linear(features, out_dim) (MoCo v1, or a classifier)
  kMlp,     // fc: Linear(features, features), ReLU, Linear(features, out_dim) (MoCo v2)
};

struct ResNetOptions {
  explicit ResNetOptions(int depth) : depth_(depth) {}
  /// 18, 34 (basic blocks) or 50 (bottlenecks).
  TORCH_ARG(int, depth);
  /// Multiplies every layer's channel count (64, 128, 256, 512 at 1.0).
  TORCH_ARG(double, width_multiplier) = 1.0;
  /// 3x3 stride-1 first conv and no max-pool, for 32x32 inputs.
  TORCH_ARG(bool, cifar_stem) = false;
  /// Training-mode BN over this many equal contiguous sub-batches (see SplitBatchNorm).
  TORCH_ARG(int, bn_splits) = 1;
  TORCH_ARG(HeadKind, head) = HeadKind::kLinear;
  /// Output dimension of the head (feature dim, or number of classes).
  TORCH_ARG(int, out_dim) = 128;
  /// Input channels.
  TORCH_ARG(int, in_channels) = 3;
};

// Training-mode batch norm computed separately over `splits` contiguous chunks of the batch,
// as if each chunk were on its own GPU; running statistics are updated with the mean of the
// chunks' statistics. In eval mode, or with splits == 1, it is plain BN.
torch::Tensor SplitBatchNorm(torch::nn::BatchNorm2d& bn, const torch::Tensor& x, int splits);

// Sums a tensor over every process of a job, differentiably (the gradient is summed over the
// processes too): what synchronised batch norm needs of a process group.
using CrossProcessSum = std::function<torch::Tensor(const torch::Tensor&)>;

// Training-mode BN over the batches of all processes (SyncBN, as detectron2's): each process's
// per-channel sums of x and x^2 and its count are summed with `sum` (in float64), and every
// process normalises with the mean and biased variance of the whole; the running statistics move
// as nn::BatchNorm2d moves them (by momentum, or to the cumulative mean when momentum is unset,
// as PreciseBN sets it), with the unbiased variance. In eval mode it is plain BN.
torch::Tensor SyncBatchNorm(torch::nn::BatchNorm2d& bn, const torch::Tensor& x, const CrossProcessSum& sum);

class ResidualBlockImpl : public torch::nn::Cloneable<ResidualBlockImpl> {
 public:
  ResidualBlockImpl(int in_channels, int width, int stride, bool bottleneck, int bn_splits);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  int out_channels() const { return width_ * (bottleneck_ ? 4 : 1); }
  // Synchronised BN with `sum` from now on (SyncBatchNorm); nullptr: per process again.
  void set_sync(std::shared_ptr<const CrossProcessSum> sum) { sync_ = std::move(sum); }

 private:
  torch::Tensor Norm(torch::nn::BatchNorm2d& bn, const torch::Tensor& x);

  int in_channels_, width_, stride_;
  bool bottleneck_;
  int bn_splits_;
  std::shared_ptr<const CrossProcessSum> sync_;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Conv2d downsample_conv{nullptr};
  torch::nn::BatchNorm2d downsample_bn{nullptr};
};
TORCH_MODULE(ResidualBlock);

class ResNetImpl : public torch::nn::Cloneable<ResNetImpl> {
 public:
  explicit ResNetImpl(const ResNetOptions& options);
  void reset() override;

  // images: N x C x H x W -> N x out_dim (the head's output, not normalised).
  torch::Tensor forward(const torch::Tensor& images);
  // images -> N x feature_dim(): the pooled backbone features, before the head.
  torch::Tensor features(const torch::Tensor& images);
  // Every BN of the network synchronised over processes with `sum` from now on (SyncBatchNorm),
  // as detection fine-tuning on several processes needs; nullptr: per process (the default).
  void SynchronizeBatchNorm(std::shared_ptr<const CrossProcessSum> sum);
  // Width of the pooled features (512 * width for basic blocks, 2048 * width for bottlenecks).
  int feature_dim() const { return feature_dim_; }
  const ResNetOptions& options() const { return options_; }

  // The pieces a detector's C4 backbone reuses: the stem (conv1, bn1, then ReLU and, unless
  // cifar_stem, a 3x3 stride-2 max-pool) and stage i in 1..4 (layer1 .. layer4).
  torch::Tensor stem(const torch::Tensor& images);
  torch::nn::Conv2d stem_conv() const { return conv1; }
  torch::nn::BatchNorm2d stem_bn() const { return bn1; }
  torch::nn::Sequential stage(int i) const { return layers_.at(i - 1); }

 private:
  ResNetOptions options_;
  int feature_dim_ = 0;
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  std::vector<torch::nn::Sequential> layers_;
  std::shared_ptr<const CrossProcessSum> sync_;
  torch::nn::Linear fc_linear{nullptr};  // head kLinear
  torch::nn::Sequential fc_mlp{nullptr};  // head kMlp
};
TORCH_MODULE(ResNet);

}  // namespace moco

#endif  // MOCO_MODELS_RESNET_H_
