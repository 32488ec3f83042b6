#include "moco/augment/tensor_augment.h"

#include <ATen/ATen.h>

#include <cmath>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "moco/common/status.h"

namespace moco {
namespace {

// ITU-R 601 luma, as torchvision's rgb_to_grayscale and AugmentView's.
at::Tensor Luma(const at::Tensor& x) {  // N x 3 x H x W -> N x 1 x H x W
  return 0.299 * x.narrow(1, 0, 1) + 0.587 * x.narrow(1, 1, 1) + 0.114 * x.narrow(1, 2, 1);
}

// Per-image factors as N x 1 x 1 x 1.
at::Tensor PerImage(const at::Tensor& v) { return v.view({-1, 1, 1, 1}); }

at::Tensor Blend(const at::Tensor& x, const at::Tensor& other, const at::Tensor& factor) {
  return (factor * x + (1 - factor) * other).clamp(0, 1);
}

// torchvision's _rgb2hsv / _hsv2rgb, on N x 3 x H x W in [0, 1], hue shifted by `shift` turns.
at::Tensor ShiftHue(const at::Tensor& x, const at::Tensor& shift) {
  const at::Tensor r = x.narrow(1, 0, 1), g = x.narrow(1, 1, 1), b = x.narrow(1, 2, 1);
  const at::Tensor maxc = std::get<0>(x.max(1, true)), minc = std::get<0>(x.min(1, true));
  const at::Tensor delta = maxc - minc;
  const at::Tensor grey = delta.eq(0);
  const at::Tensor s = delta / at::where(maxc.eq(0), at::ones_like(maxc), maxc);
  const at::Tensor d = at::where(grey, at::ones_like(delta), delta);
  const at::Tensor rc = (maxc - r) / d, gc = (maxc - g) / d, bc = (maxc - b) / d;
  at::Tensor h = at::where(maxc.eq(r), bc - gc, at::where(maxc.eq(g), 2.0 + rc - bc, 4.0 + gc - rc));
  h = at::where(grey, at::zeros_like(h), h);
  h = at::fmod(h / 6.0 + 1.0, 1.0);
  h = at::fmod(h + PerImage(shift) + 1.0, 1.0);
  const at::Tensor v = maxc;
  const at::Tensor i = at::floor(h * 6.0);
  const at::Tensor f = h * 6.0 - i;
  const at::Tensor p = (v * (1 - s)).clamp(0, 1), q = (v * (1 - s * f)).clamp(0, 1),
                   t = (v * (1 - s * (1 - f))).clamp(0, 1);
  const at::Tensor sector = i.remainder(6);
  auto pick = [&](const at::Tensor& a0, const at::Tensor& a1, const at::Tensor& a2, const at::Tensor& a3,
                  const at::Tensor& a4, const at::Tensor& a5) {
    return at::where(sector.eq(0), a0,
                     at::where(sector.eq(1), a1,
                               at::where(sector.eq(2), a2, at::where(sector.eq(3), a3, at::where(sector.eq(4), a4, a5)))));
  };
  return at::cat({pick(v, q, p, p, t, v), pick(t, v, v, q, p, p), pick(p, p, t, v, v, q)}, 1);
}

at::Tensor Uniform(int64_t n, double lo, double hi, const at::TensorOptions& o, at::Generator& gen) {
  return at::empty({n}, o).uniform_(lo, hi, gen);
}

}  // namespace

absl::StatusOr<at::Tensor> AugmentBatch(const at::Tensor& images, const AugmentOptions& options,
                                        at::Generator generator) {
  if (images.dim() != 4 || images.scalar_type() != at::kByte || (images.size(3) != 1 && images.size(3) != 3)) {
    return absl::InvalidArgumentError(absl::StrCat("AugmentBatch: want N x H x W x C uint8 images with C 1 or 3, got ",
                                                   images.dim(), "-d ", std::string(c10::toString(images.scalar_type()))));
  }
  const AugmentSteps steps = options.steps.value_or(RecipeSteps(options.recipe));
  if (steps.blur_p > 0) return absl::UnimplementedError("AugmentBatch: blur (the V2 recipe) is not implemented");
  const int64_t n = images.size(0), height = images.size(1), width = images.size(2);
  const int size = options.out_size;
  const at::TensorOptions f32 = images.options().dtype(at::kFloat);
  at::Tensor x = images.permute({0, 3, 1, 2}).to(at::kFloat).div_(255.0);
  if (x.size(1) == 1) x = x.expand({n, 3, height, width});

  // RandomResizedCrop as torchvision draws it: ten tries of (area, log-ratio); the first whose
  // rounded size fits; else the whole image (torchvision's fallback for a ratio in range).
  constexpr int kTries = 10;
  const double area = static_cast<double>(height) * width;
  const at::Tensor scale = at::empty({n, kTries}, f32).uniform_(steps.min_crop_scale, steps.max_crop_scale, generator);
  const at::Tensor log_ratio = at::empty({n, kTries}, f32).uniform_(std::log(steps.min_crop_ratio),
                                                                    std::log(steps.max_crop_ratio), generator);
  const at::Tensor ratio = log_ratio.exp();
  const at::Tensor cw = (scale * area * ratio).sqrt().round(), ch = (scale * area / ratio).sqrt().round();
  const at::Tensor fits = cw.le(width) & ch.le(height) & cw.gt(0) & ch.gt(0);
  const at::Tensor first = (fits.to(at::kInt) * at::arange(kTries, 0, -1, f32.dtype(at::kInt))).argmax(1, true);
  const at::Tensor any = fits.any(1);
  const at::Tensor w = at::where(any, cw.gather(1, first).squeeze(1), at::full({n}, width, f32));
  const at::Tensor h = at::where(any, ch.gather(1, first).squeeze(1), at::full({n}, height, f32));
  // Offsets uniform over the integers [0, W - w] and [0, H - h].
  const at::Tensor left = (Uniform(n, 0, 1, f32, generator) * (width - w + 1)).floor().clamp_max(width - w);
  const at::Tensor top = (Uniform(n, 0, 1, f32, generator) * (height - h + 1)).floor().clamp_max(height - h);
  const at::Tensor flip = Uniform(n, 0, 1, f32, generator).lt(steps.flip_p);
  // The affine map from the output's normalised grid (align_corners false) to the crop's.
  const at::Tensor sx = (w / width) * at::where(flip, -at::ones_like(w), at::ones_like(w));
  const at::Tensor sy = h / height;
  const at::Tensor cx = (left + w / 2) / width * 2 - 1, cy = (top + h / 2) / height * 2 - 1;
  const at::Tensor zero = at::zeros_like(sx);
  const at::Tensor theta = at::stack({at::stack({sx, zero, cx}, 1), at::stack({zero, sy, cy}, 1)}, 1);  // N x 2 x 3
  const at::Tensor grid = at::affine_grid_generator(theta, {n, 3, size, size}, /*align_corners=*/false);
  x = at::grid_sampler(x, grid, /*bilinear*/ 0, /*border*/ 1, /*align_corners=*/false);

  // RandomGrayscale: before the jitter in the V1 recipe, after it in the CIFAR and V2 ones.
  auto grayscale = [&] {
    const at::Tensor grey = Uniform(n, 0, 1, f32, generator).lt(steps.grayscale_p);
    x = at::where(PerImage(grey), Luma(x).expand({n, 3, size, size}), x);
  };
  if (steps.grayscale_before_jitter) grayscale();

  // ColorJitter with probability jitter_p: the factors, then the four ops in a random order.
  const at::Tensor jitter = Uniform(n, 0, 1, f32, generator).lt(steps.jitter_p);
  auto factor = [&](float strength) { return Uniform(n, std::max(0.0f, 1.0f - strength), 1.0f + strength, f32, generator); };
  const at::Tensor brightness = factor(steps.brightness), contrast = factor(steps.contrast),
                   saturation = factor(steps.saturation);
  const at::Tensor hue = Uniform(n, -steps.hue, steps.hue, f32, generator);
  const at::Tensor order = at::empty({n, 4}, f32).uniform_(0, 1, generator).argsort(/*dim=*/static_cast<int64_t>(1), /*descending=*/false);  // a random permutation each
  for (int round = 0; round < 4; ++round) {
    const at::Tensor op = order.select(1, round);
    auto apply = [&](int which, float strength, const at::Tensor& result) {
      if (strength <= 0) return;
      x = at::where(PerImage(jitter & op.eq(which)), result, x);
    };
    apply(0, steps.brightness, (x * PerImage(brightness)).clamp(0, 1));
    apply(1, steps.contrast, Blend(x, Luma(x).mean({1, 2, 3}, true), PerImage(contrast)));
    apply(2, steps.saturation, Blend(x, Luma(x), PerImage(saturation)));
    apply(3, steps.hue, ShiftHue(x, hue));
  }
  if (!steps.grayscale_before_jitter) grayscale();

  const at::Tensor mean = at::tensor({options.mean[0], options.mean[1], options.mean[2]}, f32).view({1, 3, 1, 1});
  const at::Tensor stddev =
      at::tensor({options.stddev[0], options.stddev[1], options.stddev[2]}, f32).view({1, 3, 1, 1});
  return ((x - mean) / stddev).contiguous(at::MemoryFormat::ChannelsLast);
}

absl::Status MakeViewsOnDevice(c10::Device device, const AugmentOptions& options, TrainBatch* batch) {
  if (!batch->images.defined()) {
    return absl::InvalidArgumentError("MakeViewsOnDevice: the batch has no images (the loader made its views)");
  }
  // A generator of the device's kind of its own, seeded by the batch: the views do not depend on
  // what else drew from the device's default generator, and a resumed run draws them again.
  at::Generator global = at::globalContext().defaultGenerator(device);  // a handle: the same generator
  at::Generator generator;
  {
    std::lock_guard<std::mutex> lock(global.mutex());
    generator = global.clone();
  }
  generator.set_current_seed(batch->view_seed);
  const at::Tensor images = batch->images.to(device, /*non_blocking=*/true);
  MOCO_ASSIGN_OR_RETURN(batch->view_q, AugmentBatch(images, options, generator));
  MOCO_ASSIGN_OR_RETURN(batch->view_k, AugmentBatch(images, options, generator));
  batch->images = at::Tensor();  // done with: the host copy goes back to the allocator
  return absl::OkStatus();
}

}  // namespace moco
