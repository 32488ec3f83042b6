#include "moco/augment/image_ops.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "moco/augment/random.h"

namespace moco {
namespace {

std::vector<uint8_t> RandomPixels(int n, uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<uint8_t> pixels(n);
  for (uint8_t& p : pixels) p = static_cast<uint8_t>(rng.Below(256));
  return pixels;
}

std::vector<float> RandomFloats(int n, uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<float> values(n);
  for (float& v : values) v = static_cast<float>(rng.UniformDouble());
  return values;
}

double Variance(const float* p, int n) {
  double mean = 0;
  for (int i = 0; i < n; ++i) mean += p[i];
  mean /= n;
  double var = 0;
  for (int i = 0; i < n; ++i) var += (p[i] - mean) * (p[i] - mean);
  return var / n;
}

TEST(SampleCropBoxTest, BoxesInBoundsWithScaleAndRatioInRange) {
  const int height = 375;
  const int width = 500;
  const double area = static_cast<double>(height) * width;
  double sum_fraction = 0;
  int small = 0;  // area fraction below 0.3
  int large = 0;  // area fraction above 0.9
  int touches_bottom_right = 0;
  const int trials = 20000;
  for (int seed = 0; seed < trials; ++seed) {
    SplitMix64 rng(seed);
    const CropBox box = SampleCropBox(height, width, 0.2, 1.0, 3.0 / 4, 4.0 / 3, rng);
    ASSERT_GE(box.top, 0);
    ASSERT_GE(box.left, 0);
    ASSERT_GE(box.height, 1);
    ASSERT_GE(box.width, 1);
    ASSERT_LE(box.top + box.height, height);
    ASSERT_LE(box.left + box.width, width);
    const double fraction = box.height * box.width / area;
    // Rounding the sides to whole pixels moves the area by well under 1%.
    ASSERT_GE(fraction, 0.2 * 0.99) << "seed " << seed;
    ASSERT_LE(fraction, 1.0);
    const double ratio = static_cast<double>(box.width) / box.height;
    ASSERT_GE(ratio, 0.75 * 0.99) << "seed " << seed;
    ASSERT_LE(ratio, 4.0 / 3 * 1.01) << "seed " << seed;
    sum_fraction += fraction;
    small += fraction < 0.3;
    large += fraction > 0.9;
    touches_bottom_right +=
        box.top + box.height == height || box.left + box.width == width;
  }
  // Tries whose box does not fit are redrawn, which favours small areas: the accepted
  // area fraction is not U(0.2, 1). Simulating torchvision's get_params in Python (200,000
  // draws for 375x500) gives mean 0.495, 17.8% of boxes below 0.3 and 1.7% above 0.9.
  EXPECT_NEAR(sum_fraction / trials, 0.495, 0.01);
  EXPECT_NEAR(small / static_cast<double>(trials), 0.178, 0.01);
  EXPECT_NEAR(large / static_cast<double>(trials), 0.017, 0.005);
  EXPECT_GT(touches_bottom_right, 0);  // the position reaches the far edges too
}

TEST(SampleCropBoxTest, FallsBackToCentralCropWithinRatio) {
  // No box of ratio within [3/4, 4/3] and area >= 0.9 fits a 1000x10 image.
  SplitMix64 rng(7);
  const CropBox box = SampleCropBox(1000, 10, 0.9, 1.0, 3.0 / 4, 4.0 / 3, rng);
  EXPECT_EQ(box.width, 10);
  EXPECT_EQ(box.height, 13);  // round(10 / 0.75)
  EXPECT_EQ(box.top, (1000 - 13) / 2);
  EXPECT_EQ(box.left, 0);
}

TEST(SampleCropBoxTest, FullScaleOfSquareImageIsWholeImage) {
  for (int seed = 0; seed < 100; ++seed) {
    SplitMix64 rng(seed);
    const CropBox box = SampleCropBox(32, 32, 1.0, 1.0, 3.0 / 4, 4.0 / 3, rng);
    EXPECT_EQ(box.top, 0);
    EXPECT_EQ(box.left, 0);
    EXPECT_EQ(box.height, 32);
    EXPECT_EQ(box.width, 32);
  }
}

TEST(ResizeCropTest, SameSizeIsACopy) {
  const int h = 5, w = 7;
  const std::vector<uint8_t> hwc = RandomPixels(h * w * 3, 1);
  std::vector<float> out(3 * h * w);
  OpsScratch scratch;
  ResizeCrop(hwc.data(), h, w, 3, CropBox{0, 0, h, w}, false, {out.data(), 3, h, w}, scratch);
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < h * w; ++i) {
      EXPECT_NEAR(out[c * h * w + i], hwc[i * 3 + c] / 255.0f, 1e-7f);
    }
  }
}

