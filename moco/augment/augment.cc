#include "moco/augment/augment.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "moco/augment/image_ops.h"
#include "moco/augment/random.h"

namespace moco {
namespace {

// Buffers reused by every view this thread makes: after the first few images no view
// allocates.
OpsScratch& ThreadScratch() {
  thread_local OpsScratch scratch;
  return scratch;
}

// Where a view's planes are built: in `out` itself for kChw, else in the thread's scratch.
float* ViewPlanes(float* out, ViewLayout layout, int size, OpsScratch& scratch) {
  if (layout == ViewLayout::kChw) return out;
  scratch.view.resize(3 * static_cast<size_t>(size) * size);
  return scratch.view.data();
}

// Radius of the blur kernel for an image of side `size`: a kernel of about 10% of the side,
// made odd (as SimCLR: 23 taps at 224, 3 at 32).
int BlurRadius(int size) { return std::max(1, size / 10 / 2); }

// ColorJitter: all four factors are drawn, then the ops run in a random order, as
// torchvision's ColorJitter.get_params. A zero strength skips its op (torchvision stores
// None for it), so a jitter of all zeros leaves the image bit-identical.
void ColorJitter(const PlanarImage& image, const AugmentSteps& steps, SplitMix64& rng) {
  int order[4] = {0, 1, 2, 3};
  for (int i = 3; i > 0; --i) std::swap(order[i], order[rng.Below(i + 1)]);  // Fisher-Yates
  auto factor = [&rng](float strength) {
    return static_cast<float>(rng.Uniform(std::max(0.0f, 1.0f - strength), 1.0f + strength));
  };
  const float brightness = factor(steps.brightness);
  const float contrast = factor(steps.contrast);
  const float saturation = factor(steps.saturation);
  const float hue = static_cast<float>(rng.Uniform(-steps.hue, steps.hue));
  for (int op : order) {
    switch (op) {
      case 0:
        if (steps.brightness > 0) AdjustBrightness(image, brightness);
        break;
      case 1:
        if (steps.contrast > 0) AdjustContrast(image, contrast);
        break;
      case 2:
        if (steps.saturation > 0) AdjustSaturation(image, saturation);
        break;
      default:
        if (steps.hue > 0) AdjustHue(image, hue);
        break;
    }
  }
}

bool IsProbability(double p) { return p >= 0.0 && p <= 1.0; }

}  // namespace

AugmentOptions AugmentOptionsFor(const config::DataConfig& data) {
  AugmentOptions options;
  switch (data.augmentation()) {
    case config::DataConfig::V2:
      options.recipe = AugmentRecipe::kV2;
      break;
    case config::DataConfig::CIFAR:
      options.recipe = AugmentRecipe::kCifar;
      options.mean = kCifar10Mean;  // the official CIFAR-10 notebook's normalisation
      options.stddev = kCifar10Stddev;
      break;
    default:
      options.recipe = AugmentRecipe::kV1;
  }
  options.out_size = data.image_size();
  options.fast_decode = data.decode() == config::DataConfig::FAST;
  return options;
}

AugmentSteps RecipeSteps(AugmentRecipe recipe) {
  AugmentSteps steps;  // crop 0.2-1, flip 0.5, grayscale 0.2: shared by all three
  switch (recipe) {
    case AugmentRecipe::kV1:
      steps.jitter_p = 1.0;
      steps.hue = 0.4f;
      steps.grayscale_before_jitter = true;
      break;
    case AugmentRecipe::kV2:
      steps.blur_p = 0.5;
      break;
    case AugmentRecipe::kCifar:
      steps.min_crop_scale = 0.08;  // the notebook's RandomResizedCrop(32) keeps its default scale
      break;
  }
  return steps;
}

absl::Status CheckAugmentArgs(int height, int width, int channels,
                              const AugmentOptions& options) {
  if (height < 1 || width < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("augment: image is ", height, "x", width, ", need at least 1x1"));
  }
  if (channels != 1 && channels != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("augment: image has ", channels, " channels, need 1 or 3"));
  }
  return CheckAugmentOptions(options);
}

