#include "eval/detection/coco_eval.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "moco/common/files.h"
#include "moco/common/status.h"
#include "nlohmann/json.hpp"

namespace moco {

absl::Status WriteCocoDetections(const DetectionDataset& data, const std::vector<Detection>& detections,
                                 const std::string& path) {
  nlohmann::json list = nlohmann::json::array();
  for (const Detection& d : detections) {
    if (d.label < 0 || d.label >= static_cast<int>(data.class_names.size())) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": a detection on image ", d.image_id, " has label ", d.label,
                                                     ", not in [0, ", data.class_names.size(), ")"));
    }
    const double w = static_cast<double>(d.x2) - d.x1, h = static_cast<double>(d.y2) - d.y1;
    list.push_back({{"image_id", d.image_id},
                    {"category_id", CategoryId(data, d.label)},
                    {"bbox", {static_cast<double>(d.x1), static_cast<double>(d.y1), w, h}},
                    {"score", static_cast<double>(d.score)}});
  }
  return WriteFileAtomic(path, list.dump());
}
namespace {

constexpr int kNumIou = 10;      // IoU thresholds .50:.05:.95
constexpr int kNumRecall = 101;  // recall thresholds 0:.01:1
constexpr int kNumAreas = 4;     // all, small, medium, large
constexpr int kNumMaxDets = 3;
constexpr int kMaxDets[kNumMaxDets] = {1, 10, 100};
// pycocotools' areaRng: [0, 1e5^2], [0, 32^2], [32^2, 96^2], [96^2, 1e5^2], both ends inclusive.
constexpr double kAreaRange[kNumAreas][2] = {{0, 1e10}, {0, 32.0 * 32}, {32.0 * 32, 96.0 * 96}, {96.0 * 96, 1e10}};
// Its cap on an IoU threshold, min(t, 1 - 1e-10), which matters only for a threshold of 1.
constexpr double kMaxIouThreshold = 1 - 1e-10;

// numpy.linspace(start, stop, num) value for value: i * ((stop - start) / (num - 1)) + start, the last
// exactly `stop`. (0.75, the AP75 threshold, comes out exactly 0.75.)
std::vector<double> Linspace(double start, double stop, int num) {
  std::vector<double> values(num);
  const double step = (stop - start) / (num - 1);
  for (int i = 0; i < num; ++i) values[i] = static_cast<double>(i) * step + start;
  values[num - 1] = stop;
  return values;
}

struct Box64 {
  double x1, y1, x2, y2;
};

// w * h in double, as pycocotools takes it from a bbox [x, y, w, h] whose w = x2 - x1 was written in double.
double Area(const Box64& b) { return (b.x2 - b.x1) * (b.y2 - b.y1); }

// pycocotools' box IoU: intersection over union, or over the detection's area for a crowd GT.
double Iou(const Box64& det, const Box64& gt, bool crowd) {
  const double w = std::min(det.x2, gt.x2) - std::max(det.x1, gt.x1);
  if (w <= 0) return 0;
  const double h = std::min(det.y2, gt.y2) - std::max(det.y1, gt.y1);
  if (h <= 0) return 0;
  const double intersection = w * h;
  const double det_area = Area(det);
  return intersection / (crowd ? det_area : det_area + Area(gt) - intersection);
}

// One image's detections of one category, evaluated in one area range (pycocotools' evaluateImg).
struct ImageEval {
  std::vector<double> scores;    // D, best first
  std::vector<uint8_t> matched;  // kNumIou x D: matched a GT (crowd or ignored included)
  std::vector<uint8_t> ignored;  // kNumIou x D: neither TP nor FP
  int num_gt = 0;                // GT boxes that count (not crowd, inside the area range)
};

struct GtRef {
  Box64 box;
  bool crowd;
  double area;
};

// Greedy matching of `dets` (best first, at most 100) to `gts` within one area range.
ImageEval EvaluateImage(const std::vector<Box64>& dets, const std::vector<double>& scores,
                        const std::vector<GtRef>& gts, const std::vector<double>& iou /* D x G */,
                        const double area_range[2], const std::vector<double>& iou_thresholds) {
  const int num_dets = static_cast<int>(dets.size());
  const int num_gts = static_cast<int>(gts.size());
  ImageEval eval;
  eval.scores = scores;
  eval.matched.assign(kNumIou * num_dets, 0);
  eval.ignored.assign(kNumIou * num_dets, 0);
  // GT that does not count goes last, order otherwise kept (a stable sort on the ignore flag).
  std::vector<uint8_t> gt_ignored(num_gts);
  std::vector<int> gt_order;
  for (int g = 0; g < num_gts; ++g) {
    gt_ignored[g] = gts[g].crowd || gts[g].area < area_range[0] || gts[g].area > area_range[1];
    if (!gt_ignored[g]) gt_order.push_back(g);
  }
  eval.num_gt = static_cast<int>(gt_order.size());
  for (int g = 0; g < num_gts; ++g) {
    if (gt_ignored[g]) gt_order.push_back(g);
  }

  std::vector<uint8_t> gt_taken(num_gts);  // by position in gt_order
  for (int t = 0; t < kNumIou; ++t) {
    std::fill(gt_taken.begin(), gt_taken.end(), 0);
    for (int d = 0; d < num_dets; ++d) {
      double best = std::min(iou_thresholds[t], kMaxIouThreshold);
      int match = -1;  // position in gt_order
      for (int j = 0; j < num_gts; ++j) {
        const int g = gt_order[j];
        if (gt_taken[j] && !gts[g].crowd) continue;
        // Once matched to a GT that counts, the ignored ones (all after it) cannot take the detection.
        if (match > -1 && !gt_ignored[gt_order[match]] && gt_ignored[g]) break;
        const double overlap = iou[d * num_gts + g];
        if (overlap < best) continue;
        best = overlap;  // an equal IoU further on wins, as in pycocotools
        match = j;
      }
      if (match == -1) continue;
      eval.matched[t * num_dets + d] = 1;
      eval.ignored[t * num_dets + d] = gt_ignored[gt_order[match]];
      gt_taken[match] = 1;
    }
  }
  // Unmatched detections outside the area range are dropped.
  for (int d = 0; d < num_dets; ++d) {
    const double area = Area(dets[d]);
    if (area >= area_range[0] && area <= area_range[1]) continue;
    for (int t = 0; t < kNumIou; ++t) {
      if (!eval.matched[t * num_dets + d]) eval.ignored[t * num_dets + d] = 1;
    }
  }
  return eval;
}

bool Finite(const Detection& d) {
  return std::isfinite(d.x1) && std::isfinite(d.y1) && std::isfinite(d.x2) && std::isfinite(d.y2) &&
         std::isfinite(d.score);
}

absl::Status CheckDetection(const Detection& d, size_t index, int num_classes,
                            const std::unordered_map<int64_t, int>& index_of_image) {
  if (index_of_image.find(d.image_id) == index_of_image.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("detection ", index, ": image_id ", d.image_id, " is not an image of the dataset"));
  }
  if (d.label < 0 || d.label >= num_classes) {
    return absl::InvalidArgumentError(absl::StrCat("detection ", index, " (image ", d.image_id, "): label ", d.label,
                                                   " is not in [0, ", num_classes, ")"));
  }
  if (!Finite(d)) {
    return absl::InvalidArgumentError(absl::StrCat("detection ", index, " (image ", d.image_id,
                                                   "): non-finite box or score (", d.x1, ", ", d.y1, ", ", d.x2, ", ",
                                                   d.y2, ") score ", d.score));
  }
  return absl::OkStatus();
}