TEST(ResizeCropTest, FlipMirrorsColumns) {
  const int h = 9, w = 6;
  const std::vector<uint8_t> hwc = RandomPixels(h * w * 3, 2);
  const CropBox box{1, 2, 7, 4};
  std::vector<float> plain(3 * 5 * 5), flipped(3 * 5 * 5);
  OpsScratch scratch;
  ResizeCrop(hwc.data(), h, w, 3, box, false, {plain.data(), 3, 5, 5}, scratch);
  ResizeCrop(hwc.data(), h, w, 3, box, true, {flipped.data(), 3, 5, 5}, scratch);
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < 5; ++y) {
      for (int x = 0; x < 5; ++x) {
        EXPECT_EQ(flipped[(c * 5 + y) * 5 + x], plain[(c * 5 + y) * 5 + (4 - x)]);
      }
    }
  }
}

TEST(ResizeCropTest, ShrinkUsesPilTriangleWidenedByScale) {
  // PIL, Image.resize((2, 1), BILINEAR) of the row [0, 255, 0, 255]: output 0 has its
  // centre at source x = 1, filter half-width 2, weights 0.75, 0.75, 0.25 on pixels 0, 1, 2,
  // normalised: 255 * 0.75 / 1.75 = 109.3 (PIL rounds to 109).
  const std::vector<uint8_t> row = {0, 255, 0, 255};
  std::vector<float> out(2);
  OpsScratch scratch;
  ResizeCrop(row.data(), 1, 4, 1, CropBox{0, 0, 1, 4}, false, {out.data(), 1, 1, 2}, scratch);
  EXPECT_NEAR(out[0] * 255, 255 * 0.75 / 1.75, 1e-3);
  // Output 1: centre 3, weights 0.25, 0.75, 0.75 on pixels 1, 2, 3 (pixel 4 is outside).
  EXPECT_NEAR(out[1] * 255, 255 * 1.0 / 1.75, 1e-3);
}

TEST(ResizeCropTest, ConstantImageStaysConstant) {
  const std::vector<uint8_t> gray(40 * 30, 77);
  OpsScratch scratch;
  for (const auto& [out_h, out_w] : {std::pair{7, 9}, std::pair{64, 64}, std::pair{13, 50}}) {
    std::vector<float> out(out_h * out_w);
    ResizeCrop(gray.data(), 40, 30, 1, CropBox{3, 4, 25, 20}, false,
               {out.data(), 1, out_h, out_w}, scratch);
    for (float v : out) EXPECT_NEAR(v, 77 / 255.0f, 1e-6f);
  }
}

TEST(ResizeThenCropTest, EqualsAWindowOfTheFullResize) {
  const int h = 10, w = 12;
  const std::vector<uint8_t> hwc = RandomPixels(h * w * 3, 3);
  const int rh = 15, rw = 17;
  std::vector<float> full(3 * rh * rw), window(3 * 8 * 9);
  OpsScratch scratch;
  ResizeCrop(hwc.data(), h, w, 3, CropBox{0, 0, h, w}, false, {full.data(), 3, rh, rw},
             scratch);
  ResizeThenCrop(hwc.data(), h, w, 3, rh, rw, 4, 6, {window.data(), 3, 8, 9}, scratch);
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < 8; ++y) {
      for (int x = 0; x < 9; ++x) {
        EXPECT_EQ(window[(c * 8 + y) * 9 + x], full[(c * rh + y + 4) * rw + x + 6]);
      }
    }
  }
}

