#include "moco/contrastive/momentum_update.h"

#include <torch/torch.h>

#include "gtest/gtest.h"
#include "moco/models/resnet.h"

namespace moco {
namespace {

TEST(MomentumUpdateTest, EqualsHandComputedEmaAndLeavesBuffersAlone) {
  torch::manual_seed(0);
  ResNet query(ResNetOptions(18).cifar_stem(true).width_multiplier(0.125).out_dim(8));
  ResNet key(ResNetOptions(18).cifar_stem(true).width_multiplier(0.125).out_dim(8));
  CopyEncoderWeights(*key, *query);
  for (const auto& p : key->parameters()) EXPECT_FALSE(p.requires_grad());
  // Move the query encoder and give the key encoder's BN buffers values of their own.
  {
    torch::NoGradGuard no_grad;
    for (auto& p : query->parameters()) p.add_(torch::randn_like(p));
    for (auto& b : key->buffers()) {
      if (b.is_floating_point()) b.add_(3.0);
    }
  }
  std::vector<torch::Tensor> before_k, before_q, buffers_before;
  for (const auto& p : key->parameters()) before_k.push_back(p.clone());
  for (const auto& p : query->parameters()) before_q.push_back(p.clone());
  for (const auto& b : key->buffers()) buffers_before.push_back(b.clone());

  const double m = 0.9;
  MomentumEncoderUpdate(*key, *query, m);
  auto params = key->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    torch::Tensor expected = before_k[i] * m + before_q[i] * (1 - m);
    ASSERT_TRUE(torch::allclose(params[i], expected, 1e-6, 1e-6)) << "parameter " << i;
  }
  auto buffers = key->buffers();
  for (size_t i = 0; i < buffers.size(); ++i) {
    ASSERT_TRUE(torch::equal(buffers[i], buffers_before[i])) << "buffer " << i;
  }
}

TEST(MomentumUpdateTest, MomentumZeroCopiesAndOneFreezes) {
  torch::nn::Linear q(3, 2), k(3, 2);
  MomentumEncoderUpdate(*k, *q, 0.0);
  EXPECT_TRUE(torch::allclose(k->weight, q->weight));
  torch::Tensor frozen = k->weight.clone();
  { torch::NoGradGuard g; q->weight.add_(1.0); }
  MomentumEncoderUpdate(*k, *q, 1.0);
  EXPECT_TRUE(torch::equal(k->weight, frozen));
}

}  // namespace
}  // namespace moco
