#include "moco/augment/image_ops.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

// The per-pixel loops are compiled twice, for the baseline x86-64 (SSE2) and for AVX2, and the
// loader picks the AVX2 copy where the CPU has it: twice the lanes. AVX2 without FMA keeps every
// operation and its rounding (no multiply-add is fused), so both copies give the same bits
// (AugmentViewTest.ViewsKeepTheirBits).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MOCO_PIXEL_LOOP __attribute__((target_clones("avx2", "default")))
#else
#define MOCO_PIXEL_LOOP
#endif

namespace moco {
namespace {

// ITU-R 601-2 luma weights, as PIL's convert("L") and torchvision's rgb_to_grayscale.
constexpr float kLumaR = 0.299f;
constexpr float kLumaG = 0.587f;
constexpr float kLumaB = 0.114f;

float Clamp01(float x) { return std::min(std::max(x, 0.0f), 1.0f); }

// Four floats in one SSE / NEON register (a GCC and Clang vector extension): one RGBx pixel.
// The compiler does not find this vectorisation by itself in ResizeCrop's horizontal pass.
typedef float Float4 __attribute__((vector_size(16)));

Float4 LoadFloat4(const float* p) {
  Float4 v;
  std::memcpy(&v, p, sizeof(v));  // no alignment assumed
  return v;
}

// Sum of n floats with eight independent partial sums: a single running sum is one long
// chain of dependent additions, which the compiler may not reorder for floats.
double SumPlane(const float* p, int n) {
  float partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) partial[k] += p[i + k];
  }
  double total = 0;
  for (; i < n; ++i) total += p[i];
  for (float s : partial) total += s;
  return total;
}

// Mirror index i into [0, n) without repeating the edge pixel (torch's "reflect" padding:
// -1 -> 1, n -> n - 2).
int Reflect(int i, int n) {
  if (n == 1) return 0;
  while (i < 0 || i >= n) {
    if (i < 0) i = -i;
    if (i >= n) i = 2 * (n - 1) - i;
  }
  return i;
}

// Weights for out_count outputs, starting at out_first, of a resize of the source pixels
// [in_start, in_start + in_len) to out_full pixels, each weight multiplied by `gain`.
// PIL's scheme: output pixel i has its centre at (i + 0.5) * scale in source pixels, and
// the triangle filter is widened by max(scale, 1) so that shrinking averages every source
// pixel instead of skipping some.
void ComputeAxisWeights(int in_start, int in_len, int out_full, int out_first, int out_count,
                        float gain, AxisWeights* axis) {
  const double scale = static_cast<double>(in_len) / out_full;
  const double filter_scale = std::max(scale, 1.0);
  const double support = filter_scale;  // the triangle reaches 1 unit of filter_scale
  const double inv_filter_scale = 1.0 / filter_scale;
  axis->taps = 2 * static_cast<int>(std::ceil(support)) + 1;
  axis->first.resize(out_count);
  axis->count.resize(out_count);
  axis->weights.assign(static_cast<size_t>(out_count) * axis->taps, 0.0f);

  double w[64 * 2 + 1];  // enough for a 64x shrink; larger shrinks fall back to `big`
  std::vector<double> big;
  double* raw = w;
  if (axis->taps > static_cast<int>(sizeof(w) / sizeof(w[0]))) {
    big.resize(axis->taps);
    raw = big.data();
  }
  for (int i = 0; i < out_count; ++i) {
    const double center = (out_first + i + 0.5) * scale;
    int lo = std::max(static_cast<int>(std::floor(center - support + 0.5)), 0);
    int hi = std::min(static_cast<int>(std::floor(center + support + 0.5)), in_len);
    double total = 0;
    for (int x = lo; x < hi; ++x) {
      const double t = std::fabs((x + 0.5 - center) * inv_filter_scale);
      raw[x - lo] = t < 1.0 ? 1.0 - t : 0.0;
      total += raw[x - lo];
    }
    // Drop zero weights at both ends (the triangle's end points): at scale 1 this turns the
    // resize into a copy with one tap per pixel.
    int begin = 0;
    int end = hi - lo;
    while (begin < end && raw[begin] == 0.0) ++begin;
    while (end > begin && raw[end - 1] == 0.0) --end;
    float* out = &axis->weights[static_cast<size_t>(i) * axis->taps];
    const double norm = gain / total;
    for (int k = begin; k < end; ++k) out[k - begin] = static_cast<float>(raw[k] * norm);
    axis->first[i] = in_start + lo + begin;
    axis->count[i] = end - begin;
  }
}