// The detections checked and grouped by (image, class), and the images in pycocotools' order.
struct Grouped {
  std::vector<std::vector<int>> dets_of;  // [image * num_classes + class]: detection indices, input order
  std::vector<int> image_order;           // by increasing id: that order breaks score ties across images
};

absl::StatusOr<Grouped> GroupDetections(const DetectionDataset& ground_truth, const std::vector<Detection>& detections) {
  const int num_classes = static_cast<int>(ground_truth.class_names.size());
  const int num_images = static_cast<int>(ground_truth.images.size());
  if (num_classes == 0) return absl::InvalidArgumentError("CocoEvaluate: the dataset has no classes");
  std::unordered_map<int64_t, int> index_of_image;
  for (int n = 0; n < num_images; ++n) {
    const DetectionImage& image = ground_truth.images[n];
    if (!index_of_image.emplace(image.id, n).second) {
      return absl::InvalidArgumentError(absl::StrCat("CocoEvaluate: image id ", image.id, " repeats"));
    }
    for (size_t b = 0; b < image.boxes.size(); ++b) {
      const int label = image.boxes[b].label;
      if (label < 0 || label >= num_classes) {
        return absl::InvalidArgumentError(absl::StrCat("CocoEvaluate: image ", image.id, " box ", b, ": label ", label,
                                                       " is not in [0, ", num_classes, ")"));
      }
    }
  }
  Grouped grouped;
  grouped.dets_of.resize(static_cast<size_t>(num_images) * num_classes);
  for (size_t i = 0; i < detections.size(); ++i) {
    const Detection& d = detections[i];
    MOCO_RETURN_IF_ERROR(CheckDetection(d, i, num_classes, index_of_image));
    grouped.dets_of[static_cast<size_t>(index_of_image[d.image_id]) * num_classes + d.label].push_back(
        static_cast<int>(i));
  }
  grouped.image_order.resize(num_images);
  std::iota(grouped.image_order.begin(), grouped.image_order.end(), 0);
  std::sort(grouped.image_order.begin(), grouped.image_order.end(),
            [&](int a, int b) { return ground_truth.images[a].id < ground_truth.images[b].id; });
  return grouped;
}

