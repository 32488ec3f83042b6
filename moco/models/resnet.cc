#include "moco/models/resnet.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/nn/functional/batchnorm.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>

#include <cmath>
#include <string>

namespace moco {
namespace {

namespace nn = torch::nn;

nn::Conv2d Conv(int in, int out, int kernel, int stride) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false));
}

int Scaled(int channels, double multiplier) {
  return std::max(1, static_cast<int>(std::lround(channels * multiplier)));
}

}  // namespace

namespace {

// Training-mode BN over `splits` contiguous sub-batches as one autograd node: each sub-batch is
// normalised by native_batch_norm into its slice of one output, and its gradient computed into
// its slice of one input gradient, so no per-BN concatenation of the sub-batches is made (a
// concatenation of channels_last slices cost 1.5-2.8x the BN itself; //benchmarks:throughput
// --profile_steps). The same kernels per sub-batch as batch_norm on each chunk, and the gradient
// sums in autograd's order, so outputs and gradients are those of the chunk-and-concatenate form
// bit for bit (and a run's losses those it had before).
class SplitBatchNormFunction : public torch::autograd::Function<SplitBatchNormFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias, torch::Tensor running_mean,
                               torch::Tensor running_var, int64_t splits, double momentum, double eps) {
    const int64_t m = x.size(0) / splits, channels = x.size(1);
    const auto stats = x.options().dtype(running_mean.scalar_type());
    torch::Tensor out = torch::empty_like(x);  // x's layout (channels_last) and dtype
    torch::Tensor save_mean = torch::empty({splits, channels}, stats), save_invstd = torch::empty({splits, channels}, stats);
    torch::Tensor mean_sum = torch::zeros_like(running_mean), var_sum = torch::zeros_like(running_var);
    for (int64_t j = 0; j < splits; ++j) {
      // Each sub-batch updates a private copy of the running statistics, as a separate GPU would.
      torch::Tensor mean = running_mean.clone(), var = running_var.clone();
      torch::Tensor out_j = out.narrow(0, j * m, m), save_mean_j = save_mean[j], save_invstd_j = save_invstd[j];
      at::native_batch_norm_out(out_j, save_mean_j, save_invstd_j, x.narrow(0, j * m, m), weight, bias, mean, var,
                                /*training=*/true, momentum, eps);
      mean_sum.add_(mean);
      var_sum.add_(var);
    }
    running_mean.copy_(mean_sum / splits);
    running_var.copy_(var_sum / splits);
    ctx->save_for_backward({x, weight, save_mean, save_invstd});
    ctx->saved_data["splits"] = splits;
    ctx->saved_data["eps"] = eps;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& weight = saved[1];
    const int64_t splits = ctx->saved_data["splits"].toInt(), m = x.size(0) / splits;
    const double eps = ctx->saved_data["eps"].toDouble();
    const torch::Tensor grad = grads[0].contiguous(x.suggest_memory_format());
    torch::Tensor grad_x = torch::empty_like(x), grad_weight = torch::zeros_like(weight),
                  grad_bias = torch::zeros_like(weight);
    torch::Tensor grad_weight_j = torch::empty_like(weight), grad_bias_j = torch::empty_like(weight);
    // Last sub-batch first: the order in which autograd ran, and summed, the per-chunk BN
    // backwards of the chunk-and-concatenate form, so the weight and bias gradients are its sums.
    for (int64_t j = splits - 1; j >= 0; --j) {
      torch::Tensor grad_x_j = grad_x.narrow(0, j * m, m);
      at::native_batch_norm_backward_out(grad_x_j, grad_weight_j, grad_bias_j, grad.narrow(0, j * m, m),
                                         x.narrow(0, j * m, m), weight, {}, {}, saved[2][j], saved[3][j],
                                         /*train=*/true, eps, {true, true, true});
      grad_weight.add_(grad_weight_j);
      grad_bias.add_(grad_bias_j);
    }
    return {grad_x, grad_weight, grad_bias, {}, {}, {}, {}, {}};
  }
};

}  // namespace

