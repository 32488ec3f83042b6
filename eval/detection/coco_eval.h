// COCO box AP, computed exactly as pycocotools' COCOeval with iouType "bbox", and the evaluator that
// collects a model's detections for it.
//
//   CocoEvaluator eval(&dataset);          // the DetectionDataset must outlive the evaluator
//   eval.Reset();
//   for (...) MOCO_RETURN_IF_ERROR(eval.Process({detections_of_this_batch}));
//   MOCO_ASSIGN_OR_RETURN(Metrics m, eval.Evaluate());   // {"AP": 41.2, "AP50": 63.0, ...}
//
// What "exactly" covers: IoU thresholds .50:.05:.95 and recall thresholds 0:.01:1 computed as numpy's
// linspace computes them; per image and category, detections stably sorted by score (ties keep their
// order in the input) and cut to the 100 best; greedy matching in that order, each detection taking
// the unmatched GT of highest IoU >= the threshold (ties to the later GT, non-ignored GT before
// ignored ones); crowd GT (iscrowd, VOC difficult) matched with IoU = intersection / detection area,
// re-matchable, and its matches neither TP nor FP; GT outside an area range ignored and unmatched
// detections outside it dropped; across images a stable sort by score in increasing image id order;
// precision made monotone and read at the 101 recall thresholds. Areas are the GT box's w * h (there
// are no segmentation areas here), detections' w * h likewise.
#ifndef MOCO_EVAL_DETECTION_COCO_EVAL_H_
#define MOCO_EVAL_DETECTION_COCO_EVAL_H_

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "eval/detection/annotations.h"
#include "eval/evaluator.h"

namespace moco {

// One predicted box, in the GroundTruthBox convention (continuous pixels, width = x2 - x1).
struct Detection {
  int64_t image_id = 0;  // a DetectionImage::id of the dataset
  int label = 0;         // index into DetectionDataset::class_names
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  float score = 0;
};

// Writes `detections` of images of `data` in COCO's results format, which pycocotools' loadRes
// and COCO's evaluation server score: a JSON list of {"image_id", "category_id" (the dataset's own
// id, CategoryId), "bbox": [x1, y1, x2 - x1, y2 - y1] (in double, from the floats), "score"}.
absl::Status WriteCocoDetections(const DetectionDataset& data, const std::vector<Detection>& detections,
                                 const std::string& path);

// COCO bbox evaluation exactly as pycocotools' COCOeval (see above). Returns, in percent, COCOeval's 12
// stats: "AP" (IoU .50:.95, all areas, 100 detections), "AP50", "AP75", "APs", "APm", "APl" (areas
// below 32^2, 32^2 to 96^2, above 96^2, bounds inclusive as in pycocotools), "AR1", "AR10", "AR100",
// "ARs", "ARm", "ARl". A category with no non-crowd GT in the whole dataset (or in an area range, for
// the area metrics) is left out of the mean, as pycocotools leaves out its -1 entries; a metric with no
// such category at all is -1 (pycocotools' value, not scaled), except "AP", whose absence (no non-crowd
// GT box in the dataset) is an error. Also an error: a detection whose image_id is not in the dataset
// (pycocotools refuses those too), whose label is out of range, or with a non-finite box or score;
// repeated image ids or out-of-range labels in `ground_truth`. Degenerate detection boxes (x2 <= x1)
// are allowed; they overlap nothing.
absl::StatusOr<Metrics> CocoEvaluate(const DetectionDataset& ground_truth, const std::vector<Detection>& detections);

struct DetectionBatch {
  std::vector<Detection> detections;
};

// Accumulates detections over Process() calls and evaluates them with CocoEvaluate. Process() checks
// each detection's image id and label at once, so a bad batch is reported where it happens.
class CocoEvaluator : public Evaluator<DetectionBatch> {
 public:
  // `ground_truth` is not owned and must outlive the evaluator.
  explicit CocoEvaluator(const DetectionDataset* ground_truth);

  void Reset() override;
  absl::Status Process(const DetectionBatch& batch) override;
  absl::StatusOr<Metrics> Evaluate() override;

  size_t num_detections() const { return detections_.size(); }

 private:
  const DetectionDataset* ground_truth_;
  std::unordered_set<int64_t> image_ids_;
  std::vector<Detection> detections_;
};

}  // namespace moco

#endif  // MOCO_EVAL_DETECTION_COCO_EVAL_H_