// Applies the separable resize described by `ys` (rows) and `xs` (columns) to an HWC uint8
// image, horizontal pass first (as PIL): scratch.rows holds, per channel, every source row
// the vertical pass reads, already resampled to out.width columns.
MOCO_PIXEL_LOOP void Resample(const uint8_t* hwc, int width, int channels, const AxisWeights& ys,
              const AxisWeights& xs, bool flip, const PlanarImage& out, OpsScratch& scratch) {
  const int out_w = out.width;
  const int out_h = out.height;
  int row_begin = ys.first[0];
  int row_end = row_begin;
  for (int i = 0; i < out_h; ++i) {
    row_begin = std::min(row_begin, ys.first[i]);
    row_end = std::max(row_end, ys.first[i] + ys.count[i]);
  }
  const int num_rows = row_end - row_begin;
  scratch.rows.resize(static_cast<size_t>(channels) * num_rows * out_w);
  // rows: channels x num_rows x out_w
  float* rows = scratch.rows.data();
  const size_t channel_stride = static_cast<size_t>(num_rows) * out_w;

  int col_begin = xs.first[0];
  int col_end = col_begin;
  for (int i = 0; i < out_w; ++i) {
    col_begin = std::min(col_begin, xs.first[i]);
    col_end = std::max(col_end, xs.first[i] + xs.count[i]);
  }
  const int num_cols = col_end - col_begin;
  // One source row as floats, RGB padded to RGBx: each tap of the horizontal pass is then a
  // single 4-wide multiply-add, and each source byte is converted once, not once per tap.
  scratch.source_row.resize(static_cast<size_t>(num_cols) * 4);
  float* line = scratch.source_row.data();

  for (int r = 0; r < num_rows; ++r) {
    const uint8_t* src =
        hwc + (static_cast<size_t>(row_begin + r) * width + col_begin) * channels;
    float* dst = rows + static_cast<size_t>(r) * out_w;
    if (channels == 3) {
      for (int x = 0; x < num_cols; ++x) {
        line[4 * x] = src[3 * x];
        line[4 * x + 1] = src[3 * x + 1];
        line[4 * x + 2] = src[3 * x + 2];
        line[4 * x + 3] = 0.0f;
      }
      for (int ox = 0; ox < out_w; ++ox) {
        const float* w = &xs.weights[static_cast<size_t>(ox) * xs.taps];
        const float* p = line + static_cast<size_t>(xs.first[ox] - col_begin) * 4;
        Float4 acc = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int k = 0; k < xs.count[ox]; ++k) acc += w[k] * LoadFloat4(p + 4 * k);
        // Mirroring the column index here is the flip: exact, and free.
        const int o = flip ? out_w - 1 - ox : ox;
        dst[o] = acc[0];
        dst[channel_stride + o] = acc[1];
        dst[2 * channel_stride + o] = acc[2];
      }
    } else {
      for (int x = 0; x < num_cols; ++x) line[x] = src[x];
      for (int ox = 0; ox < out_w; ++ox) {
        const float* w = &xs.weights[static_cast<size_t>(ox) * xs.taps];
        const float* p = line + (xs.first[ox] - col_begin);
        float v = 0.0f;
        for (int k = 0; k < xs.count[ox]; ++k) v += w[k] * p[k];
        dst[flip ? out_w - 1 - ox : ox] = v;
      }
    }
  }

  for (int c = 0; c < channels; ++c) {
    const float* channel_rows = rows + c * channel_stride;
    for (int oy = 0; oy < out_h; ++oy) {
      float* dst = out.plane(c) + static_cast<size_t>(oy) * out_w;
      const float* w = &ys.weights[static_cast<size_t>(oy) * ys.taps];
      const float* src = channel_rows + static_cast<size_t>(ys.first[oy] - row_begin) * out_w;
      for (int x = 0; x < out_w; ++x) dst[x] = w[0] * src[x];
      for (int k = 1; k < ys.count[oy]; ++k) {
        const float* s = src + static_cast<size_t>(k) * out_w;
        for (int x = 0; x < out_w; ++x) dst[x] += w[k] * s[x];
      }
    }
  }
}

}  // namespace

