#include "moco/augment/augment.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "moco/augment/random.h"

namespace moco {
namespace {

constexpr AugmentRecipe kAllRecipes[] = {AugmentRecipe::kV1, AugmentRecipe::kV2,
                                         AugmentRecipe::kCifar};

std::vector<uint8_t> RandomImage(int height, int width, int channels, uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<uint8_t> pixels(static_cast<size_t>(height) * width * channels);
  for (uint8_t& p : pixels) p = static_cast<uint8_t>(rng.Below(256));
  return pixels;
}

AugmentOptions Options(AugmentRecipe recipe, int out_size) {
  AugmentOptions options;
  options.recipe = recipe;
  options.out_size = out_size;
  return options;
}

// Steps that do nothing but a resized crop of the whole image; tests switch single ops on.
AugmentSteps NoOpSteps() {
  AugmentSteps steps;
  steps.min_crop_scale = 1.0;
  steps.max_crop_scale = 1.0;
  steps.flip_p = 0.0;
  steps.jitter_p = 0.0;
  steps.grayscale_p = 0.0;
  steps.blur_p = 0.0;
  return steps;
}

std::vector<float> View(const std::vector<uint8_t>& image, int height, int width,
                        int channels, const AugmentOptions& options, uint64_t seed) {
  std::vector<float> out(3 * options.out_size * options.out_size);
  AugmentView(image.data(), height, width, channels, options, seed, out.data());
  return out;
}

bool BitIdentical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Values back in [0, 1], as before normalisation.
float Denormalized(const std::vector<float>& chw, const AugmentOptions& options, int c, int i) {
  const int n = options.out_size * options.out_size;
  return chw[c * n + i] * options.stddev[c] + options.mean[c];
}

TEST(AugmentViewTest, SameSeedGivesBitIdenticalViews) {
  const std::vector<uint8_t> photo = RandomImage(375, 500, 3, 1);
  const std::vector<uint8_t> small = RandomImage(32, 32, 3, 2);
  for (AugmentRecipe recipe : kAllRecipes) {
    const AugmentOptions big_options = Options(recipe, 224);
    const AugmentOptions small_options = Options(recipe, 32);
    for (uint64_t seed : {0ULL, 1ULL, 0xdeadbeefULL}) {
      EXPECT_TRUE(BitIdentical(View(photo, 375, 500, 3, big_options, seed),
                               View(photo, 375, 500, 3, big_options, seed)));
      EXPECT_TRUE(BitIdentical(View(small, 32, 32, 3, small_options, seed),
                               View(small, 32, 32, 3, small_options, seed)));
    }
  }
}

// FNV-1a over the bits of many views: training and evaluation views of every recipe, RGB and
// gray, shrunk and enlarged, and the evaluation transform.
uint64_t ViewsFingerprint() {
  uint64_t hash = 0xcbf29ce484222325ULL;
  auto add = [&](const std::vector<float>& values) {
    for (float v : values) {
      uint32_t bits;
      std::memcpy(&bits, &v, sizeof(bits));
      for (int b = 0; b < 4; ++b) hash = (hash ^ ((bits >> (8 * b)) & 0xff)) * 0x100000001b3ULL;
    }
  };
  struct Case {
    int height, width, channels, out_size;
  };
  for (const Case& c : {Case{32, 32, 3, 32}, Case{75, 120, 3, 64}, Case{40, 30, 1, 48}, Case{300, 200, 3, 96}}) {
    const std::vector<uint8_t> image = RandomImage(c.height, c.width, c.channels, 1000 + c.width);
    for (AugmentRecipe recipe : kAllRecipes) {
      const AugmentOptions options = Options(recipe, c.out_size);
      for (uint64_t seed = 0; seed < 6; ++seed) add(View(image, c.height, c.width, c.channels, options, seed));
      std::vector<float> eval(3 * c.out_size * c.out_size);
      EvalView(image.data(), c.height, c.width, c.channels, options, eval.data());
      add(eval);
    }
  }
  return hash;
}

// Every committed record was trained on views these functions made: this value was printed by
// the code those records ran, so a change that moves any view by one bit (an op reordered, a
// vector width that changes rounding) fails here before it changes a reproduction.
TEST(AugmentViewTest, ViewsKeepTheirBits) { EXPECT_EQ(ViewsFingerprint(), 0x8ec2b0add44490d1ULL); }

TEST(AugmentViewTest, EachEpochIndexAndViewGetsADifferentView) {
  const std::vector<uint8_t> image = RandomImage(32, 32, 3, 3);
  const AugmentOptions options = Options(AugmentRecipe::kCifar, 32);
  const std::vector<float> base = View(image, 32, 32, 3, options, ViewSeed(7, 0, 0, 0));
  EXPECT_FALSE(BitIdentical(base, View(image, 32, 32, 3, options, ViewSeed(7, 0, 0, 1))));
  EXPECT_FALSE(BitIdentical(base, View(image, 32, 32, 3, options, ViewSeed(7, 1, 0, 0))));
  EXPECT_FALSE(BitIdentical(base, View(image, 32, 32, 3, options, ViewSeed(7, 0, 1, 0))));
  EXPECT_FALSE(BitIdentical(base, View(image, 32, 32, 3, options, ViewSeed(8, 0, 0, 0))));

  // No two seeds collide over a small grid, including swapped fields.
  std::set<uint64_t> seeds;
  for (int64_t epoch = 0; epoch < 10; ++epoch) {
    for (int64_t index = 0; index < 100; ++index) {
      for (int view = 0; view < 2; ++view) seeds.insert(ViewSeed(1, epoch, index, view));
    }
  }
  EXPECT_EQ(seeds.size(), 10u * 100u * 2u);
  EXPECT_NE(ViewSeed(1, 2, 3, 0), ViewSeed(1, 3, 2, 0));
}

TEST(AugmentViewTest, ThreadCountDoesNotChangeTheViews) {
  const int num_images = 256;
  const int size = 32;
  const int view_floats = 3 * size * size;
  std::vector<std::vector<uint8_t>> images;
  for (int i = 0; i < num_images; ++i) images.push_back(RandomImage(size, size, 3, 100 + i));
  for (AugmentRecipe recipe : kAllRecipes) {
    const AugmentOptions options = Options(recipe, size);
    auto augment_range = [&](std::vector<float>* out, int begin, int end, int step) {
      for (int i = begin; i < end; i += step) {
        for (int view = 0; view < 2; ++view) {
          AugmentView(images[i].data(), size, size, 3, options, ViewSeed(42, 3, i, view),
                      out->data() + (2 * i + view) * view_floats);
        }
      }
    };
    std::vector<float> one_thread(2 * num_images * view_floats);
    augment_range(&one_thread, 0, num_images, 1);

    // Two threads taking alternate images, so each thread's scratch buffers see a different
    // history than in the single-threaded run.
    std::vector<float> two_threads(2 * num_images * view_floats);
    std::thread even(augment_range, &two_threads, 0, num_images, 2);
    std::thread odd(augment_range, &two_threads, 1, num_images, 2);
    even.join();
    odd.join();
    EXPECT_TRUE(BitIdentical(one_thread, two_threads));
  }
}

TEST(AugmentViewTest, WritesExactly3xSizexSizeFloats) {
  const std::vector<uint8_t> image = RandomImage(40, 50, 3, 4);
  for (AugmentRecipe recipe : kAllRecipes) {
    const AugmentOptions options = Options(recipe, 24);
    const float kGuard = -12345.0f;
    std::vector<float> out(3 * 24 * 24 + 64, kGuard);
    for (uint64_t seed = 0; seed < 50; ++seed) {
      AugmentView(image.data(), 40, 50, 3, options, seed, out.data());
      for (int i = 0; i < 3 * 24 * 24; ++i) ASSERT_TRUE(std::isfinite(out[i]));
      for (int i = 3 * 24 * 24; i < static_cast<int>(out.size()); ++i) ASSERT_EQ(out[i], kGuard);
    }
  }
}

TEST(AugmentViewTest, ConstantImageWithoutJitterIsTheNormalisedConstant) {
  const std::vector<uint8_t> image(37 * 53 * 3, 200);
  AugmentSteps steps = RecipeSteps(AugmentRecipe::kV2);
  steps.jitter_p = 0.0;  // everything else on, always
  steps.flip_p = 1.0;
  steps.grayscale_p = 1.0;
  steps.blur_p = 1.0;
  AugmentOptions options = Options(AugmentRecipe::kV2, 32);
  options.steps = steps;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const std::vector<float> out = View(image, 37, 53, 3, options, seed);
    for (int c = 0; c < 3; ++c) {
      const float expected = (200 / 255.0f - options.mean[c]) / options.stddev[c];
      for (int i = 0; i < 32 * 32; ++i) ASSERT_NEAR(out[c * 32 * 32 + i], expected, 1e-5f);
    }
  }
}

TEST(AugmentViewTest, FlipMirrorsAKnownImage) {
  // 4x4 RGB image whose pixel (y, x) has channel values (16y + x, 100 + x, 200 - 10y).
  const int size = 4;
  std::vector<uint8_t> image(size * size * 3);
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      uint8_t* p = &image[(y * size + x) * 3];
      p[0] = static_cast<uint8_t>(16 * y + x);
      p[1] = static_cast<uint8_t>(100 + x);
      p[2] = static_cast<uint8_t>(200 - 10 * y);
    }
  }
  AugmentOptions options = Options(AugmentRecipe::kCifar, size);
  AugmentSteps steps = NoOpSteps();
  steps.min_crop_ratio = steps.max_crop_ratio = 1.0;
  steps.flip_p = 1.0;
  options.steps = steps;
  const std::vector<float> flipped = View(image, size, size, 3, options, 5);
  steps.flip_p = 0.0;
  options.steps = steps;
  const std::vector<float> plain = View(image, size, size, 3, options, 5);
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < size; ++y) {
      for (int x = 0; x < size; ++x) {
        const int i = y * size + x;
        const float source = image[(y * size + x) * 3 + c] / 255.0f;
        const float mirrored = image[(y * size + (size - 1 - x)) * 3 + c] / 255.0f;
        EXPECT_NEAR(Denormalized(plain, options, c, i), source, 1e-6f);
        EXPECT_NEAR(Denormalized(flipped, options, c, i), mirrored, 1e-6f);
      }
    }
  }
}

