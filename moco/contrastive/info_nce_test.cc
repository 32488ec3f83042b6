#include "moco/contrastive/info_nce.h"

#include <torch/torch.h>

#include <cmath>

#include "gtest/gtest.h"

namespace moco {
namespace {

TEST(InfoNceTest, EqualsHandComputedValue) {
  // One query, its key and two negatives, in 2-d, T = 0.5.
  torch::Tensor q = torch::tensor({{1.0f, 0.0f}});
  torch::Tensor k = torch::tensor({{0.6f, 0.8f}});
  torch::Tensor negatives = torch::tensor({{0.0f, 1.0f}, {-1.0f, 0.0f}});
  torch::Tensor logits = InfoNceLogits(q, k, negatives, 0.5);
  // q.k = 0.6, q.n1 = 0, q.n2 = -1, each / 0.5.
  EXPECT_TRUE(torch::allclose(logits, torch::tensor({{1.2f, 0.0f, -2.0f}})));
  const double expected = -std::log(std::exp(1.2) / (std::exp(1.2) + std::exp(0.0) + std::exp(-2.0)));
  EXPECT_NEAR(InfoNceLoss(logits).item<double>(), expected, 1e-6);
}

TEST(InfoNceTest, PerQueryNegativesMatchSharedNegatives) {
  torch::manual_seed(0);
  torch::Tensor q = torch::randn({3, 4}), k = torch::randn({3, 4}), neg = torch::randn({5, 4});
  torch::Tensor shared = InfoNceLogits(q, k, neg, 0.07);
  torch::Tensor per_query = InfoNceLogitsPerQuery(q, k, neg.unsqueeze(0).expand({3, 5, 4}).contiguous(), 0.07);
  EXPECT_TRUE(torch::allclose(shared, per_query, 1e-5, 1e-5));
}

TEST(InfoNceTest, NceEqualsHandComputedValue) {
  torch::Tensor logits = torch::tensor({{1.0f, 0.5f, -0.5f}});
  const double z = 2.0;
  const int64_t n = 10;
  const double noise = 2.0 / 10.0;  // K * P_n
  const double p0 = std::exp(1.0) / z, p1 = std::exp(0.5) / z, p2 = std::exp(-0.5) / z;
  const double expected =
      -(std::log(p0 / (p0 + noise)) + std::log(noise / (p1 + noise)) + std::log(noise / (p2 + noise)));
  EXPECT_NEAR(NceLoss(logits, z, n).item<double>(), expected, 1e-5);
}

TEST(InfoNceTest, TopOneAccuracy) {
  torch::Tensor logits = torch::tensor({{3.f, 1.f}, {0.f, 2.f}, {5.f, 1.f}, {1.f, 9.f}});
  EXPECT_DOUBLE_EQ(TopOneAccuracy(logits, torch::zeros({4}, torch::kLong)), 0.5);
  EXPECT_DOUBLE_EQ(TopOneAccuracy(logits, torch::tensor({0, 1, 0, 1})), 1.0);
}

}  // namespace
}  // namespace moco
