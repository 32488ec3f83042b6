#include "eval/detection/ops.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Dispatch.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace moco {
namespace {

void CheckBoxes(const at::Tensor& boxes, const char* what) {
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 4, what, " must be N x 4 boxes (x1, y1, x2, y2), got shape ",
              boxes.sizes());
  TORCH_CHECK(at::isFloatingType(boxes.scalar_type()), what, " must be a floating tensor, got ", boxes.scalar_type());
}

at::Tensor Column(const at::Tensor& boxes, int64_t i) { return boxes.select(1, i); }

// The greedy suppression shared by Nms and BatchedNms; `labels` undefined means one class.
at::Tensor GreedyNms(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& labels,
                     double iou_threshold) {
  CheckBoxes(boxes, "Nms boxes");
  TORCH_CHECK(scores.dim() == 1 && scores.size(0) == boxes.size(0), "Nms scores must be a vector of ", boxes.size(0),
              " (one per box), got shape ", scores.sizes());
  if (labels.defined()) {
    TORCH_CHECK(labels.dim() == 1 && labels.size(0) == boxes.size(0), "BatchedNms labels must be a vector of ",
                boxes.size(0), " (one per box), got shape ", labels.sizes());
  }
  const int64_t n = boxes.size(0);
  const auto index_options = boxes.options().dtype(at::kLong);
  if (n == 0) return at::empty({0}, index_options);

  // Decreasing score; a stable sort keeps equal scores in index order.
  const at::Tensor order = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  at::Tensor sorted = boxes.index_select(0, order).to(at::kCPU).contiguous();
  if (sorted.scalar_type() != at::kDouble) sorted = sorted.to(at::kFloat);  // half, bfloat16: compare in float
  at::Tensor sorted_labels;
  if (labels.defined()) sorted_labels = labels.index_select(0, order).to(at::kCPU, at::kLong).contiguous();
  const int64_t* label = labels.defined() ? sorted_labels.data_ptr<int64_t>() : nullptr;

  std::vector<char> removed(n, 0);
  std::vector<int64_t> keep;
  AT_DISPATCH_FLOATING_TYPES(sorted.scalar_type(), "GreedyNms", [&] {
    const auto b = sorted.accessor<scalar_t, 2>();
    std::vector<scalar_t> area(n);
    for (int64_t i = 0; i < n; ++i) area[i] = (b[i][2] - b[i][0]) * (b[i][3] - b[i][1]);
    const auto threshold = static_cast<scalar_t>(iou_threshold);
    for (int64_t i = 0; i < n; ++i) {
      if (removed[i]) continue;
      keep.push_back(i);
      for (int64_t j = i + 1; j < n; ++j) {
        if (removed[j] || (label != nullptr && label[j] != label[i])) continue;
        const scalar_t w = std::max<scalar_t>(0, std::min(b[i][2], b[j][2]) - std::max(b[i][0], b[j][0]));
        const scalar_t h = std::max<scalar_t>(0, std::min(b[i][3], b[j][3]) - std::max(b[i][1], b[j][1]));
        const scalar_t inter = w * h;
        if (inter / (area[i] + area[j] - inter) > threshold) removed[j] = 1;
      }
    }
  });
  const at::Tensor kept = at::tensor(keep, at::TensorOptions().dtype(at::kLong)).to(order.device());
  return order.index_select(0, kept);
}