absl::Status CheckAugmentOptions(const AugmentOptions& options) {
  if (options.out_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("augment: out_size is ", options.out_size, ", need >= 1"));
  }
  for (int c = 0; c < 3; ++c) {
    if (!(options.stddev[c] > 0.0f)) {
      return absl::InvalidArgumentError(
          absl::StrCat("augment: stddev[", c, "] is ", options.stddev[c], ", need > 0"));
    }
  }
  const AugmentSteps steps = options.steps.value_or(RecipeSteps(options.recipe));
  const std::pair<const char*, double> probabilities[] = {{"flip_p", steps.flip_p},
                                                          {"jitter_p", steps.jitter_p},
                                                          {"grayscale_p", steps.grayscale_p},
                                                          {"blur_p", steps.blur_p}};
  for (const auto& [name, p] : probabilities) {
    if (!IsProbability(p)) {
      return absl::InvalidArgumentError(
          absl::StrCat("augment: ", name, " is ", p, ", need a probability in [0, 1]"));
    }
  }
  if (!(steps.min_crop_scale > 0.0 && steps.min_crop_scale <= steps.max_crop_scale &&
        steps.max_crop_scale <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("augment: crop scale range [", steps.min_crop_scale, ", ",
                     steps.max_crop_scale, "] must satisfy 0 < min <= max <= 1"));
  }
  if (!(steps.min_crop_ratio > 0.0 && steps.min_crop_ratio <= steps.max_crop_ratio)) {
    return absl::InvalidArgumentError(
        absl::StrCat("augment: crop ratio range [", steps.min_crop_ratio, ", ",
                     steps.max_crop_ratio, "] must satisfy 0 < min <= max"));
  }
  if (steps.brightness < 0 || steps.contrast < 0 || steps.saturation < 0 || steps.hue < 0 ||
      steps.hue > 0.5f) {
    return absl::InvalidArgumentError(absl::StrCat(
        "augment: jitter strengths (", steps.brightness, ", ", steps.contrast, ", ",
        steps.saturation, ", ", steps.hue, ") must be >= 0, hue <= 0.5"));
  }
  if (steps.blur_p > 0 &&
      !(steps.min_blur_sigma > 0.0 && steps.min_blur_sigma <= steps.max_blur_sigma)) {
    return absl::InvalidArgumentError(
        absl::StrCat("augment: blur sigma range [", steps.min_blur_sigma, ", ",
                     steps.max_blur_sigma, "] must satisfy 0 < min <= max"));
  }
  return absl::OkStatus();
}

uint64_t ViewSeed(uint64_t run_seed, int64_t epoch, int64_t index, int view) {
  // A chain of SplitMix64 finalisers. Each field gets its own odd multiplier before mixing,
  // so swapping two fields' values gives an unrelated seed.
  uint64_t h = Mix64(run_seed + 0x9e3779b97f4a7c15ULL);
  h = Mix64(h ^ (static_cast<uint64_t>(epoch) * 0xd6e8feb86659fd93ULL + 1));
  h = Mix64(h ^ (static_cast<uint64_t>(index) * 0xa0761d6478bd642fULL + 2));
  h = Mix64(h ^ (static_cast<uint64_t>(view) * 0xe7037ed1a0b428dbULL + 3));
  return h;
}

namespace {

// Shorter side an eval view resizes to (Resize(256) for 224, scaled), or 0 for no resize.
int64_t EvalResizeShorter(int height, int width, const AugmentOptions& options) {
  const int size = options.out_size;
  if (options.recipe == AugmentRecipe::kCifar || std::min(height, width) <= size) return 0;
  return (static_cast<int64_t>(size) * 256 + 112) / 224;
}

// The crop box AugmentView draws for `seed` on an image of height x width.
CropBox ViewCropBox(int height, int width, const AugmentSteps& steps, uint64_t seed) {
  SplitMix64 streams(seed);
  SplitMix64 crop_rng(streams.Next());  // the first stream, as AugmentView takes it
  return SampleCropBox(height, width, steps.min_crop_scale, steps.max_crop_scale, steps.min_crop_ratio,
                       steps.max_crop_ratio, crop_rng);
}

}  // namespace

