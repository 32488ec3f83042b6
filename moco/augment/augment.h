// The two-view augmentation of MoCo, in plain C++ (no LibTorch, so data-loader threads can
// run it): AugmentView makes one random view of a uint8 image, fully determined by a seed;
// ViewSeed derives that seed from (run seed, epoch, image index, view), so the views of a
// run do not depend on thread count or order. EvalView is the deterministic transform for
// evaluation.
//
//   AugmentOptions options;
//   options.recipe = AugmentRecipe::kCifar;
//   options.out_size = 32;
//   MOCO_RETURN_IF_ERROR(CheckAugmentArgs(32, 32, 3, options));  // once per dataset
//   std::vector<float> query(3 * 32 * 32), key(3 * 32 * 32);   // CHW each
//   AugmentView(hwc, 32, 32, 3, options, ViewSeed(seed, epoch, index, 0), query.data());
//   AugmentView(hwc, 32, 32, 3, options, ViewSeed(seed, epoch, index, 1), key.data());
//
// The recipes (RecipeSteps), after the official code (main_moco.py and the CIFAR-10 demo
// notebook of facebookresearch/moco):
//   V1:    RandomResizedCrop(scale 0.2-1), RandomGrayscale(0.2), ColorJitter(0.4 x4), flip.
//   V2:    RandomResizedCrop(scale 0.2-1), ColorJitter(0.4, 0.4, 0.4, 0.1) with p = 0.8,
//          RandomGrayscale(0.2), GaussianBlur(sigma 0.1-2) with p = 0.5, flip.
//   CIFAR: RandomResizedCrop(32) with its default scale 0.08-1, flip, ColorJitter(0.4, 0.4,
//          0.4, 0.1) with p = 0.8, RandomGrayscale(0.2), as the notebook calls them; the
//          notebook normalises with the CIFAR-10 statistics (kCifar10Mean, kCifar10Stddev),
//          which the trainer selects for this recipe.
//
// Differences from torchvision, all small: pixels stay in float between ops (PIL rounds to
// uint8 after each), the contrast mean is not rounded to an integer grey level, and the blur
// is a true separable Gaussian with a kernel of about 10% of the image side (as SimCLR),
// where MoCo v2 calls PIL's GaussianBlur, which approximates one with box filters and has
// no size cap. Random draws come from SplitMix64, so the views are not torchvision's for
// the same seed, only distributed the same way.
#ifndef MOCO_AUGMENT_AUGMENT_H_
#define MOCO_AUGMENT_AUGMENT_H_

#include <array>
#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "configs/experiment.pb.h"
#include "moco/augment/image_ops.h"

