#include "eval/detection/draw.h"

#include <png.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace moco {
namespace {

constexpr int kLineWidth = 2;
constexpr int kGap = 8;

int Round(float v) { return static_cast<int>(std::lround(v)); }

void FillRect(Image* image, int x_begin, int y_begin, int x_end, int y_end, Rgb color) {
  for (int y = std::max(0, y_begin); y < std::min(image->height, y_end); ++y) {
    for (int x = std::max(0, x_begin); x < std::min(image->width, x_end); ++x) {
      uint8_t* p = image->pixels.data() + (static_cast<size_t>(y) * image->width + x) * 3;
      p[0] = color.r;
      p[1] = color.g;
      p[2] = color.b;
    }
  }
}

}  // namespace

void DrawRectangle(Image* image, float x1, float y1, float x2, float y2, Rgb color, int thickness) {
  const int left = std::max(0, Round(x1)), top = std::max(0, Round(y1));
  const int right = std::min(image->width, Round(x2)), bottom = std::min(image->height, Round(y2));
  if (left >= right || top >= bottom || thickness < 1) return;
  FillRect(image, left, top, right, top + thickness, color);          // top edge
  FillRect(image, left, bottom - thickness, right, bottom, color);    // bottom edge
  FillRect(image, left, top, left + thickness, bottom, color);        // left edge
  FillRect(image, right - thickness, top, right, bottom, color);      // right edge
}

absl::StatusOr<Image> RenderDetections(const std::vector<AnnotatedImage>& images, float min_score, int columns) {
  if (images.empty()) return absl::InvalidArgumentError("RenderDetections: no images");
  if (columns < 1) return absl::InvalidArgumentError(absl::StrCat("RenderDetections: columns must be >= 1, got ", columns));
  int cell_w = 0, cell_h = 0;
  for (size_t i = 0; i < images.size(); ++i) {
    const Image& image = images[i].image;
    if (image.channels != 3 || image.pixels.size() != image.num_bytes()) {
      return absl::InvalidArgumentError(absl::StrCat("RenderDetections: image ", i, " is not RGB (", image.channels,
                                                     " channels, ", image.pixels.size(), " bytes for ", image.width,
                                                     " x ", image.height, ")"));
    }
    cell_w = std::max(cell_w, image.width);
    cell_h = std::max(cell_h, image.height);
  }
  const int n = static_cast<int>(images.size());
  const int cols = std::min(columns, n), rows = (n + cols - 1) / cols;
  Image grid;
  grid.width = cols * cell_w + (cols - 1) * kGap;
  grid.height = rows * cell_h + (rows - 1) * kGap;
  grid.channels = 3;
  grid.pixels.assign(grid.num_bytes(), 0);
  for (int i = 0; i < n; ++i) {
    Image drawn = images[i].image;
    for (const GroundTruthBox& box : images[i].truth) {
      DrawRectangle(&drawn, box.x1, box.y1, box.x2, box.y2, kGroundTruthColor, kLineWidth);
    }
    for (const Detection& box : images[i].predictions) {
      if (box.score >= min_score) DrawRectangle(&drawn, box.x1, box.y1, box.x2, box.y2, kPredictionColor, kLineWidth);
    }
    const int x0 = (i % cols) * (cell_w + kGap), y0 = (i / cols) * (cell_h + kGap);
    for (int y = 0; y < drawn.height; ++y) {
      std::copy_n(drawn.pixels.data() + static_cast<size_t>(y) * drawn.width * 3, drawn.width * 3,
                  grid.pixels.data() + (static_cast<size_t>(y0 + y) * grid.width + x0) * 3);
    }
  }
  return grid;
}

absl::Status WriteRgbPng(const Image& image, const std::string& path) {
  if (image.channels != 3 || image.pixels.size() != image.num_bytes() || image.width < 1 || image.height < 1) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": can only write a non-empty RGB image, got ", image.width,
                                                   " x ", image.height, " x ", image.channels));
  }
  png_image png = {};
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width);
  png.height = static_cast<png_uint_32>(image.height);
  png.format = PNG_FORMAT_RGB;
  if (!png_image_write_to_file(&png, path.c_str(), /*convert_to_8bit=*/0, image.pixels.data(), /*row_stride=*/0,
                               /*colormap=*/nullptr)) {
    const std::string message = png.message;
    png_image_free(&png);
    return absl::InternalError(absl::StrCat(path, ": cannot write PNG: ", message));
  }
  return absl::OkStatus();
}

}  // namespace moco