TEST(AugmentViewTest, FlipHappensAboutHalfTheTime) {
  // A left-dark, right-bright image: a flipped view is bright on the left.
  const int size = 16;
  std::vector<uint8_t> image(size * size, 0);
  for (int y = 0; y < size; ++y) {
    for (int x = size / 2; x < size; ++x) image[y * size + x] = 255;
  }
  AugmentOptions options = Options(AugmentRecipe::kCifar, size);
  AugmentSteps steps = NoOpSteps();
  steps.flip_p = 0.5;
  options.steps = steps;
  int flipped = 0;
  const int trials = 2000;
  for (int i = 0; i < trials; ++i) {
    const std::vector<float> out = View(image, size, size, 1, options, ViewSeed(0, 0, i, 0));
    flipped += Denormalized(out, options, 0, 0) > 0.5f;
  }
  EXPECT_NEAR(flipped / static_cast<double>(trials), 0.5, 0.05);
}

TEST(AugmentViewTest, GrayscaleMakesTheChannelsEqual) {
  const std::vector<uint8_t> image = RandomImage(48, 40, 3, 6);
  for (AugmentRecipe recipe : kAllRecipes) {
    AugmentOptions options = Options(recipe, 32);
    AugmentSteps steps = RecipeSteps(recipe);
    steps.grayscale_p = 1.0;
    options.steps = steps;
    for (uint64_t seed = 0; seed < 10; ++seed) {
      const std::vector<float> out = View(image, 48, 40, 3, options, seed);
      for (int i = 0; i < 32 * 32; ++i) {
        ASSERT_NEAR(Denormalized(out, options, 0, i), Denormalized(out, options, 1, i), 1e-5f);
        ASSERT_NEAR(Denormalized(out, options, 0, i), Denormalized(out, options, 2, i), 1e-5f);
      }
    }
  }
  // And without it, colour survives.
  const std::vector<float> out = View(image, 48, 40, 3, Options(AugmentRecipe::kV2, 32), 0);
  double differences = 0;
  for (int i = 0; i < 32 * 32; ++i) {
    differences += std::fabs(Denormalized(out, Options(AugmentRecipe::kV2, 32), 0, i) -
                             Denormalized(out, Options(AugmentRecipe::kV2, 32), 1, i));
  }
  EXPECT_GT(differences, 1.0);
}