namespace moco {

// DataConfig.Augmentation in configs/experiment.proto.
enum class AugmentRecipe { kV1, kV2, kCifar };

// Per-channel statistics used to normalise views.
inline constexpr std::array<float, 3> kImageNetMean = {0.485f, 0.456f, 0.406f};
inline constexpr std::array<float, 3> kImageNetStddev = {0.229f, 0.224f, 0.225f};
// Those of the official CIFAR-10 demo notebook.
inline constexpr std::array<float, 3> kCifar10Mean = {0.4914f, 0.4822f, 0.4465f};
inline constexpr std::array<float, 3> kCifar10Stddev = {0.2023f, 0.1994f, 0.2010f};

// What a recipe does, op by op. Probabilities are per view; a jitter strength of 0 leaves
// that colour property alone.
struct AugmentSteps {
  // RandomResizedCrop: area fraction and aspect-ratio (width / height) ranges.
  double min_crop_scale = 0.2;
  double max_crop_scale = 1.0;
  double min_crop_ratio = 3.0 / 4.0;
  double max_crop_ratio = 4.0 / 3.0;
  // RandomHorizontalFlip.
  double flip_p = 0.5;
  // ColorJitter, applied with probability jitter_p, its four ops in a random order. Factors
  // are uniform in [max(0, 1 - x), 1 + x] for brightness, contrast and saturation, and the
  // hue shift is uniform in [-hue, hue] turns (hue <= 0.5).
  double jitter_p = 0.8;
  float brightness = 0.4f;
  float contrast = 0.4f;
  float saturation = 0.4f;
  float hue = 0.1f;
  // RandomGrayscale (kept as 3 equal channels), and whether it comes before the jitter
  // (V1) or after it (V2, CIFAR). The order matters: grey-then-jitter stays grey with
  // jittered brightness and contrast; jitter-then-grey takes the luma of jittered colours.
  double grayscale_p = 0.2;
  bool grayscale_before_jitter = false;
  // GaussianBlur with sigma uniform in [min_blur_sigma, max_blur_sigma] pixels.
  double blur_p = 0.0;
  double min_blur_sigma = 0.1;
  double max_blur_sigma = 2.0;
};

// The steps of the official recipes (see the top of this file).
AugmentSteps RecipeSteps(AugmentRecipe recipe);

struct AugmentOptions {
  // Which recipe makes the views.
  AugmentRecipe recipe = AugmentRecipe::kV1;
  // Side of the square output views, in pixels (DataConfig.image_size).
  int out_size = 224;
  // Per-channel normalisation of the output: (x - mean) / stddev, x in [0, 1]. The official
  // ImageNet values by default.
  std::array<float, 3> mean = kImageNetMean;
  std::array<float, 3> stddev = kImageNetStddev;
  // When set, replaces RecipeSteps(recipe): for tests and ablations of one op.
  std::optional<AugmentSteps> steps;
  // Streamed JPEGs are decoded at the scale TrainDecodeScale / EvalDecodeScale pick (data.decode
  // FAST), not at full size.
  bool fast_decode = false;
};

// The options a config's data section asks for: its recipe (data.augmentation), out_size =
// data.image_size, and the normalisation the recipe's official code uses (the CIFAR-10
// statistics for the CIFAR recipe, ImageNet's otherwise), and fast_decode for data.decode FAST.
// The trainer and the evaluators use
// it, so that a view is normalised the same way in training and in evaluation.
AugmentOptions AugmentOptionsFor(const config::DataConfig& data);

// InvalidArgument unless the image (height, width >= 1, channels 1 or 3) and the options
// (out_size >= 1, stddev > 0, probabilities in [0, 1], ordered non-empty ranges, hue <= 0.5)
// are valid. AugmentView and EvalView do not check (they run per image): call this once per
// dataset.
absl::Status CheckAugmentArgs(int height, int width, int channels,
                              const AugmentOptions& options);
// The options' part of CheckAugmentArgs, for streamed datasets whose images each have their
// own size (any size >= 1x1 is valid; decoded files are RGB).
absl::Status CheckAugmentOptions(const AugmentOptions& options);

// The seed of one view: a hash of all four arguments, so that every (run, epoch, image,
// view) gets its own independent random stream.
uint64_t ViewSeed(uint64_t run_seed, int64_t epoch, int64_t index, int view);

// One random view of the HWC uint8 image `hwc` (height x width x channels, channels 1 or 3)
// into out: 3 x out_size x out_size floats in `layout`, normalised (the layout changes where
// each value goes, not its bits). Gray input is replicated to RGB. The same arguments always give bit-identical output, on any thread. Thread-safe:
// scratch buffers are per thread.
void AugmentView(const uint8_t* hwc, int height, int width, int channels,
                 const AugmentOptions& options, uint64_t seed, float* out,
                 ViewLayout layout = ViewLayout::kChw);

// The JPEG decode scale (1, 2, 4 or 8: libjpeg-turbo's DCT-domain scaling) for the fast path
// (data.decode FAST) of an image of `height` x `width`: the largest at which every crop box the
// views of `seeds` draw (AugmentView's draws on this size) is still at least out_size on its
// shorter side, so a view never upsamples what a full decode would have downsampled. The views
// are then drawn on the decoded, smaller image: the same fractions of it, at lower source
// resolution.
int TrainDecodeScale(int height, int width, const AugmentOptions& options, const uint64_t* seeds,
                     int num_seeds);
// The same for EvalView: the largest scale that keeps the shorter side at least the size it is
// resized to (out_size * 256 / 224 for V1 and V2; CIFAR views and small images: 1).
int EvalDecodeScale(int height, int width, const AugmentOptions& options);

// The deterministic evaluation transform into out (3 x out_size x out_size in `layout`,
// normalised).
// V1 and V2 on images larger than out_size: the linear-classification protocol's
// Resize(out_size * 256 / 224) of the shorter side, then CenterCrop(out_size). CIFAR, or
// images no larger than out_size: resized to out_size x out_size (a no-op for CIFAR-10 at
// 32), no crop.
void EvalView(const uint8_t* hwc, int height, int width, int channels,
              const AugmentOptions& options, float* out, ViewLayout layout = ViewLayout::kChw);

}  // namespace moco

#endif  // MOCO_AUGMENT_AUGMENT_H_