CropBox SampleCropBox(int height, int width, double min_scale, double max_scale,
                      double min_ratio, double max_ratio, SplitMix64& rng) {
  const double area = static_cast<double>(height) * width;
  const double log_min_ratio = std::log(min_ratio);
  const double log_max_ratio = std::log(max_ratio);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * rng.Uniform(min_scale, max_scale);
    const double ratio = std::exp(rng.Uniform(log_min_ratio, log_max_ratio));
    // nearbyint rounds half to even in the default rounding mode, as Python's round().
    const int w = static_cast<int>(std::nearbyint(std::sqrt(target_area * ratio)));
    const int h = static_cast<int>(std::nearbyint(std::sqrt(target_area / ratio)));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      CropBox box;
      box.height = h;
      box.width = w;
      box.top = static_cast<int>(rng.Below(height - h + 1));
      box.left = static_cast<int>(rng.Below(width - w + 1));
      return box;
    }
  }
  // Fallback: the largest central box whose ratio is within range.
  const double in_ratio = static_cast<double>(width) / height;
  int w = width;
  int h = height;
  if (in_ratio < min_ratio) {
    h = static_cast<int>(std::nearbyint(w / min_ratio));
  } else if (in_ratio > max_ratio) {
    w = static_cast<int>(std::nearbyint(h * max_ratio));
  }
  h = std::min(std::max(h, 1), height);
  w = std::min(std::max(w, 1), width);
  return CropBox{(height - h) / 2, (width - w) / 2, h, w};
}

void ResizeCrop(const uint8_t* hwc, int height, int width, int channels, const CropBox& box,
                bool flip, const PlanarImage& out, OpsScratch& scratch) {
  assert(out.channels == channels);
  assert(box.top >= 0 && box.left >= 0 && box.height > 0 && box.width > 0);
  assert(box.top + box.height <= height && box.left + box.width <= width);
  (void)height;
  // 1/255 rides on the row weights, so the uint8 -> [0, 1] scaling costs nothing.
  ComputeAxisWeights(box.top, box.height, out.height, 0, out.height, 1.0f / 255.0f,
                     &scratch.y_weights);
  ComputeAxisWeights(box.left, box.width, out.width, 0, out.width, 1.0f, &scratch.x_weights);
  Resample(hwc, width, channels, scratch.y_weights, scratch.x_weights, flip, out, scratch);
}

void ResizeThenCrop(const uint8_t* hwc, int height, int width, int channels,
                    int resized_height, int resized_width, int top, int left,
                    const PlanarImage& out, OpsScratch& scratch) {
  assert(out.channels == channels);
  assert(top >= 0 && top + out.height <= resized_height);
  assert(left >= 0 && left + out.width <= resized_width);
  ComputeAxisWeights(0, height, resized_height, top, out.height, 1.0f / 255.0f,
                     &scratch.y_weights);
  ComputeAxisWeights(0, width, resized_width, left, out.width, 1.0f, &scratch.x_weights);
  Resample(hwc, width, channels, scratch.y_weights, scratch.x_weights, /*flip=*/false, out,
           scratch);
}

MOCO_PIXEL_LOOP void AdjustBrightness(const PlanarImage& image, float factor) {
  // Blend with black: factor * x, x >= 0 and factor >= 0, so only the top needs clamping.
  const int n = image.channels * image.plane_size();
  float* p = image.data;
  for (int i = 0; i < n; ++i) p[i] = std::min(p[i] * factor, 1.0f);
}

