// The image operations behind the two-view augmentation (augment.h), each a torchvision
// transform re-implemented on float images held as one plane per channel:
//
//   PlanarImage image{buffer, channels, 32, 32};  // buffer: channels x 32 x 32 floats
//   CropBox box = SampleCropBox(h, w, 0.2, 1.0, 3.0 / 4, 4.0 / 3, rng);
//   ResizeCrop(hwc, h, w, channels, box, /*flip=*/false, image, scratch);
//   AdjustContrast(image, 1.3f);
//   image = ToGrayscale(image);  // 1 plane now; Normalize replicates it to 3
//   Normalize(image, mean, stddev, chw_out);
//
// Values stay in [0, 1] from ResizeCrop to Normalize, and each colour op clamps to [0, 1]
// after itself, as torchvision's tensor ops do. Deviations from torchvision's PIL path,
// which quantises to uint8 after every op: everything here stays in float (differences of
// up to about 1/255 per op), and PIL's ImageEnhance.Contrast rounds the mean to an integer
// grey level where AdjustContrast keeps it exact.
//
// A 1-channel PlanarImage stands for an RGB image whose three channels are equal (a gray
// input, or an image after ToGrayscale): saturation and hue leave such an image unchanged,
// so those ops skip it, and every other op does a third of the work.
#ifndef MOCO_AUGMENT_IMAGE_OPS_H_
#define MOCO_AUGMENT_IMAGE_OPS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "moco/augment/random.h"

namespace moco {

// A float image as `channels` planes of height x width values (CHW, row-major). Does not
// own its pixels. channels is 1 (gray) or 3 (RGB).
struct PlanarImage {
  float* data = nullptr;
  int channels = 0;
  int height = 0;
  int width = 0;

  int plane_size() const { return height * width; }
  float* plane(int c) const { return data + static_cast<size_t>(c) * plane_size(); }
};

// A rectangle of an image, in pixels.
struct CropBox {
  int top = 0;
  int left = 0;
  int height = 0;
  int width = 0;
};

// Resampling weights along one axis: output i is the sum over k < count[i] of
// weights[i * taps + k] * source[first[i] + k].
struct AxisWeights {
  std::vector<int> first;
  std::vector<int> count;
  std::vector<float> weights;
  int taps = 0;
};

// Buffers the ops reuse between calls, so that augmenting image after image does not
// allocate once they have grown to the largest size seen. One per thread.
struct OpsScratch {
  AxisWeights x_weights;
  AxisWeights y_weights;
  std::vector<float> source_row;  // ResizeCrop: one source row as floats
  std::vector<float> rows;        // ResizeCrop: the horizontally resampled source rows
  std::vector<float> plane;       // GaussianBlur: one plane after the horizontal pass
  std::vector<float> padded_row;  // GaussianBlur: one row with its reflected borders
  std::vector<float> kernel;      // GaussianBlur: the 1-D kernel
  std::vector<float> view;        // a view's planes, when Normalize writes them interleaved
};

// torchvision's RandomResizedCrop.get_params: up to 10 tries at a box of area
// U(min_scale, max_scale) x image area and aspect ratio (width / height) log-uniform in
// [min_ratio, max_ratio]; the first that fits is placed uniformly at random. If none fits,
// the central crop of the whole image clipped to the ratio range. Rounding as Python's
// round() (half to even).
CropBox SampleCropBox(int height, int width, double min_scale, double max_scale,
                      double min_ratio, double max_ratio, SplitMix64& rng);

// Resamples `box` of an HWC uint8 image (channels 1 or 3) to `out` (out.height x
// out.width, out.channels == channels), scaled to [0, 1], mirrored left-right if `flip`.
// The filter is PIL's bilinear as torchvision uses it for PIL images: a triangle widened by
// the downscaling factor (so it antialiases when shrinking), reading only pixels inside
// `box` (torchvision crops before it resizes). Unlike PIL it does not round to uint8
// between the horizontal and the vertical pass.
void ResizeCrop(const uint8_t* hwc, int height, int width, int channels, const CropBox& box,
                bool flip, const PlanarImage& out, OpsScratch& scratch);

// Resizes the whole image to resized_height x resized_width with the same filter, and
// writes only the out.height x out.width window at (top, left) of the result: torchvision's
// Resize followed by a crop, without making the full resized image.
void ResizeThenCrop(const uint8_t* hwc, int height, int width, int channels,
                    int resized_height, int resized_width, int top, int left,
                    const PlanarImage& out, OpsScratch& scratch);

// ColorJitter's four ops, with torchvision's definitions; `factor` 1 (or hue `shift` 0)
// means no change, mathematically (in float, not bit-exactly, so callers skip them then).
// brightness: x * factor.
void AdjustBrightness(const PlanarImage& image, float factor);
// contrast: blend with the mean grey level of the whole image (ITU-R 601-2 luma).
void AdjustContrast(const PlanarImage& image, float factor);
// saturation: blend each pixel with its own grey level. No-op on 1 channel.
void AdjustSaturation(const PlanarImage& image, float factor);
// hue: rotate the hue in HSV space by `shift` turns, shift in [-0.5, 0.5]. No-op on 1
// channel.
void AdjustHue(const PlanarImage& image, float shift);

// ITU-R 601-2 luma (0.299 R + 0.587 G + 0.114 B) in place: returns the same data as a
// 1-channel image (plane 0). A 1-channel image is returned as it is.
PlanarImage ToGrayscale(const PlanarImage& image);

// Separable Gaussian blur with reflected borders (as torchvision's gaussian_blur). The
// kernel has radius min(max_radius, ceil(4 sigma)): the weight beyond 4 sigma is below
// 1e-4, so capping there only saves time. max_radius < 1 or sigma <= 0: no change.
void GaussianBlur(const PlanarImage& image, float sigma, int max_radius, OpsScratch& scratch);

// How a view's 3 x height x width floats are laid out: 3 planes, or each pixel's 3 channels
// together (height x width x 3: one image of a channels_last batch, which the loader then fills
// without a copy).
enum class ViewLayout { kChw, kHwc };

// (x - mean[c]) / stddev[c] into `out` in `layout`; a 1-channel image is replicated to all
// three. With kChw, out may be image.data; with kHwc it must not overlap it.
void Normalize(const PlanarImage& image, const std::array<float, 3>& mean,
               const std::array<float, 3>& stddev, float* out,
               ViewLayout layout = ViewLayout::kChw);

}  // namespace moco

#endif  // MOCO_AUGMENT_IMAGE_OPS_H_