// pycocotools' evaluate for class k: each image with GT or detections of k, in each area range.
struct ClassEval {
  std::vector<ImageEval> by_area[kNumAreas];
};

ClassEval EvaluateClass(int k, const DetectionDataset& ground_truth, const std::vector<Detection>& detections,
                        const Grouped& grouped, const std::vector<double>& iou_thresholds) {
  const size_t num_classes = ground_truth.class_names.size();
  const int max_dets = kMaxDets[kNumMaxDets - 1];
  ClassEval out;
  for (const int n : grouped.image_order) {
    std::vector<GtRef> gts;
    for (const GroundTruthBox& b : ground_truth.images[n].boxes) {
      if (b.label != k) continue;
      const Box64 box{b.x1, b.y1, b.x2, b.y2};
      gts.push_back({box, b.crowd, Area(box)});
    }
    std::vector<int> det_index = grouped.dets_of[static_cast<size_t>(n) * num_classes + k];
    if (gts.empty() && det_index.empty()) continue;
    std::stable_sort(det_index.begin(), det_index.end(),
                     [&](int a, int b) { return detections[a].score > detections[b].score; });
    if (static_cast<int>(det_index.size()) > max_dets) det_index.resize(max_dets);
    std::vector<Box64> dets;
    std::vector<double> scores;
    for (const int i : det_index) {
      const Detection& d = detections[i];
      dets.push_back({d.x1, d.y1, d.x2, d.y2});
      scores.push_back(d.score);
    }
    std::vector<double> iou(dets.size() * gts.size());
    for (size_t d = 0; d < dets.size(); ++d) {
      for (size_t g = 0; g < gts.size(); ++g) iou[d * gts.size() + g] = Iou(dets[d], gts[g].box, gts[g].crowd);
    }
    for (int a = 0; a < kNumAreas; ++a) {
      out.by_area[a].push_back(EvaluateImage(dets, scores, gts, iou, kAreaRange[a], iou_thresholds));
    }
  }
  return out;
}