torch::Tensor SplitBatchNorm(nn::BatchNorm2d& bn, const torch::Tensor& x, int splits) {
  if (!bn->is_training() || splits <= 1) return bn->forward(x);
  const int64_t n = x.size(0);
  TORCH_CHECK(n % splits == 0, "SplitBatchNorm: batch ", n, " is not divisible by ", splits, " splits");
  torch::Tensor out = SplitBatchNormFunction::apply(x, bn->weight, bn->bias, bn->running_mean, bn->running_var,
                                                    static_cast<int64_t>(splits), bn->options.momentum().value(),
                                                    bn->options.eps());
  bn->num_batches_tracked.add_(1);
  return out;
}

torch::Tensor SyncBatchNorm(nn::BatchNorm2d& bn, const torch::Tensor& x, const CrossProcessSum& sum) {
  if (!bn->is_training()) return bn->forward(x);
  const int64_t c = x.size(1);
  const std::vector<int64_t> reduced = {0, 2, 3};
  torch::Tensor stats = torch::cat({x.sum(reduced, false, torch::kDouble), x.square().sum(reduced, false, torch::kDouble),
                                    torch::full({1}, static_cast<double>(x.numel() / c), x.options().dtype(torch::kDouble))});
  stats = sum(stats);
  const torch::Tensor count = stats.slice(0, 2 * c, 2 * c + 1);
  const torch::Tensor mean = stats.slice(0, 0, c) / count;
  const torch::Tensor var = (stats.slice(0, c, 2 * c) / count - mean.square()).clamp_min(0.0);
  {
    torch::NoGradGuard no_grad;
    bn->num_batches_tracked.add_(1);
    const double n = count.item<double>();
    const std::optional<double> momentum = bn->options.momentum();
    const double factor = momentum.has_value() ? *momentum : 1.0 / bn->num_batches_tracked.item<double>();
    bn->running_mean.mul_(1.0 - factor).add_(mean.to(bn->running_mean.dtype()), factor);
    bn->running_var.mul_(1.0 - factor).add_((var * (n / std::max(n - 1.0, 1.0))).to(bn->running_var.dtype()), factor);
  }
  const torch::Tensor scale = bn->weight * torch::rsqrt(var + bn->options.eps()).to(x.scalar_type());
  const torch::Tensor shift = bn->bias - mean.to(x.scalar_type()) * scale;
  return x * scale.view({1, c, 1, 1}) + shift.view({1, c, 1, 1});
}

ResidualBlockImpl::ResidualBlockImpl(int in_channels, int width, int stride, bool bottleneck, int bn_splits)
    : in_channels_(in_channels), width_(width), stride_(stride), bottleneck_(bottleneck), bn_splits_(bn_splits) {
  reset();
}

void ResidualBlockImpl::reset() {
  if (bottleneck_) {
    // torchvision's Bottleneck (v1.5): the stride sits on the 3x3 conv.
    conv1 = register_module("conv1", Conv(in_channels_, width_, 1, 1));
    bn1 = register_module("bn1", nn::BatchNorm2d(width_));
    conv2 = register_module("conv2", Conv(width_, width_, 3, stride_));
    bn2 = register_module("bn2", nn::BatchNorm2d(width_));
    conv3 = register_module("conv3", Conv(width_, width_ * 4, 1, 1));
    bn3 = register_module("bn3", nn::BatchNorm2d(width_ * 4));
  } else {
    conv1 = register_module("conv1", Conv(in_channels_, width_, 3, stride_));
    bn1 = register_module("bn1", nn::BatchNorm2d(width_));
    conv2 = register_module("conv2", Conv(width_, width_, 3, 1));
    bn2 = register_module("bn2", nn::BatchNorm2d(width_));
  }
  if (stride_ != 1 || in_channels_ != out_channels()) {
    // Registered as a Sequential so the names are downsample.0 and downsample.1.
    downsample_conv = Conv(in_channels_, out_channels(), 1, stride_);
    downsample_bn = nn::BatchNorm2d(out_channels());
    register_module("downsample", nn::Sequential(downsample_conv, downsample_bn));
  }
}

