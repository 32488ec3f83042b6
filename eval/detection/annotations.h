// Detection datasets for the transfer evaluator, read from three formats into one form:
// COCO-style instances JSON, PASCAL VOC (XML per image) and Penn-Fudan. Boxes use COCO's
// continuous pixel coordinates; labels index DetectionDataset::class_names.
//
//   MOCO_ASSIGN_OR_RETURN(DetectionDataset val,
//                         ReadCocoJson("coco/annotations/instances_val2017.json", "coco/val2017"));
//   MOCO_ASSIGN_OR_RETURN(DetectionDataset voc07, ReadVoc("VOCdevkit/VOC2007", "test"));
//   MOCO_ASSIGN_OR_RETURN(DetectionDataset pf, ReadPennFudanDetection(DataPath("pennfudan/PennFudanPed"),
//                                                                     PennFudanSplit::kTest));
//   for (const GroundTruthBox& box : pf.images[0].boxes) { /* box.x2 - box.x1 is the width */ }
//   MOCO_RETURN_IF_ERROR(WriteCocoJson(pf, "pennfudan_test.json"));
//
// Every reader checks what it reads and returns an error naming the file and the entry at
// fault: a box with x2 <= x1 or y2 <= y1, a box more than 1 px outside its image, an unknown
// category or image id, a missing field, a missing image file (its existence only; images
// are not decoded here).
#ifndef MOCO_EVAL_DETECTION_ANNOTATIONS_H_
#define MOCO_EVAL_DETECTION_ANNOTATIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "moco/data/pennfudan.h"

namespace moco {

// Boxes are in continuous pixel coordinates, x1 < x2, y1 < y2, width = x2 - x1 (COCO's convention): the box
// [x, y, w, h] of a COCO file is x1 = x, y1 = y, x2 = x + w, y2 = y + h.
struct GroundTruthBox {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  int label = 0;       // index into DetectionDataset::class_names
  bool crowd = false;  // COCO iscrowd, or VOC difficult: neither a hit nor a miss for AP
};

struct DetectionImage {
  int64_t id = 0;    // unique within a dataset
  std::string path;  // the image file
  int width = 0;
  int height = 0;
  std::vector<GroundTruthBox> boxes;
};

struct DetectionDataset {
  std::vector<std::string> class_names;  // labels index class_names
  // The id of each label's category in the file it came from (COCO's 1..90 with gaps); empty:
  // label + 1 (VOC, Penn-Fudan). CategoryId reads it.
  std::vector<int64_t> category_ids;
  std::vector<DetectionImage> images;
};

// The category id of `label` in `data`'s own numbering (category_ids, or label + 1).
int64_t CategoryId(const DetectionDataset& data, int label);

// The 20 PASCAL VOC classes in the standard (alphabetical) order.
const std::vector<std::string>& VocClassNames();

// COCO-style instances JSON (images / annotations / categories; bbox = [x, y, w, h]); image paths =
// image_root / file_name (file_name alone when image_root is empty or file_name is absolute). class_names
// are the categories sorted by id (COCO's 80 categories have ids 1..90 with gaps: label k is the k-th
// smallest id). Images keep the file's order and ids; boxes keep the annotations' order. `iscrowd` is
// optional (default 0); `area` and `segmentation` are not read (AP's area ranges use w * h). A file with
// no "annotations" array (COCO's test-dev image lists) gives images without boxes.
absl::StatusOr<DetectionDataset> ReadCocoJson(const std::string& json_path, const std::string& image_root);

// ReadCocoJson on the file's `text`, without checking that the image files exist (the only
// check it leaves out); errors name `source`.
absl::StatusOr<DetectionDataset> ParseCocoJson(absl::string_view text, absl::string_view source,
                                               const std::string& image_root);

// PASCAL VOC: voc_root holds Annotations/, JPEGImages/, ImageSets/Main/<split>.txt. VOC pixel coords are
// 1-based inclusive: x1 = xmin - 1, x2 = xmax. `difficult` objects are kept with crowd = true (ignored by
// AP, as the VOC metric ignores them); a missing <difficult> counts as 0. class_names: VocClassNames().
// Image ids are 1, 2, ... in the order of the split file; paths are JPEGImages/<name>.jpg.
absl::StatusOr<DetectionDataset> ReadVoc(const std::string& voc_root, const std::string& split);

// One VOC annotation XML, checked as ReadVoc checks it: width, height and boxes are set, and
// id and path are left for the caller. Errors name `source`.
absl::StatusOr<DetectionImage> ParseVocAnnotation(absl::string_view xml, absl::string_view source);

// Penn-Fudan through moco::ReadPennFudan (its fixed 120 / 50 split); one class, "person". Image ids are
// 1, 2, ... in the reader's (name) order.
absl::StatusOr<DetectionDataset> ReadPennFudanDetection(const std::string& root, PennFudanSplit split);

// Writes `data` as COCO instances JSON that ReadCocoJson reads back and pycocotools loads: category
// id = CategoryId(label), annotation ids 1, 2, ..., bbox = [x1, y1, x2 - x1, y2 - y1] computed in double (so
// x + w gives back x2 exactly), area = w * h, iscrowd = crowd, file_name = the image path.
absl::Status WriteCocoJson(const DetectionDataset& data, const std::string& path);

}  // namespace moco

#endif  // MOCO_EVAL_DETECTION_ANNOTATIONS_H_