MOCO_PIXEL_LOOP void AdjustContrast(const PlanarImage& image, float factor) {
  const int n = image.plane_size();
  double mean;
  if (image.channels == 3) {
    // The mean of the grey image is the luma of the channel means (luma is linear).
    mean = (kLumaR * SumPlane(image.plane(0), n) + kLumaG * SumPlane(image.plane(1), n) +
            kLumaB * SumPlane(image.plane(2), n)) /
           n;
  } else {
    mean = SumPlane(image.plane(0), n) / n;
  }
  // torchvision's _blend(img, mean, factor) = factor * img + (1 - factor) * mean.
  const float offset = static_cast<float>((1.0 - factor) * mean);
  const int total = image.channels * n;
  float* p = image.data;
  for (int i = 0; i < total; ++i) p[i] = Clamp01(factor * p[i] + offset);
}

MOCO_PIXEL_LOOP void AdjustSaturation(const PlanarImage& image, float factor) {
  if (image.channels != 3) return;  // a grey image equals its own grey version
  const int n = image.plane_size();
  float* r = image.plane(0);
  float* g = image.plane(1);
  float* b = image.plane(2);
  const float keep = 1.0f - factor;
  for (int i = 0; i < n; ++i) {
    const float gray = kLumaR * r[i] + kLumaG * g[i] + kLumaB * b[i];
    r[i] = Clamp01(factor * r[i] + keep * gray);
    g[i] = Clamp01(factor * g[i] + keep * gray);
    b[i] = Clamp01(factor * b[i] + keep * gray);
  }
}

MOCO_PIXEL_LOOP void AdjustHue(const PlanarImage& image, float shift) {
  if (image.channels != 3) return;  // grey pixels have no hue to rotate
  const int n = image.plane_size();
  float* rp = image.plane(0);
  float* gp = image.plane(1);
  float* bp = image.plane(2);
  const float shift6 = 6.0f * shift;
  // Written without branches (selects only) so that the compiler can vectorise it: with
  // branches, the unpredictable "which channel is largest" costs more than the arithmetic.
  for (int i = 0; i < n; ++i) {
    const float r = rp[i], g = gp[i], b = bp[i];
    const float v = std::max(r, std::max(g, b));
    const float lo = std::min(r, std::min(g, b));
    const float chroma = v - lo;
    // Grey pixels (chroma 0) come out unchanged: every channel below is v - 0.
    // (The max keeps the division unconditional, which vectorising needs; when chroma is 0,
    // so are the differences it multiplies.)
    const float inv_chroma = 1.0f / std::max(chroma, 1e-30f);
    // Hue in sixths of a turn, in [-1, 5), as torchvision's _rgb2hsv (red wins ties, then
    // green), then shifted and wrapped into [0, 6).
    const float h_red = (g - b) * inv_chroma;
    const float h_green = 2.0f + (b - r) * inv_chroma;
    const float h_blue = 4.0f + (r - g) * inv_chroma;
    float h6 = (v == r ? h_red : (v == g ? h_green : h_blue)) + shift6;
    h6 += h6 < 0.0f ? 6.0f : 0.0f;
    h6 -= h6 >= 6.0f ? 6.0f : 0.0f;
    // HSV -> RGB in the form channel = v - chroma * clamp(min(k, 4 - k), 0, 1), with
    // k = (m + h6) mod 6 and m = 5, 3, 1 for red, green, blue: the same piecewise-linear
    // function as torchvision's _hsv2rgb sector table (v s = chroma, v (1 - s) = lo).
    auto channel = [&](float m) {
      float k = m + h6;
      k -= k >= 6.0f ? 6.0f : 0.0f;
      const float ramp = std::min(std::max(std::min(k, 4.0f - k), 0.0f), 1.0f);
      return v - chroma * ramp;
    };
    rp[i] = channel(5.0f);
    gp[i] = channel(3.0f);
    bp[i] = channel(1.0f);
  }
}