TEST(ColorOpsTest, BrightnessScalesAndClamps) {
  std::vector<float> p = {0.2f, 0.6f, 0.9f};
  AdjustBrightness({p.data(), 1, 1, 3}, 1.5f);
  EXPECT_FLOAT_EQ(p[0], 0.3f);
  EXPECT_FLOAT_EQ(p[1], 0.9f);
  EXPECT_FLOAT_EQ(p[2], 1.0f);
}

TEST(ColorOpsTest, ContrastBlendsWithTheGreyMean) {
  // One red and one blue pixel: grey mean = (0.299 + 0.114) / 2.
  std::vector<float> p = {1, 0, /*g*/ 0, 0, /*b*/ 0, 1};
  const PlanarImage image{p.data(), 3, 1, 2};
  AdjustContrast(image, 0.0f);
  const float mean = (0.299f + 0.114f) / 2;
  for (float v : p) EXPECT_NEAR(v, mean, 1e-6f);
}

TEST(ColorOpsTest, ContrastKeepsTheMeanOfAGreyImage) {
  std::vector<float> p = RandomFloats(64, 4);
  for (float& v : p) v = 0.25f + 0.5f * v;  // away from the clamps
  double before = 0, after = 0;
  for (float v : p) before += v;
  AdjustContrast({p.data(), 1, 8, 8}, 1.4f);
  for (float v : p) after += v;
  EXPECT_NEAR(before, after, 1e-4);
}

TEST(ColorOpsTest, ZeroSaturationIsGrey) {
  std::vector<float> p = RandomFloats(3 * 16, 5);
  AdjustSaturation({p.data(), 3, 4, 4}, 0.0f);
  for (int i = 0; i < 16; ++i) {
    EXPECT_FLOAT_EQ(p[i], p[16 + i]);
    EXPECT_FLOAT_EQ(p[i], p[32 + i]);
  }
}

TEST(ColorOpsTest, HueRotatesPrimaries) {
  auto shifted = [](float r, float g, float b, float shift) {
    std::vector<float> p = {r, g, b};
    AdjustHue({p.data(), 3, 1, 1}, shift);
    return p;
  };
  auto expect_rgb = [](const std::vector<float>& p, float r, float g, float b) {
    EXPECT_NEAR(p[0], r, 1e-6f);
    EXPECT_NEAR(p[1], g, 1e-6f);
    EXPECT_NEAR(p[2], b, 1e-6f);
  };
  expect_rgb(shifted(1, 0, 0, 1.0f / 3), 0, 1, 0);   // red -> green
  expect_rgb(shifted(1, 0, 0, -1.0f / 3), 0, 0, 1);  // red -> blue
  expect_rgb(shifted(1, 0, 0, 0.5f), 0, 1, 1);       // red -> cyan
  expect_rgb(shifted(0, 0, 1, 1.0f / 6), 1, 0, 1);   // blue -> magenta
  // A dark orange keeps its value (max) and saturation (max - min) under any shift.
  for (float shift : {-0.5f, -0.2f, 0.1f, 0.45f}) {
    const std::vector<float> p = shifted(0.6f, 0.3f, 0.2f, shift);
    EXPECT_NEAR(*std::max_element(p.begin(), p.end()), 0.6f, 1e-6f);
    EXPECT_NEAR(*std::min_element(p.begin(), p.end()), 0.2f, 1e-6f);
  }
  const std::vector<float> same = shifted(0.6f, 0.3f, 0.2f, 0.0f);
  EXPECT_NEAR(same[0], 0.6f, 1e-6f);
  EXPECT_NEAR(same[1], 0.3f, 1e-6f);
  EXPECT_NEAR(same[2], 0.2f, 1e-6f);
  const std::vector<float> grey = {0.4f, 0.4f, 0.4f};
  EXPECT_EQ(shifted(0.4f, 0.4f, 0.4f, 0.3f), grey);
}