// pycocotools' precision[T][R][K][A][M] and recall[T][K][A][M]: -1 where a category has no GT that
// counts.
class PrecisionRecall {
 public:
  explicit PrecisionRecall(int num_classes)
      : num_classes_(num_classes),
        precision_(static_cast<size_t>(kNumIou) * kNumRecall * num_classes * kNumAreas * kNumMaxDets, -1),
        recall_(static_cast<size_t>(kNumIou) * num_classes * kNumAreas * kNumMaxDets, -1) {}
  int num_classes() const { return num_classes_; }
  double& precision(int t, int r, int k, int a, int m) {
    return precision_[(((static_cast<size_t>(t) * kNumRecall + r) * num_classes_ + k) * kNumAreas + a) * kNumMaxDets + m];
  }
  double& recall(int t, int k, int a, int m) {
    return recall_[((static_cast<size_t>(t) * num_classes_ + k) * kNumAreas + a) * kNumMaxDets + m];
  }

 private:
  int num_classes_;
  std::vector<double> precision_, recall_;
};

// pycocotools' accumulate for class k, area range a and detection cap m.
void Accumulate(int k, int a, int m, const std::vector<ImageEval>& evals, int num_gt,
                const std::vector<double>& recall_thresholds, PrecisionRecall& out) {
  struct Entry {
    double score;
    int eval;
    int det;
  };
  std::vector<Entry> entries;
  for (int e = 0; e < static_cast<int>(evals.size()); ++e) {
    const int count = std::min(kMaxDets[m], static_cast<int>(evals[e].scores.size()));
    for (int d = 0; d < count; ++d) entries.push_back({evals[e].scores[d], e, d});
  }
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& x, const Entry& y) { return x.score > y.score; });
  const int num_dets = static_cast<int>(entries.size());
  std::vector<double> rc(num_dets), pr(num_dets);
  for (int t = 0; t < kNumIou; ++t) {
    double tp = 0, fp = 0;
    for (int i = 0; i < num_dets; ++i) {
      const ImageEval& e = evals[entries[i].eval];
      const size_t at = static_cast<size_t>(t) * e.scores.size() + entries[i].det;
      if (!e.ignored[at]) (e.matched[at] ? tp : fp) += 1;
      rc[i] = tp / num_gt;
      pr[i] = tp / (fp + tp + std::numeric_limits<double>::epsilon());
    }
    out.recall(t, k, a, m) = num_dets > 0 ? rc[num_dets - 1] : 0;
    for (int i = num_dets - 1; i > 0; --i) pr[i - 1] = std::max(pr[i - 1], pr[i]);
    for (int r = 0; r < kNumRecall; ++r) {
      const int i = static_cast<int>(std::lower_bound(rc.begin(), rc.end(), recall_thresholds[r]) - rc.begin());
      out.precision(t, r, k, a, m) = i < num_dets ? pr[i] : 0;
    }
  }
}