TEST(AugmentViewTest, ZeroStrengthJitterIsTheIdentity) {
  const std::vector<uint8_t> image = RandomImage(30, 34, 3, 7);
  for (AugmentRecipe recipe : kAllRecipes) {
    AugmentSteps jitter = RecipeSteps(recipe);
    jitter.jitter_p = 1.0;
    jitter.brightness = jitter.contrast = jitter.saturation = jitter.hue = 0.0f;
    AugmentSteps no_jitter = RecipeSteps(recipe);
    no_jitter.jitter_p = 0.0;
    AugmentOptions with = Options(recipe, 32);
    with.steps = jitter;
    AugmentOptions without = Options(recipe, 32);
    without.steps = no_jitter;
    for (uint64_t seed = 0; seed < 20; ++seed) {
      EXPECT_TRUE(BitIdentical(View(image, 30, 34, 3, with, seed),
                               View(image, 30, 34, 3, without, seed)));
    }
    // Full-strength jitter does change the view.
    AugmentOptions full = Options(recipe, 32);
    AugmentSteps always = RecipeSteps(recipe);
    always.jitter_p = 1.0;
    full.steps = always;
    EXPECT_FALSE(BitIdentical(View(image, 30, 34, 3, full, 1),
                              View(image, 30, 34, 3, without, 1)));
  }
}