// The RoiAlign sampling along one axis. start, bin: K, the RoIs' first coordinate and bin
// length on the feature map; `size` feature rows (or columns). Returns, for each RoI k and bin
// p, the 2 * samples rows that the bin's bilinear samples read and their weights (divided by
// `samples`, so a bin's weights sum to 1 when all its samples fall inside): two K x S x
// (2 samples) tensors, int64 and of start's type. Follows torchvision's sampling exactly: point i of bin
// p sits at start + p * bin + (i + 0.5) * bin / samples; a point outside [-1, size] reads
// zero; a coordinate below 0 reads as 0, and one past size - 1 reads the last row.
std::pair<at::Tensor, at::Tensor> AxisSamples(const at::Tensor& start, const at::Tensor& bin, int64_t size,
                                              int64_t bins, int64_t samples) {
  const int64_t k = start.size(0);
  const auto options = start.options();
  const at::Tensor p = at::arange(bins, options).view({1, bins, 1});
  const at::Tensor i = (at::arange(samples, options) + 0.5).view({1, 1, samples});
  const at::Tensor s = start.view({k, 1, 1}), b = bin.view({k, 1, 1});
  at::Tensor c = (s + p * b) + (i * b) / static_cast<double>(samples);               // K x S x samples
  const at::Tensor valid = c.ge(-1.0).logical_and(c.le(static_cast<double>(size)));  // false for NaN
  c = at::where(valid, c, at::zeros_like(c)).clamp_min(0.0);
  at::Tensor low = c.floor();
  const at::Tensor top = low.ge(static_cast<double>(size - 1));
  low = at::where(top, at::full_like(low, static_cast<double>(size - 1)), low);
  c = at::where(top, low, c);
  const at::Tensor high = at::where(top, low, low + 1.0);
  const at::Tensor frac = c - low;
  const at::Tensor weights = at::stack({1.0 - frac, frac}, -1) * valid.unsqueeze(-1).to(c.scalar_type());
  return {at::stack({low, high}, -1).to(at::kLong).reshape({k, bins, 2 * samples}),
          (weights / static_cast<double>(samples)).reshape({k, bins, 2 * samples})};
}

// Elements of the per-chunk intermediate (RoIs x S x C x L) that RoiAlign allows: 64 MB of float.
constexpr int64_t kRoiAlignChunkElements = int64_t{1} << 24;

}  // namespace

at::Tensor BoxArea(const at::Tensor& boxes) {
  CheckBoxes(boxes, "BoxArea boxes");
  return (Column(boxes, 2) - Column(boxes, 0)) * (Column(boxes, 3) - Column(boxes, 1));
}

at::Tensor BoxIou(const at::Tensor& a, const at::Tensor& b) {
  CheckBoxes(a, "BoxIou a");
  CheckBoxes(b, "BoxIou b");
  const at::Tensor area_a = BoxArea(a), area_b = BoxArea(b);                                    // N, M
  const at::Tensor lt = at::max(a.slice(1, 0, 2).unsqueeze(1), b.slice(1, 0, 2).unsqueeze(0));  // N x M x 2
  const at::Tensor rb = at::min(a.slice(1, 2, 4).unsqueeze(1), b.slice(1, 2, 4).unsqueeze(0));  // N x M x 2
  const at::Tensor wh = (rb - lt).clamp_min(0);
  const at::Tensor inter = wh.select(2, 0) * wh.select(2, 1);  // N x M
  return inter / (area_a.unsqueeze(1) + area_b.unsqueeze(0) - inter);
}

at::Tensor Nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold) {
  return GreedyNms(boxes, scores, at::Tensor(), iou_threshold);
}

at::Tensor BatchedNms(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& labels,
                      double iou_threshold) {
  TORCH_CHECK(labels.defined(), "BatchedNms labels are undefined");
  TORCH_CHECK(!at::isFloatingType(labels.scalar_type()), "BatchedNms labels must be integers, got ",
              labels.scalar_type());
  return GreedyNms(boxes, scores, labels, iou_threshold);
}