// pycocotools' summarize: each metric the mean of the entries that are not -1, in percent.
absl::StatusOr<Metrics> Summarize(PrecisionRecall& pr, const std::vector<double>& iou_thresholds) {
  const int m100 = kNumMaxDets - 1;
  auto mean_precision = [&](int only_t, int a) {
    double sum = 0;
    int64_t count = 0;
    for (int t = 0; t < kNumIou; ++t) {
      if (only_t >= 0 && t != only_t) continue;
      for (int r = 0; r < kNumRecall; ++r) {
        for (int k = 0; k < pr.num_classes(); ++k) {
          const double p = pr.precision(t, r, k, a, m100);
          if (p > -1) sum += p, ++count;
        }
      }
    }
    return count == 0 ? -1.0 : 100 * sum / count;
  };
  auto mean_recall = [&](int a, int m) {
    double sum = 0;
    int64_t count = 0;
    for (int t = 0; t < kNumIou; ++t) {
      for (int k = 0; k < pr.num_classes(); ++k) {
        const double r = pr.recall(t, k, a, m);
        if (r > -1) sum += r, ++count;
      }
    }
    return count == 0 ? -1.0 : 100 * sum / count;
  };
  const auto t50 = std::find(iou_thresholds.begin(), iou_thresholds.end(), 0.5) - iou_thresholds.begin();
  const auto t75 = std::find(iou_thresholds.begin(), iou_thresholds.end(), 0.75) - iou_thresholds.begin();
  Metrics metrics;
  metrics["AP"] = mean_precision(-1, 0);
  if (metrics["AP"] < 0) {
    return absl::InvalidArgumentError(
        "CocoEvaluate: the dataset has no ground-truth box that counts (every box is crowd / difficult, or "
        "there are none), so AP is undefined");
  }
  metrics["AP50"] = mean_precision(static_cast<int>(t50), 0);
  metrics["AP75"] = mean_precision(static_cast<int>(t75), 0);
  metrics["APs"] = mean_precision(-1, 1);
  metrics["APm"] = mean_precision(-1, 2);
  metrics["APl"] = mean_precision(-1, 3);
  metrics["AR1"] = mean_recall(0, 0);
  metrics["AR10"] = mean_recall(0, 1);
  metrics["AR100"] = mean_recall(0, 2);
  metrics["ARs"] = mean_recall(1, m100);
  metrics["ARm"] = mean_recall(2, m100);
  metrics["ARl"] = mean_recall(3, m100);
  return metrics;
}

}  // namespace

absl::StatusOr<Metrics> CocoEvaluate(const DetectionDataset& ground_truth, const std::vector<Detection>& detections) {
  MOCO_ASSIGN_OR_RETURN(const Grouped grouped, GroupDetections(ground_truth, detections));
  const std::vector<double> iou_thresholds = Linspace(0.5, 0.95, kNumIou);
  const std::vector<double> recall_thresholds = Linspace(0.0, 1.0, kNumRecall);
  const int num_classes = static_cast<int>(ground_truth.class_names.size());
  PrecisionRecall pr(num_classes);
  for (int k = 0; k < num_classes; ++k) {
    const ClassEval evals = EvaluateClass(k, ground_truth, detections, grouped, iou_thresholds);
    for (int a = 0; a < kNumAreas; ++a) {
      int num_gt = 0;
      for (const ImageEval& e : evals.by_area[a]) num_gt += e.num_gt;
      if (num_gt == 0) continue;  // stays -1: left out of the means
      for (int m = 0; m < kNumMaxDets; ++m) Accumulate(k, a, m, evals.by_area[a], num_gt, recall_thresholds, pr);
    }
  }
  return Summarize(pr, iou_thresholds);
}

CocoEvaluator::CocoEvaluator(const DetectionDataset* ground_truth) : ground_truth_(ground_truth) {
  for (const DetectionImage& image : ground_truth_->images) image_ids_.insert(image.id);
}

void CocoEvaluator::Reset() { detections_.clear(); }

absl::Status CocoEvaluator::Process(const DetectionBatch& batch) {
  const int num_classes = static_cast<int>(ground_truth_->class_names.size());
  for (size_t i = 0; i < batch.detections.size(); ++i) {
    const Detection& d = batch.detections[i];
    if (image_ids_.count(d.image_id) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("CocoEvaluator::Process: batch detection ", i, ": image_id ",
                                                     d.image_id, " is not an image of the dataset"));
    }
    if (d.label < 0 || d.label >= num_classes) {
      return absl::InvalidArgumentError(absl::StrCat("CocoEvaluator::Process: batch detection ", i, " (image ",
                                                     d.image_id, "): label ", d.label, " is not in [0, ", num_classes,
                                                     ")"));
    }
    if (!Finite(d)) {
      return absl::InvalidArgumentError(absl::StrCat("CocoEvaluator::Process: batch detection ", i, " (image ",
                                                     d.image_id, "): non-finite box or score"));
    }
  }
  detections_.insert(detections_.end(), batch.detections.begin(), batch.detections.end());
  return absl::OkStatus();
}

absl::StatusOr<Metrics> CocoEvaluator::Evaluate() { return CocoEvaluate(*ground_truth_, detections_); }

}  // namespace moco
