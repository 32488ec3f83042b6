// Reading the Penn-Fudan pedestrian dataset (170 images, 423 pedestrians), the detection
// benchmark here: its PASCAL-style annotation files, and a fixed train/test split.
//
//   MOCO_ASSIGN_OR_RETURN(std::vector<PennFudanImage> train,
//                         ReadPennFudan(DataPath("pennfudan/PennFudanPed"),
//                                       PennFudanSplit::kTrain));
//   MOCO_ASSIGN_OR_RETURN(Image image, ReadImage(train[0].image_path));
//   for (const Box& box : train[0].boxes) { /* box.x2 - box.x1 is the width in pixels */ }
//
// `root` is the unpacked PennFudanPed/ folder: Annotation/<name>.txt, PNGImages/<name>.png
// and PedMasks/<name>_mask.png (mask value k marks the pixels of object k).
//
// Box convention: the annotations give 1-based, inclusive corners (Xmin, Ymin) - (Xmax,
// Ymax), top-left pixel (1, 1). Boxes here are 0-based and half-open, the convention of
// array indexing: x1 = Xmin - 1, y1 = Ymin - 1, x2 = Xmax, y2 = Ymax, so the box covers
// pixels x1 <= x < x2, y1 <= y < y2. (torchvision's x2, y2 in its detection tutorial are the
// inclusive 0-based maxima, one less.)
//
// Split: images are sorted by name (FudanPed00001..00074, then PennPed00001..00096); of
// every 17 consecutive images the first 12 are train and the last 5 are test, giving
// 120 train and 50 test images. Interleaving (rather than taking the last 50, which are all
// Penn images) puts both the Fudan and the Penn photographs in both splits.
#ifndef MOCO_DATA_PENNFUDAN_H_
#define MOCO_DATA_PENNFUDAN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace moco {

// An axis-aligned box, 0-based and half-open (see above).
struct Box {
  int x1 = 0;
  int y1 = 0;
  int x2 = 0;
  int y2 = 0;
};

inline bool operator==(const Box& a, const Box& b) {
  return a.x1 == b.x1 && a.y1 == b.y1 && a.x2 == b.x2 && a.y2 == b.y2;
}

// One annotated image.
struct PennFudanImage {
  std::string name;        // "FudanPed00001"
  std::string image_path;  // the PNG
  std::string mask_path;   // the instance mask PNG; empty if the annotation names none
  int width = 0;           // from the annotation's "Image size" line
  int height = 0;
  std::vector<Box> boxes;  // boxes[k] is object k + 1 (mask value k + 1)
};

enum class PennFudanSplit { kAll, kTrain, kTest };

// Parses one annotation file's text. image_path and mask_path are as written in the file
// (for example "PennFudanPed/PNGImages/FudanPed00001.png"); `name` is left empty. Errors
// (InvalidArgument) start with "source:line:" and quote the offending line; boxes must lie
// inside the image and match the declared object count.
absl::StatusOr<PennFudanImage> ParsePennFudanAnnotation(absl::string_view text,
                                                        absl::string_view source);

// Whether the image at `index` in name order belongs to the test split.
bool IsPennFudanTestIndex(int index);

// Reads every root/Annotation/*.txt (sorted by name) and keeps the images of `split`.
// image_path and mask_path point into root/PNGImages and root/PedMasks, and the image must
// exist. Errors name the annotation file (and line); NotFound if root/Annotation is missing.
absl::StatusOr<std::vector<PennFudanImage>> ReadPennFudan(const std::string& root,
                                                          PennFudanSplit split);

}  // namespace moco

#endif  // MOCO_DATA_PENNFUDAN_H_
