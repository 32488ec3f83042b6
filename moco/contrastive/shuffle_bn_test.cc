#include "moco/contrastive/shuffle_bn.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "gtest/gtest.h"
#include "moco/distributed/single_process_group.h"
#include "moco/models/resnet.h"

namespace moco {
namespace {

TEST(ShuffleBnTest, InversePermutationUndoesThePermutation) {
  torch::Tensor perm = torch::randperm(10, torch::kLong);
  torch::Tensor x = torch::arange(10) * 3;
  EXPECT_TRUE(torch::equal(x.index_select(0, perm).index_select(0, InversePermutation(perm)), x));
}

TEST(ShuffleBnTest, RowwiseEncoderGivesUnshuffledResult) {
  // An encoder that treats rows independently must give exactly encode(x): the unshuffle puts
  // every key back beside its image.
  torch::Tensor x = torch::randn({16, 5});
  Encoder encode = [](const at::Tensor& t) { return t * 2 + 1; };
  absl::StatusOr<at::Tensor> k =
      ShuffledEncode(encode, x, SingleProcessGroup(), at::make_generator<at::CPUGeneratorImpl>(3));
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_TRUE(torch::equal(*k, encode(x)));
}

TEST(ShuffleBnTest, KeysMatchTheUnshuffledComputationOfTheirGroup) {
  // With split BN, each key must equal what the encoder gives when its image's BN group is the
  // shuffled group it landed in: recompute that group directly and compare.
  torch::manual_seed(0);
  ResNet encoder(ResNetOptions(18).cifar_stem(true).width_multiplier(0.125).bn_splits(4).out_dim(8));
  torch::Tensor x = torch::randn({8, 3, 8, 8});
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  auto gen_copy = at::make_generator<at::CPUGeneratorImpl>(11);
  absl::StatusOr<at::Tensor> k =
      ShuffledEncode([&](const at::Tensor& t) { return encoder->forward(t); }, x, SingleProcessGroup(), gen);
  ASSERT_TRUE(k.ok()) << k.status();
  torch::Tensor perm = at::randperm(8, gen_copy, torch::TensorOptions().dtype(torch::kLong));
  torch::Tensor shuffled_keys = encoder->forward(x.index_select(0, perm));  // same BN groups
  for (int j = 0; j < 8; ++j) {
    const int64_t image = perm[j].item<int64_t>();
    EXPECT_TRUE(torch::allclose((*k)[image], shuffled_keys[j], 1e-5, 1e-5)) << "image " << image;
  }
  // And shuffling matters under split BN: keys differ from the unshuffled computation.
  EXPECT_FALSE(torch::allclose(*k, encoder->forward(x), 1e-4, 1e-4));
}

}  // namespace
}  // namespace moco
