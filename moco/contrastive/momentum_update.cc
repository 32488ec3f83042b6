#include "moco/contrastive/momentum_update.h"

#include <ATen/ops/_foreach_add.h>
#include <ATen/ops/_foreach_mul.h>

#include <vector>

namespace moco {

void MomentumEncoderUpdate(torch::nn::Module& key, const torch::nn::Module& query, double momentum) {
  std::vector<torch::Tensor> k = key.parameters();
  const std::vector<torch::Tensor> q = query.parameters();
  TORCH_CHECK(k.size() == q.size(), "MomentumEncoderUpdate: ", k.size(), " key parameters but ", q.size(),
              " query parameters");
  torch::NoGradGuard no_grad;
  // One fused pass over all parameters: k = m * k + (1 - m) * q.
  at::_foreach_mul_(k, momentum);
  at::_foreach_add_(k, q, 1.0 - momentum);
}

void CopyEncoderWeights(torch::nn::Module& key, const torch::nn::Module& query) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> kp = key.parameters(), qp = query.parameters();
  std::vector<torch::Tensor> kb = key.buffers(), qb = query.buffers();
  TORCH_CHECK(kp.size() == qp.size() && kb.size() == qb.size(), "CopyEncoderWeights: modules differ");
  for (size_t i = 0; i < kp.size(); ++i) {
    kp[i].copy_(qp[i]);
    kp[i].set_requires_grad(false);
  }
  for (size_t i = 0; i < kb.size(); ++i) kb[i].copy_(qb[i]);
}

}  // namespace moco