TEST(AugmentViewTest, BlurReducesTheVarianceOfNoise) {
  const std::vector<uint8_t> image = RandomImage(64, 64, 3, 8);
  AugmentOptions options = Options(AugmentRecipe::kV2, 64);
  AugmentSteps steps = NoOpSteps();
  options.steps = steps;
  const std::vector<float> sharp = View(image, 64, 64, 3, options, 9);
  steps.blur_p = 1.0;
  steps.min_blur_sigma = steps.max_blur_sigma = 1.5;
  options.steps = steps;
  const std::vector<float> blurred = View(image, 64, 64, 3, options, 9);
  auto variance = [](const float* p, int n) {
    double mean = 0, var = 0;
    for (int i = 0; i < n; ++i) mean += p[i];
    mean /= n;
    for (int i = 0; i < n; ++i) var += (p[i] - mean) * (p[i] - mean);
    return var / n;
  };
  for (int c = 0; c < 3; ++c) {
    EXPECT_LT(variance(blurred.data() + c * 64 * 64, 64 * 64),
              0.2 * variance(sharp.data() + c * 64 * 64, 64 * 64));
  }
}

TEST(AugmentViewTest, GrayInputGivesThreeEqualChannels) {
  // Fashion-MNIST: 28x28, 1 channel, into 32x32 views.
  const std::vector<uint8_t> image = RandomImage(28, 28, 1, 10);
  for (AugmentRecipe recipe : kAllRecipes) {
    const AugmentOptions options = Options(recipe, 32);
    ASSERT_TRUE(CheckAugmentArgs(28, 28, 1, options).ok());
    const std::vector<float> out = View(image, 28, 28, 1, options, 11);
    EXPECT_TRUE(BitIdentical(out, View(image, 28, 28, 1, options, 11)));
    for (int i = 0; i < 32 * 32; ++i) {
      ASSERT_NEAR(Denormalized(out, options, 0, i), Denormalized(out, options, 1, i), 1e-5f);
      ASSERT_NEAR(Denormalized(out, options, 0, i), Denormalized(out, options, 2, i), 1e-5f);
    }
  }
}

TEST(AugmentViewTest, DegenerateImageSizesWork) {
  for (const auto& [h, w] : {std::pair{1, 1}, std::pair{1, 300}, std::pair{300, 2}}) {
    const std::vector<uint8_t> image = RandomImage(h, w, 3, 12);
    for (AugmentRecipe recipe : kAllRecipes) {
      const std::vector<float> out = View(image, h, w, 3, Options(recipe, 32), 13);
      for (float v : out) ASSERT_TRUE(std::isfinite(v));
    }
  }
}

TEST(EvalViewTest, SmallImagesAreOnlyNormalised) {
  const std::vector<uint8_t> image = RandomImage(32, 32, 3, 14);
  const AugmentOptions options = Options(AugmentRecipe::kCifar, 32);
  std::vector<float> out(3 * 32 * 32), again(3 * 32 * 32);
  EvalView(image.data(), 32, 32, 3, options, out.data());
  EvalView(image.data(), 32, 32, 3, options, again.data());
  EXPECT_TRUE(BitIdentical(out, again));
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < 32 * 32; ++i) {
      EXPECT_NEAR(Denormalized(out, options, c, i), image[i * 3 + c] / 255.0f, 1e-6f);
    }
  }
}

