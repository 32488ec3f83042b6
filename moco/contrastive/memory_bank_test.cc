#include "moco/contrastive/memory_bank.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "gtest/gtest.h"

namespace moco {
namespace {

TEST(MemoryBankTest, UpdateMixesWithMomentumAndRenormalises) {
  MemoryBank bank(5, 2, 0.5);
  torch::Tensor old = bank->Lookup(torch::tensor({3}));
  torch::Tensor feature = torch::tensor({{1.0f, 0.0f}});
  bank->Update(torch::tensor({3}), feature);
  torch::Tensor mixed = old * 0.5 + feature * 0.5;
  torch::Tensor expected = mixed / mixed.norm();
  EXPECT_TRUE(torch::allclose(bank->Lookup(torch::tensor({3})), expected, 1e-6, 1e-6));
  EXPECT_NEAR(bank->Lookup(torch::tensor({3})).norm().item<float>(), 1.0f, 1e-6);
  // Other entries are untouched.
  torch::Tensor before = bank->entries().clone();
  bank->Update(torch::tensor({0}), feature);
  EXPECT_TRUE(torch::equal(bank->entries().narrow(0, 1, 4), before.narrow(0, 1, 4)));
}

TEST(MemoryBankTest, SamplingIsUniformAndSeeded) {
  MemoryBank bank(4, 3, 0.5);
  auto gen = [] { return at::make_generator<at::CPUGeneratorImpl>(7); };
  torch::Tensor a = bank->Lookup(bank->SampleIndices(2, 1000, gen()));
  torch::Tensor b = bank->Lookup(bank->SampleIndices(2, 1000, gen()));
  EXPECT_EQ(a.sizes(), torch::IntArrayRef({2, 1000, 3}));
  EXPECT_TRUE(torch::equal(a, b));  // same seed, same draw
  // Every sampled row is a bank row, and each of the 4 rows appears about 500 times.
  torch::Tensor sims = a.view({-1, 3}).matmul(bank->entries().t());  // 2000 x 4
  torch::Tensor which = sims.argmax(1);
  for (int i = 0; i < 4; ++i) {
    const int64_t count = which.eq(i).sum().item<int64_t>();
    EXPECT_GT(count, 400);
    EXPECT_LT(count, 600);
  }
  EXPECT_TRUE(torch::allclose(std::get<0>(sims.max(1)), torch::ones({2000}), 1e-5, 1e-5));
}

TEST(MemoryBankTest, LogitsAreTheSameScoredWholeOrGathered) {
  MemoryBank bank(50, 4, 0.5);
  torch::Tensor q = torch::nn::functional::normalize(torch::randn({3, 4}, torch::requires_grad()),
                                                     torch::nn::functional::NormalizeFuncOptions().dim(1));
  torch::Tensor indices = torch::tensor({7, 0, 49});
  torch::Tensor picks = bank->SampleIndices(3, 6, at::make_generator<at::CPUGeneratorImpl>(1));
  torch::Tensor whole = bank->Logits(q, indices, picks, 0.1, true);
  torch::Tensor gathered = bank->Logits(q, indices, picks, 0.1, false);
  EXPECT_EQ(whole.sizes(), torch::IntArrayRef({3, 7}));
  EXPECT_TRUE(torch::allclose(whole, gathered, 1e-5, 1e-6));
  // Column 0 is the query's own entry; column 1 + j is sampled entry picks[:, j].
  EXPECT_NEAR(whole[2][0].item<float>(), (q[2] * bank->entries()[49]).sum().item<float>() / 0.1, 1e-4);
  const int64_t pick = picks[1][3].item<int64_t>();
  EXPECT_NEAR(whole[1][4].item<float>(), (q[1] * bank->entries()[pick]).sum().item<float>() / 0.1, 1e-4);
  // Both stay differentiable after the bank is updated in place.
  bank->Update(indices, q.detach());
  (whole.sum() + gathered.sum()).backward();
}

}  // namespace
}  // namespace moco