at::Tensor RoiAlign(const at::Tensor& features, const at::Tensor& rois, int output_size, double spatial_scale,
                    int sampling_ratio, bool aligned) {
  TORCH_CHECK(features.dim() == 4, "RoiAlign features must be N x C x H x W, got shape ", features.sizes());
  TORCH_CHECK(at::isFloatingType(features.scalar_type()), "RoiAlign features must be floating, got ",
              features.scalar_type());
  TORCH_CHECK(rois.dim() == 2 && rois.size(1) == 5, "RoiAlign rois must be K x 5 (batch index, x1, y1, x2, y2), ",
              "got shape ", rois.sizes());
  TORCH_CHECK(output_size > 0, "RoiAlign output_size must be > 0, got ", output_size);
  TORCH_CHECK(sampling_ratio > 0, "RoiAlign sampling_ratio must be > 0 (adaptive sampling is not supported), got ",
              sampling_ratio);
  const int64_t n = features.size(0), c = features.size(1), h = features.size(2), w = features.size(3);
  const int64_t k = rois.size(0), s = output_size;
  TORCH_CHECK(h > 0 && w > 0, "RoiAlign features have an empty map: ", features.sizes());
  if (k == 0) return at::zeros({0, c, s, s}, features.options());

  // Batch indices, checked on the RoIs as given (exact in double).
  const at::Tensor r = rois.detach().to(features.device(), at::kDouble);
  const at::Tensor batch = r.select(1, 0).to(at::kLong);
  {
    const at::Tensor in_range = batch.ge(0).logical_and(batch.lt(n)).logical_and(r.select(1, 0).eq(batch));
    TORCH_CHECK(in_range.all().item<bool>(), "RoiAlign rois' batch indices (column 0) must be integers in [0, ", n,
                "), got ", r.select(1, 0).min().item<double>(), " .. ", r.select(1, 0).max().item<double>());
  }
  const auto type = features.scalar_type();
  // RoI geometry on the feature map as torchvision computes it: in the features' type, the scale
  // cast to it first.
  const at::Tensor corners = r.slice(1, 1, 5).to(type) * spatial_scale - (aligned ? 0.5 : 0.0);  // K x 4
  at::Tensor roi_w = Column(corners, 2) - Column(corners, 0), roi_h = Column(corners, 3) - Column(corners, 1);
  if (!aligned) {  // torchvision's legacy mode makes every RoI at least one cell wide
    roi_w = roi_w.clamp_min(1.0);
    roi_h = roi_h.clamp_min(1.0);
  }
  auto [rows, row_weights] = AxisSamples(Column(corners, 1), roi_h / static_cast<double>(s), h, s, sampling_ratio);
  auto [cols, col_weights] = AxisSamples(Column(corners, 0), roi_w / static_cast<double>(s), w, s, sampling_ratio);

  // Bilinear sampling is separable. Along the longer axis (rows, say) each bin reads
  // 2 * sampling_ratio rows of the map: one embedding_bag over the map's rows (the table is
  // N H x C W) gives every bin's weighted row sum, G: K S x C W. Along the other axis the bins'
  // column weights form a dense K x S x W matrix Ax, and out[k] = G[k] (S C x W) @ Ax[k]^T.
  const bool gather_rows = h >= w;
  const int64_t gathered = gather_rows ? h : w, contracted = gather_rows ? w : h;
  const at::Tensor table = gather_rows ? features.permute({0, 2, 1, 3}).reshape({n * h, c * w})
                                       : features.permute({0, 3, 1, 2}).reshape({n * w, c * h});
  const at::Tensor index = (batch.view({k, 1, 1}) * gathered + (gather_rows ? rows : cols)).view({k, -1});
  const at::Tensor index_weights = (gather_rows ? row_weights : col_weights).reshape({k, -1});
  const at::Tensor dense = at::zeros({k, s, contracted}, corners.options())
                               .scatter_add_(2, gather_rows ? cols : rows, gather_rows ? col_weights : row_weights)
                               .transpose(1, 2);  // K x L x S
  const int64_t per_bin = 2 * sampling_ratio;
  const int64_t chunk = std::max<int64_t>(1, kRoiAlignChunkElements / (s * c * contracted));
  std::vector<at::Tensor> pieces;
  for (int64_t begin = 0; begin < k; begin += chunk) {
    const int64_t m = std::min(k, begin + chunk) - begin;
    const at::Tensor offsets = at::arange(0, m * s * per_bin, per_bin, index.options());
    const at::Tensor sums = std::get<0>(at::embedding_bag(
        table, index.slice(0, begin, begin + m).reshape({-1}), offsets, /*scale_grad_by_freq=*/false, /*mode=sum*/ 0,
        /*sparse=*/false, index_weights.slice(0, begin, begin + m).reshape({-1})));
    pieces.push_back(at::bmm(sums.view({m, s * c, contracted}), dense.slice(0, begin, begin + m)));
  }
  // out: RoI, gathered bin, channel, contracted bin.
  const at::Tensor out = (pieces.size() == 1 ? pieces[0] : at::cat(pieces)).view({k, s, c, s});
  return (gather_rows ? out.permute({0, 2, 1, 3}) : out.permute({0, 2, 3, 1})).contiguous();  // K x C x S x S
}

