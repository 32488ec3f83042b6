// Pictures of detections: images with their ground-truth boxes (green) and a detector's boxes
// (red) drawn as outlines, laid out in a grid, written as a PNG.
//
//   std::vector<AnnotatedImage> shown = {{image, dataset.images[0].boxes, detections_of_image_0}};
//   MOCO_ASSIGN_OR_RETURN(Image grid, RenderDetections(shown, /*min_score=*/0.5f, /*columns=*/4));
//   MOCO_RETURN_IF_ERROR(WriteRgbPng(grid, "detections.png"));
#ifndef MOCO_EVAL_DETECTION_DRAW_H_
#define MOCO_EVAL_DETECTION_DRAW_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "eval/detection/annotations.h"
#include "eval/detection/coco_eval.h"
#include "moco/data/image.h"

namespace moco {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};
inline constexpr Rgb kGroundTruthColor{0, 255, 0};
inline constexpr Rgb kPredictionColor{255, 0, 0};

// Draws the outline of a box in continuous pixel coordinates onto an RGB image: the box covers
// the pixel columns round(x1) .. round(x2) - 1 and rows round(y1) .. round(y2) - 1 (clipped to
// the image); the outline is the `thickness` outermost of them on each side. A box that covers
// no pixel draws nothing.
void DrawRectangle(Image* image, float x1, float y1, float x2, float y2, Rgb color, int thickness);

// One image to show, in its own pixel coordinates.
struct AnnotatedImage {
  Image image;  // RGB
  std::vector<GroundTruthBox> truth;
  std::vector<Detection> predictions;
};

// Draws every image's ground truth (green), then its predictions with score >= min_score
// (red), both 2 px wide, and lays the images out row by row, `columns` to a row, top-left
// aligned in cells as large as the largest image, 8 px of black between cells.
// InvalidArgument if `images` is empty, an image is not RGB, or columns < 1.
absl::StatusOr<Image> RenderDetections(const std::vector<AnnotatedImage>& images, float min_score, int columns);

// Writes an RGB image as an 8-bit PNG file; errors name `path`.
absl::Status WriteRgbPng(const Image& image, const std::string& path);

}  // namespace moco

#endif  // MOCO_EVAL_DETECTION_DRAW_H_