torch::Tensor ResidualBlockImpl::Norm(nn::BatchNorm2d& bn, const torch::Tensor& x) {
  return sync_ ? SyncBatchNorm(bn, x, *sync_) : SplitBatchNorm(bn, x, bn_splits_);
}

torch::Tensor ResidualBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = Norm(bn1, conv1(x)).relu_();
  out = Norm(bn2, conv2(out));
  if (bottleneck_) out = Norm(bn3, conv3(out.relu_()));
  torch::Tensor identity = x;
  if (downsample_conv) identity = Norm(downsample_bn, downsample_conv(x));
  return (out + identity).relu_();
}

ResNetImpl::ResNetImpl(const ResNetOptions& options) : options_(options) { reset(); }

void ResNetImpl::reset() {
  const int depth = options_.depth();
  std::vector<int> blocks;
  bool bottleneck = false;
  if (depth == 18) {
    blocks = {2, 2, 2, 2};
  } else if (depth == 34) {
    blocks = {3, 4, 6, 3};
  } else if (depth == 50) {
    blocks = {3, 4, 6, 3};
    bottleneck = true;
  } else {
    TORCH_CHECK(false, "ResNet depth must be 18, 34 or 50, got ", depth);
  }
  const double w = options_.width_multiplier();
  const int stem = Scaled(64, w);
  conv1 = register_module("conv1", options_.cifar_stem() ? Conv(options_.in_channels(), stem, 3, 1)
                                                         : Conv(options_.in_channels(), stem, 7, 2));
  bn1 = register_module("bn1", nn::BatchNorm2d(stem));
  int channels = stem;
  layers_.clear();
  for (int stage = 0; stage < 4; ++stage) {
    const int width = Scaled(64 << stage, w);
    nn::Sequential layer;
    for (int b = 0; b < blocks[stage]; ++b) {
      const int stride = (b == 0 && stage > 0) ? 2 : 1;
      ResidualBlock block(channels, width, stride, bottleneck, options_.bn_splits());
      channels = block->out_channels();
      layer->push_back(block);
    }
    layers_.push_back(register_module("layer" + std::to_string(stage + 1), layer));
  }
  feature_dim_ = channels;
  if (options_.head() == HeadKind::kLinear) {
    // A plain Linear named "fc" (not "fc.0"), as in torchvision and MoCo v1.
    fc_linear = register_module("fc", nn::Linear(channels, options_.out_dim()));
  } else {
    fc_mlp = register_module("fc", nn::Sequential(nn::Linear(channels, channels), nn::ReLU(),
                                                  nn::Linear(channels, options_.out_dim())));
  }
  // torchvision's initialisation: Kaiming-normal (fan_out) convs, BN weight 1 and bias 0.
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* conv = module->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = module->as<nn::BatchNorm2d>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    }
  }
}

void ResNetImpl::SynchronizeBatchNorm(std::shared_ptr<const CrossProcessSum> sum) {
  sync_ = sum;
  for (const auto& module : modules(/*include_self=*/false)) {
    if (auto* block = module->as<ResidualBlock>()) block->set_sync(sum);
  }
}

torch::Tensor ResNetImpl::stem(const torch::Tensor& images) {
  const torch::Tensor y = conv1(images);
  torch::Tensor x = (sync_ ? SyncBatchNorm(bn1, y, *sync_) : SplitBatchNorm(bn1, y, options_.bn_splits())).relu_();
  if (!options_.cifar_stem()) x = torch::max_pool2d(x, 3, 2, 1);
  return x;
}

torch::Tensor ResNetImpl::features(const torch::Tensor& images) {
  torch::Tensor x = stem(images);
  for (auto& layer : layers_) x = layer->forward(x);
  return x.mean({2, 3});  // global average pool: N x feature_dim
}

torch::Tensor ResNetImpl::forward(const torch::Tensor& images) {
  torch::Tensor h = features(images);
  return fc_linear ? fc_linear(h) : fc_mlp->forward(h);
}

}  // namespace moco