int TrainDecodeScale(int height, int width, const AugmentOptions& options, const uint64_t* seeds,
                     int num_seeds) {
  const AugmentSteps steps = options.steps.value_or(RecipeSteps(options.recipe));
  int smallest = std::min(height, width);
  for (int i = 0; i < num_seeds; ++i) {
    const CropBox box = ViewCropBox(height, width, steps, seeds[i]);
    smallest = std::min({smallest, box.height, box.width});
  }
  int scale = 8;
  while (scale > 1 && smallest / scale < options.out_size) scale /= 2;
  return scale;
}

int EvalDecodeScale(int height, int width, const AugmentOptions& options) {
  const int64_t shorter = EvalResizeShorter(height, width, options);
  if (shorter == 0) return 1;
  int scale = 8;
  while (scale > 1 && std::min(height, width) / scale < shorter) scale /= 2;
  return scale;
}

void AugmentView(const uint8_t* hwc, int height, int width, int channels,
                 const AugmentOptions& options, uint64_t seed, float* out, ViewLayout layout) {
  const AugmentSteps steps = options.steps.value_or(RecipeSteps(options.recipe));
  OpsScratch& scratch = ThreadScratch();

  // One stream per op, so that changing one op's settings (a test, an ablation) leaves the
  // others' draws, and so their results, unchanged. (ViewCropBox takes the first, as here.)
  SplitMix64 streams(seed);
  SplitMix64 crop_rng(streams.Next());
  SplitMix64 flip_rng(streams.Next());
  SplitMix64 grayscale_rng(streams.Next());
  SplitMix64 jitter_rng(streams.Next());
  SplitMix64 blur_rng(streams.Next());

  // The view is built as planes (in place in a kChw out): out_size^2 floats per channel, and a
  // gray image (1 channel) uses only the first plane until Normalize replicates it.
  const int size = options.out_size;
  PlanarImage image{ViewPlanes(out, layout, size, scratch), channels, size, size};

  const CropBox box =
      SampleCropBox(height, width, steps.min_crop_scale, steps.max_crop_scale,
                    steps.min_crop_ratio, steps.max_crop_ratio, crop_rng);
  // The flip is done by the resize. It commutes with every later op (all are pointwise,
  // or a blur with a symmetric kernel and symmetric borders), so doing it first is exact.
  const bool flip = flip_rng.Bernoulli(steps.flip_p);
  ResizeCrop(hwc, height, width, channels, box, flip, image, scratch);

  const bool grayscale = grayscale_rng.Bernoulli(steps.grayscale_p);
  if (grayscale && steps.grayscale_before_jitter) image = ToGrayscale(image);
  if (jitter_rng.Bernoulli(steps.jitter_p)) ColorJitter(image, steps, jitter_rng);
  if (grayscale && !steps.grayscale_before_jitter) image = ToGrayscale(image);

  if (blur_rng.Bernoulli(steps.blur_p)) {
    const double sigma = blur_rng.Uniform(steps.min_blur_sigma, steps.max_blur_sigma);
    GaussianBlur(image, static_cast<float>(sigma), BlurRadius(size), scratch);
  }
  Normalize(image, options.mean, options.stddev, out, layout);
}

void EvalView(const uint8_t* hwc, int height, int width, int channels,
              const AugmentOptions& options, float* out, ViewLayout layout) {
  OpsScratch& scratch = ThreadScratch();
  const int size = options.out_size;
  const PlanarImage image{ViewPlanes(out, layout, size, scratch), channels, size, size};
  const int64_t shorter = EvalResizeShorter(height, width, options);
  if (shorter == 0) {
    ResizeCrop(hwc, height, width, channels, CropBox{0, 0, height, width}, /*flip=*/false,
               image, scratch);
  } else {
    // Resize(256) then CenterCrop(224), scaled to out_size. As torchvision: the longer
    // side is truncated, the crop offset rounded half to even.
    int64_t resized_height = shorter;
    int64_t resized_width = shorter;
    if (height <= width) {
      resized_width = shorter * width / height;
    } else {
      resized_height = shorter * height / width;
    }
    const int top = static_cast<int>(std::nearbyint((resized_height - size) / 2.0));
    const int left = static_cast<int>(std::nearbyint((resized_width - size) / 2.0));
    ResizeThenCrop(hwc, height, width, channels, static_cast<int>(resized_height),
                   static_cast<int>(resized_width), top, left, image, scratch);
  }
  Normalize(image, options.mean, options.stddev, out, layout);
}

}  // namespace moco