at::Tensor BoxCoder::Encode(const at::Tensor& targets, const at::Tensor& proposals) const {
  CheckBoxes(targets, "BoxCoder::Encode targets");
  CheckBoxes(proposals, "BoxCoder::Encode proposals");
  TORCH_CHECK(targets.size(0) == proposals.size(0), "BoxCoder::Encode needs one target per proposal, got ",
              targets.size(0), " targets and ", proposals.size(0), " proposals");
  const at::Tensor pw = Column(proposals, 2) - Column(proposals, 0);
  const at::Tensor ph = Column(proposals, 3) - Column(proposals, 1);
  const at::Tensor px = Column(proposals, 0) + 0.5 * pw, py = Column(proposals, 1) + 0.5 * ph;
  const at::Tensor tw = Column(targets, 2) - Column(targets, 0);
  const at::Tensor th = Column(targets, 3) - Column(targets, 1);
  const at::Tensor tx = Column(targets, 0) + 0.5 * tw, ty = Column(targets, 1) + 0.5 * th;
  return at::stack({weights[0] * (tx - px) / pw, weights[1] * (ty - py) / ph, weights[2] * at::log(tw / pw),
                    weights[3] * at::log(th / ph)},
                   1);
}

at::Tensor BoxCoder::Decode(const at::Tensor& deltas, const at::Tensor& proposals) const {
  CheckBoxes(proposals, "BoxCoder::Decode proposals");
  TORCH_CHECK(deltas.dim() == 2 && deltas.size(1) % 4 == 0 && deltas.size(0) == proposals.size(0),
              "BoxCoder::Decode deltas must be N x 4k with N = ", proposals.size(0), " proposals, got shape ",
              deltas.sizes());
  const double clip = std::log(1000.0 / 16.0);
  const int64_t n = deltas.size(0);
  const at::Tensor d = deltas.reshape({n, -1, 4});                                   // N x k x 4
  const at::Tensor pw = (Column(proposals, 2) - Column(proposals, 0)).unsqueeze(1);  // N x 1
  const at::Tensor ph = (Column(proposals, 3) - Column(proposals, 1)).unsqueeze(1);
  const at::Tensor px = Column(proposals, 0).unsqueeze(1) + 0.5 * pw, py = Column(proposals, 1).unsqueeze(1) + 0.5 * ph;
  const at::Tensor dx = d.select(2, 0) / weights[0], dy = d.select(2, 1) / weights[1];
  const at::Tensor dw = (d.select(2, 2) / weights[2]).clamp_max(clip);
  const at::Tensor dh = (d.select(2, 3) / weights[3]).clamp_max(clip);
  const at::Tensor x = dx * pw + px, y = dy * ph + py;  // N x k centres
  const at::Tensor half_w = 0.5 * (at::exp(dw) * pw), half_h = 0.5 * (at::exp(dh) * ph);
  return at::stack({x - half_w, y - half_h, x + half_w, y + half_h}, 2).reshape({n, -1});
}

at::Tensor ClipBoxes(const at::Tensor& boxes, int64_t height, int64_t width) {
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) % 4 == 0, "ClipBoxes boxes must be N x 4k, got shape ", boxes.sizes());
  const at::Tensor xy = boxes.reshape({boxes.size(0), -1, 2});  // (x, y) pairs
  const at::Tensor x = xy.select(2, 0).clamp(0, static_cast<double>(width));
  const at::Tensor y = xy.select(2, 1).clamp(0, static_cast<double>(height));
  return at::stack({x, y}, 2).reshape(boxes.sizes());
}

at::Tensor KeepLargeBoxes(const at::Tensor& boxes, double min_size) {
  CheckBoxes(boxes, "KeepLargeBoxes boxes");
  const at::Tensor large = (Column(boxes, 2) - Column(boxes, 0))
                               .ge(min_size)
                               .logical_and((Column(boxes, 3) - Column(boxes, 1)).ge(min_size));
  return large.nonzero().squeeze(1);
}