TEST(ColorOpsTest, GrayscaleIsLuma) {
  std::vector<float> p = {1.0f, 0.0f, 0.5f};
  const PlanarImage gray = ToGrayscale({p.data(), 3, 1, 1});
  EXPECT_EQ(gray.channels, 1);
  EXPECT_NEAR(p[0], 0.299f + 0.114f * 0.5f, 1e-6f);
}

TEST(GaussianBlurTest, KeepsAConstantImage) {
  std::vector<float> p(3 * 12 * 10, 0.37f);
  OpsScratch scratch;
  GaussianBlur({p.data(), 3, 12, 10}, 2.0f, 5, scratch);
  for (float v : p) EXPECT_NEAR(v, 0.37f, 1e-6f);
}

TEST(GaussianBlurTest, ReducesTheVarianceOfNoise) {
  std::vector<float> p = RandomFloats(32 * 32, 6);
  const double before = Variance(p.data(), 32 * 32);
  OpsScratch scratch;
  GaussianBlur({p.data(), 1, 32, 32}, 1.0f, 4, scratch);
  const double after = Variance(p.data(), 32 * 32);
  // A 2-D Gaussian of sigma 1 passes about 1 / (4 pi sigma^2) = 8% of white noise's variance.
  EXPECT_LT(after, 0.15 * before);
  EXPECT_GT(after, 0.03 * before);
}

TEST(GaussianBlurTest, CommutesWithAFlip) {
  // The augmentation flips before blurring; that is exact only if blur(flip) = flip(blur).
  const int h = 7, w = 11;
  std::vector<float> p = RandomFloats(h * w, 7);
  std::vector<float> q(h * w);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) q[y * w + x] = p[y * w + (w - 1 - x)];
  }
  OpsScratch scratch;
  GaussianBlur({p.data(), 1, h, w}, 1.5f, 3, scratch);
  GaussianBlur({q.data(), 1, h, w}, 1.5f, 3, scratch);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) EXPECT_NEAR(q[y * w + x], p[y * w + (w - 1 - x)], 1e-6f);
  }
}

TEST(NormalizeTest, InterleavedOutputHoldsEachPixelsThreeChannels) {
  std::vector<float> rgb(3 * 4), gray(4);
  for (int i = 0; i < 12; ++i) rgb[i] = 0.05f * i;
  for (int i = 0; i < 4; ++i) gray[i] = 0.2f * i;
  const std::array<float, 3> mean{0.5f, 0.25f, 0.1f}, stddev{0.5f, 0.25f, 2.0f};
  std::vector<float> planar(12), hwc(12, -7.0f);
  for (const PlanarImage& image : {PlanarImage{rgb.data(), 3, 2, 2}, PlanarImage{gray.data(), 1, 2, 2}}) {
    Normalize(image, mean, stddev, planar.data());
    Normalize(image, mean, stddev, hwc.data(), ViewLayout::kHwc);
    for (int c = 0; c < 3; ++c) {
      for (int i = 0; i < 4; ++i) ASSERT_EQ(hwc[3 * i + c], planar[c * 4 + i]) << "channel " << c << ", pixel " << i;
    }
  }
}

TEST(NormalizeTest, ReplicatesAGreyImageInPlace) {
  std::vector<float> p(3 * 4, -1.0f);
  for (int i = 0; i < 4; ++i) p[i] = 0.25f * i;
  Normalize({p.data(), 1, 2, 2}, {0.5f, 0.25f, 0.0f}, {0.5f, 0.25f, 2.0f}, p.data());
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(p[i], (0.25f * i - 0.5f) / 0.5f, 1e-6f);
    EXPECT_NEAR(p[4 + i], (0.25f * i - 0.25f) / 0.25f, 1e-6f);
    EXPECT_NEAR(p[8 + i], 0.25f * i / 2.0f, 1e-6f);
  }
}

}  // namespace
}  // namespace moco