TEST(EvalViewTest, LargeImagesAreResizedThenCenterCropped) {
  // Shorter side already 256: the resize is the identity and the 224 crop starts at
  // (16, round(76 / 2) = 38).
  const std::vector<uint8_t> image = RandomImage(256, 300, 3, 15);
  const AugmentOptions options = Options(AugmentRecipe::kV2, 224);
  std::vector<float> out(3 * 224 * 224), again(3 * 224 * 224);
  EvalView(image.data(), 256, 300, 3, options, out.data());
  EvalView(image.data(), 256, 300, 3, options, again.data());
  EXPECT_TRUE(BitIdentical(out, again));
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < 224; ++y) {
      for (int x = 0; x < 224; ++x) {
        const float source = image[((y + 16) * 300 + x + 38) * 3 + c] / 255.0f;
        ASSERT_NEAR(Denormalized(out, options, c, y * 224 + x), source, 1e-6f);
      }
    }
  }
}

TEST(EvalViewTest, GrayInputWorks) {
  const std::vector<uint8_t> image = RandomImage(28, 28, 1, 16);
  const AugmentOptions options = Options(AugmentRecipe::kCifar, 32);
  std::vector<float> out(3 * 32 * 32);
  EvalView(image.data(), 28, 28, 1, options, out.data());
  for (int i = 0; i < 32 * 32; ++i) {
    EXPECT_NEAR(Denormalized(out, options, 0, i), Denormalized(out, options, 2, i), 1e-5f);
  }
}

TEST(CheckAugmentArgsTest, RejectsBadArguments) {
  const AugmentOptions good = Options(AugmentRecipe::kV2, 224);
  EXPECT_TRUE(CheckAugmentArgs(10, 10, 3, good).ok());
  EXPECT_FALSE(CheckAugmentArgs(10, 10, 2, good).ok());
  EXPECT_FALSE(CheckAugmentArgs(0, 10, 3, good).ok());
  AugmentOptions bad = good;
  bad.out_size = 0;
  EXPECT_FALSE(CheckAugmentArgs(10, 10, 3, bad).ok());
  bad = good;
  bad.stddev[1] = 0.0f;
  EXPECT_FALSE(CheckAugmentArgs(10, 10, 3, bad).ok());
  bad = good;
  AugmentSteps steps = RecipeSteps(AugmentRecipe::kV2);
  steps.jitter_p = 1.5;
  bad.steps = steps;
  EXPECT_FALSE(CheckAugmentArgs(10, 10, 3, bad).ok());
  steps = RecipeSteps(AugmentRecipe::kV2);
  steps.min_crop_scale = 0.0;
  bad.steps = steps;
  EXPECT_FALSE(CheckAugmentArgs(10, 10, 3, bad).ok());
  steps = RecipeSteps(AugmentRecipe::kV2);
  steps.hue = 0.6f;
  bad.steps = steps;
  EXPECT_FALSE(CheckAugmentArgs(10, 10, 3, bad).ok());
}

TEST(RecipeStepsTest, MatchTheOfficialRecipes) {
  const AugmentSteps v1 = RecipeSteps(AugmentRecipe::kV1);
  EXPECT_EQ(v1.jitter_p, 1.0);
  EXPECT_EQ(v1.hue, 0.4f);
  EXPECT_TRUE(v1.grayscale_before_jitter);
  EXPECT_EQ(v1.blur_p, 0.0);
  const AugmentSteps v2 = RecipeSteps(AugmentRecipe::kV2);
  EXPECT_EQ(v2.jitter_p, 0.8);
  EXPECT_EQ(v2.hue, 0.1f);
  EXPECT_FALSE(v2.grayscale_before_jitter);
  EXPECT_EQ(v2.blur_p, 0.5);
  const AugmentSteps cifar = RecipeSteps(AugmentRecipe::kCifar);
  EXPECT_EQ(cifar.jitter_p, 0.8);
  EXPECT_EQ(cifar.blur_p, 0.0);
  EXPECT_EQ(v1.min_crop_scale, 0.2);
  EXPECT_EQ(v2.min_crop_scale, 0.2);
  EXPECT_EQ(cifar.min_crop_scale, 0.08);
  for (const AugmentSteps& s : {v1, v2, cifar}) {
    EXPECT_EQ(s.grayscale_p, 0.2);
    EXPECT_EQ(s.flip_p, 0.5);
    EXPECT_EQ(s.brightness, 0.4f);
  }
}

}  // namespace
}  // namespace moco