at::Tensor GenerateAnchors(int64_t feature_h, int64_t feature_w, int64_t stride, const std::vector<double>& sizes,
                           const std::vector<double>& aspect_ratios) {
  TORCH_CHECK(feature_h >= 0 && feature_w >= 0 && stride > 0, "GenerateAnchors needs a non-negative map size and a ",
              "positive stride, got ", feature_h, " x ", feature_w, " with stride ", stride);
  TORCH_CHECK(!sizes.empty() && !aspect_ratios.empty(), "GenerateAnchors needs at least one size and aspect ratio");
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  // Base anchors centred on 0, in float32 like torchvision: A x 4, ratio outer, size inner.
  const at::Tensor scales = at::tensor(sizes, at::TensorOptions().dtype(at::kDouble)).to(at::kFloat);
  const at::Tensor ratios = at::tensor(aspect_ratios, at::TensorOptions().dtype(at::kDouble)).to(at::kFloat);
  const at::Tensor h_ratios = at::sqrt(ratios), w_ratios = 1.0 / h_ratios;
  const at::Tensor ws = (w_ratios.unsqueeze(1) * scales.unsqueeze(0)).reshape({-1});
  const at::Tensor hs = (h_ratios.unsqueeze(1) * scales.unsqueeze(0)).reshape({-1});
  const at::Tensor base = (at::stack({-ws, -hs, ws, hs}, 1) / 2.0).round();  // A x 4
  // Cell offsets, row-major: H W x 4.
  const at::Tensor sx = at::arange(feature_w, f32) * static_cast<double>(stride);
  const at::Tensor sy = at::arange(feature_h, f32) * static_cast<double>(stride);
  const std::vector<at::Tensor> grid = at::meshgrid({sy, sx}, "ij");
  const at::Tensor y = grid[0].reshape({-1}), x = grid[1].reshape({-1});
  const at::Tensor shifts = at::stack({x, y, x, y}, 1);
  return (shifts.unsqueeze(1) + base.unsqueeze(0)).reshape({-1, 4});
}

at::Tensor MatchProposals(const at::Tensor& iou, double high, double low, bool allow_low_quality) {
  TORCH_CHECK(iou.dim() == 2, "MatchProposals iou must be M x N (ground truths x proposals), got shape ", iou.sizes());
  TORCH_CHECK(low <= high, "MatchProposals needs low <= high, got low ", low, " and high ", high);
  if (iou.size(0) == 0) return at::full({iou.size(1)}, -1, iou.options().dtype(at::kLong));
  if (iou.size(1) == 0) return at::empty({0}, iou.options().dtype(at::kLong));
  const auto [best, best_gt] = iou.max(0);  // N: each proposal's best IoU and ground truth
  at::Tensor matches = best_gt.masked_fill(best.lt(low), -1);
  matches.masked_fill_(best.ge(low).logical_and(best.lt(high)), -2);
  if (allow_low_quality) {
    const at::Tensor gt_best = std::get<0>(iou.max(1));              // M
    const at::Tensor is_best = iou.eq(gt_best.unsqueeze(1)).any(0);  // N
    matches = at::where(is_best, best_gt, matches);
  }
  return matches;
}

std::pair<at::Tensor, at::Tensor> SampleBalanced(const at::Tensor& labels, int64_t batch, double positive_fraction,
                                                 std::optional<uint64_t> seed) {
  TORCH_CHECK(labels.dim() == 1 && !at::isFloatingType(labels.scalar_type()),
              "SampleBalanced labels must be an integer vector, got ", labels.scalar_type(), " of shape ",
              labels.sizes());
  TORCH_CHECK(batch >= 0 && positive_fraction >= 0.0 && positive_fraction <= 1.0,
              "SampleBalanced needs batch >= 0 and positive_fraction in [0, 1], got ", batch, " and ",
              positive_fraction);
  const at::Tensor positive = labels.ge(1).nonzero().squeeze(1);
  const at::Tensor negative = labels.eq(0).nonzero().squeeze(1);
  const int64_t num_pos =
      std::min(static_cast<int64_t>(static_cast<double>(batch) * positive_fraction), positive.size(0));
  const int64_t num_neg = std::min(batch - num_pos, negative.size(0));
  const auto options = labels.options().dtype(at::kLong);
  at::Tensor perm_pos, perm_neg;
  if (seed.has_value()) {
    at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(*seed);
    perm_pos = at::randperm(positive.size(0), generator, at::kLong).slice(0, 0, num_pos).to(labels.device());
    perm_neg = at::randperm(negative.size(0), generator, at::kLong).slice(0, 0, num_neg).to(labels.device());
  } else {
    perm_pos = at::randperm(positive.size(0), options).slice(0, 0, num_pos);
    perm_neg = at::randperm(negative.size(0), options).slice(0, 0, num_neg);
  }
  return {positive.index_select(0, perm_pos), negative.index_select(0, perm_neg)};
}

}  // namespace moco