MOCO_PIXEL_LOOP PlanarImage ToGrayscale(const PlanarImage& image) {
  if (image.channels != 3) return image;
  const int n = image.plane_size();
  float* r = image.plane(0);
  const float* g = image.plane(1);
  const float* b = image.plane(2);
  for (int i = 0; i < n; ++i) r[i] = kLumaR * r[i] + kLumaG * g[i] + kLumaB * b[i];
  PlanarImage gray = image;
  gray.channels = 1;
  return gray;
}

MOCO_PIXEL_LOOP void GaussianBlur(const PlanarImage& image, float sigma, int max_radius, OpsScratch& scratch) {
  if (max_radius < 1 || sigma <= 0.0f) return;
  const int radius =
      std::max(1, std::min(max_radius, static_cast<int>(std::ceil(4.0f * sigma))));
  const int taps = 2 * radius + 1;
  scratch.kernel.resize(taps);
  float* kernel = scratch.kernel.data();
  double total = 0;
  for (int j = 0; j < taps; ++j) {
    const double x = (j - radius) / static_cast<double>(sigma);
    kernel[j] = static_cast<float>(std::exp(-0.5 * x * x));
    total += kernel[j];
  }
  for (int j = 0; j < taps; ++j) kernel[j] = static_cast<float>(kernel[j] / total);

  const int h = image.height;
  const int w = image.width;
  scratch.plane.resize(static_cast<size_t>(h) * w);
  scratch.padded_row.resize(w + 2 * radius);
  float* tmp = scratch.plane.data();
  float* padded = scratch.padded_row.data();
  for (int c = 0; c < image.channels; ++c) {
    float* p = image.plane(c);
    // Horizontal pass, p -> tmp: pad the row so the inner loop has no bounds checks.
    for (int y = 0; y < h; ++y) {
      const float* row = p + static_cast<size_t>(y) * w;
      std::memcpy(padded + radius, row, sizeof(float) * w);
      for (int j = 1; j <= radius; ++j) {
        padded[radius - j] = row[Reflect(-j, w)];
        padded[radius + w - 1 + j] = row[Reflect(w - 1 + j, w)];
      }
      float* out = tmp + static_cast<size_t>(y) * w;
      for (int x = 0; x < w; ++x) out[x] = kernel[0] * padded[x];
      for (int j = 1; j < taps; ++j) {
        const float k = kernel[j];
        const float* s = padded + j;
        for (int x = 0; x < w; ++x) out[x] += k * s[x];
      }
    }
    // Vertical pass, tmp -> p, whole rows at a time.
    for (int y = 0; y < h; ++y) {
      float* out = p + static_cast<size_t>(y) * w;
      const float* first = tmp + static_cast<size_t>(Reflect(y - radius, h)) * w;
      for (int x = 0; x < w; ++x) out[x] = kernel[0] * first[x];
      for (int j = 1; j < taps; ++j) {
        const float k = kernel[j];
        const float* s = tmp + static_cast<size_t>(Reflect(y - radius + j, h)) * w;
        for (int x = 0; x < w; ++x) out[x] += k * s[x];
      }
    }
  }
}

MOCO_PIXEL_LOOP void Normalize(const PlanarImage& image, const std::array<float, 3>& mean,
               const std::array<float, 3>& stddev, float* out, ViewLayout layout) {
  const int n = image.plane_size();
  // Channels from last to first: when a 1-channel image lives in out's plane 0 (kChw), planes
  // 2 and 1 are written from it before it is normalised in place.
  for (int c = 2; c >= 0; --c) {
    const float* src = image.plane(image.channels == 1 ? 0 : c);
    const float scale = 1.0f / stddev[c];
    const float bias = -mean[c] / stddev[c];
    if (layout == ViewLayout::kChw) {
      float* dst = out + static_cast<size_t>(c) * n;
      for (int i = 0; i < n; ++i) dst[i] = src[i] * scale + bias;
    } else {
      float* dst = out + c;
      for (int i = 0; i < n; ++i) dst[3 * i] = src[i] * scale + bias;
    }
  }
}

}  // namespace moco
