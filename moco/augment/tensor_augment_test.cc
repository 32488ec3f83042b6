#include "moco/augment/tensor_augment.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <vector>

#include "moco/augment/augment.h"

namespace moco {
namespace {

// Smooth random colour images (so crops and resizes matter), N x 32 x 32 x 3 uint8.
at::Tensor Images(int n, uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor coarse = at::empty({n, 3, 4, 4}).uniform_(0, 1, gen);
  at::Tensor fine = at::upsample_bilinear2d(coarse, {32, 32}, false);
  return (fine * 255).round().clamp(0, 255).to(at::kByte).permute({0, 2, 3, 1}).contiguous();
}

AugmentOptions Cifar() {
  AugmentOptions o;
  o.recipe = AugmentRecipe::kCifar;
  o.out_size = 32;
  o.mean = kCifar10Mean;
  o.stddev = kCifar10Stddev;
  return o;
}

at::Tensor Normalised(const at::Tensor& images, const AugmentOptions& o) {
  at::Tensor x = images.permute({0, 3, 1, 2}).to(at::kFloat) / 255.0;
  at::Tensor mean = at::tensor({o.mean[0], o.mean[1], o.mean[2]}).view({1, 3, 1, 1});
  at::Tensor sd = at::tensor({o.stddev[0], o.stddev[1], o.stddev[2]}).view({1, 3, 1, 1});
  return (x - mean) / sd;
}

TEST(TensorAugmentTest, WithNoRandomStepsTheViewIsTheNormalisedImage) {
  AugmentOptions o = Cifar();
  AugmentSteps s;
  s.min_crop_scale = s.max_crop_scale = 1.0;  // only ratio 1 fits: the whole image
  s.flip_p = 0;
  s.jitter_p = 0;
  s.grayscale_p = 0;
  o.steps = s;
  const at::Tensor images = Images(4, 1);
  absl::StatusOr<at::Tensor> view = AugmentBatch(images, o, at::make_generator<at::CPUGeneratorImpl>(7));
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->sizes(), at::IntArrayRef({4, 3, 32, 32}));
  EXPECT_TRUE(view->is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(at::allclose(*view, Normalised(images, o), 1e-4, 1e-4));
  // Flipped, and grey.
  s.flip_p = 1;
  s.grayscale_p = 1;
  o.steps = s;
  view = AugmentBatch(images, o, at::make_generator<at::CPUGeneratorImpl>(7));
  ASSERT_TRUE(view.ok());
  at::Tensor x = images.permute({0, 3, 1, 2}).to(at::kFloat).flip({3}) / 255.0;
  at::Tensor grey = 0.299 * x.narrow(1, 0, 1) + 0.587 * x.narrow(1, 1, 1) + 0.114 * x.narrow(1, 2, 1);
  at::Tensor expected = Normalised((grey.expand({4, 3, 32, 32}) * 255).permute({0, 2, 3, 1}).round().to(at::kByte), o);
  EXPECT_TRUE(at::allclose(*view, expected, 0.03, 0.03));  // the expectation went through uint8
}

TEST(TensorAugmentTest, HueShiftOfAFullTurnIsTheIdentity) {
  AugmentOptions o = Cifar();
  AugmentSteps s;
  s.min_crop_scale = s.max_crop_scale = 1.0;
  s.flip_p = 0;
  s.grayscale_p = 0;
  s.jitter_p = 1;
  s.brightness = s.contrast = s.saturation = 0;
  s.hue = 1e-7f;  // a shift of about zero: rgb -> hsv -> rgb must return the image
  o.steps = s;
  const at::Tensor images = Images(8, 2);
  absl::StatusOr<at::Tensor> view = AugmentBatch(images, o, at::make_generator<at::CPUGeneratorImpl>(3));
  ASSERT_TRUE(view.ok());
  EXPECT_TRUE(at::allclose(*view, Normalised(images, o), 1e-3, 1e-3));
}

// The batched views and AugmentView's are drawn from the same distribution: per-channel mean and
// spread of the pixels, the share of grey views, and the spread of per-view brightness agree.
void ExpectSameDistributionAsTheCpuViews(const AugmentOptions& o) {
  const int n = 2048;
  const at::Tensor images = Images(n, 5);
  absl::StatusOr<at::Tensor> batched = AugmentBatch(images, o, at::make_generator<at::CPUGeneratorImpl>(11));
  ASSERT_TRUE(batched.ok()) << batched.status();
  at::Tensor cpu = at::empty({n, 3, 32, 32});
  const at::Tensor contiguous = images.contiguous();
  for (int i = 0; i < n; ++i) {
    AugmentView(contiguous[i].data_ptr<uint8_t>(), 32, 32, 3, o, ViewSeed(11, 0, i, 0), cpu[i].data_ptr<float>());
  }
  const at::Tensor b = batched->contiguous();
  for (int c = 0; c < 3; ++c) {
    SCOPED_TRACE(c);
    EXPECT_NEAR(b.select(1, c).mean().item<double>(), cpu.select(1, c).mean().item<double>(), 0.05);
    EXPECT_NEAR(b.select(1, c).std().item<double>(), cpu.select(1, c).std().item<double>(), 0.05);
  }
  auto grey_share = [](const at::Tensor& v) {
    return (v.select(1, 0) * 0.2023 + 0.4914 - (v.select(1, 1) * 0.1994 + 0.4822)).abs().amax({1, 2}).lt(1e-4)
        .to(at::kFloat).mean().item<double>();
  };
  EXPECT_NEAR(grey_share(b), 0.2, 0.03);
  EXPECT_NEAR(grey_share(cpu), 0.2, 0.03);
  const double spread_b = b.mean({1, 2, 3}).std().item<double>(), spread_cpu = cpu.mean({1, 2, 3}).std().item<double>();
  EXPECT_NEAR(spread_b, spread_cpu, 0.1 * spread_cpu);
}

TEST(TensorAugmentTest, SameDistributionAsTheCpuViews) { ExpectSameDistributionAsTheCpuViews(Cifar()); }

// V1: grayscale before a jitter applied to every view, hue 0.4.
TEST(TensorAugmentTest, SameDistributionAsTheCpuViewsV1) {
  AugmentOptions o = Cifar();
  o.recipe = AugmentRecipe::kV1;
  ExpectSameDistributionAsTheCpuViews(o);
}

// The training path: both views from one generator seeded by the batch's view_seed (the same
// draws as a fresh generator with that seed, whatever the default generator did before), the
// key view another draw than the query's, and the images dropped once used.
TEST(TensorAugmentTest, MakeViewsOnDeviceDrawsFromTheBatchSeed) {
  const AugmentOptions o = Cifar();
  auto batch_of = [](uint64_t seed) {
    TrainBatch batch;
    batch.images = Images(16, 9);
    batch.view_seed = seed;
    return batch;
  };
  TrainBatch batch = batch_of(42);
  at::rand({100});  // the default generator moves; the views must not
  ASSERT_TRUE(MakeViewsOnDevice(at::kCPU, o, &batch).ok());
  EXPECT_FALSE(batch.images.defined());
  at::Generator fresh = at::make_generator<at::CPUGeneratorImpl>(42);
  const at::Tensor q = AugmentBatch(Images(16, 9), o, fresh).value();
  const at::Tensor k = AugmentBatch(Images(16, 9), o, fresh).value();
  EXPECT_TRUE(at::equal(batch.view_q, q));
  EXPECT_TRUE(at::equal(batch.view_k, k));
  EXPECT_FALSE(at::equal(batch.view_q, batch.view_k));

  TrainBatch again = batch_of(42), other = batch_of(43);
  ASSERT_TRUE(MakeViewsOnDevice(at::kCPU, o, &again).ok());
  ASSERT_TRUE(MakeViewsOnDevice(at::kCPU, o, &other).ok());
  EXPECT_TRUE(at::equal(again.view_q, batch.view_q));
  EXPECT_FALSE(at::equal(other.view_q, batch.view_q));

  TrainBatch no_images;
  EXPECT_EQ(MakeViewsOnDevice(at::kCPU, o, &no_images).code(), absl::StatusCode::kInvalidArgument);
}

TEST(TensorAugmentTest, RefusesWhatItDoesNotDo) {
  AugmentOptions o = Cifar();
  EXPECT_FALSE(AugmentBatch(at::zeros({2, 32, 32, 3}), o, at::make_generator<at::CPUGeneratorImpl>(1)).ok());  // float
  o.recipe = AugmentRecipe::kV2;  // blur
  EXPECT_EQ(AugmentBatch(Images(2, 1), o, at::make_generator<at::CPUGeneratorImpl>(1)).status().code(),
            absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace moco
