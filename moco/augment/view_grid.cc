#include "moco/augment/view_grid.h"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "moco/augment/image_ops.h"

namespace moco {
namespace {

constexpr uint8_t kBackground = 255;  // white between cells and around fitted originals
constexpr int64_t kMaxSide = 16384;

uint8_t ToByte(float x) {
  return static_cast<uint8_t>(std::lround(std::min(std::max(x, 0.0f), 1.0f) * 255.0f));
}

// Draws a planar image with values in [0, 1] (1 channel drawn as grey) into the RGB
// canvas with its top-left corner at (top, left), every pixel as a scale x scale block.
void Paste(const PlanarImage& cell, int scale, int64_t top, int64_t left, Image* canvas) {
  for (int y = 0; y < cell.height; ++y) {
    for (int x = 0; x < cell.width; ++x) {
      uint8_t rgb[3];
      for (int c = 0; c < 3; ++c) {
        rgb[c] = ToByte(cell.plane(cell.channels == 1 ? 0 : c)[y * cell.width + x]);
      }
      for (int dy = 0; dy < scale; ++dy) {
        uint8_t* row = canvas->pixels.data() +
                       ((top + y * scale + dy) * canvas->width + left + x * scale) * 3;
        for (int dx = 0; dx < scale; ++dx) std::memcpy(row + dx * 3, rgb, 3);
      }
    }
  }
}

}  // namespace

absl::StatusOr<Image> RenderViewGrid(const std::vector<Image>& images,
                                     const ViewGridOptions& options) {
  if (images.empty()) return absl::InvalidArgumentError("view grid: no images");
  if (options.pairs < 0 || options.scale < 0 || options.gap < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("view grid: pairs (", options.pairs, "), scale (", options.scale,
                     ") and gap (", options.gap, ") must be >= 0"));
  }
  for (size_t i = 0; i < images.size(); ++i) {
    const Image& image = images[i];
    if (absl::Status status =
            CheckAugmentArgs(image.height, image.width, image.channels, options.augment);
        !status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("view grid: image ", i, ": ", status.message()));
    }
    if (image.pixels.size() != image.num_bytes()) {
      return absl::InvalidArgumentError(absl::StrCat("view grid: image ", i, " has ",
                                                     image.pixels.size(), " bytes, expected ",
                                                     image.num_bytes()));
    }
  }

  const int size = options.augment.out_size;
  const int scale = options.scale > 0 ? options.scale : std::max(1, (128 + size - 1) / size);
  const int64_t cell = static_cast<int64_t>(size) * scale;
  const int64_t gap = options.gap;

  // Left edge of each column: the original, then each pair after an extra gap.
  std::vector<int64_t> column_left = {gap};
  int64_t x = gap + cell + gap;
  for (int p = 0; p < options.pairs; ++p) {
    x += gap;
    column_left.push_back(x);
    column_left.push_back(x + cell + gap);
    x += 2 * (cell + gap);
  }
  const int64_t rows = static_cast<int64_t>(images.size());
  const int64_t width = x;
  const int64_t height = gap + rows * (cell + gap);
  if (width > kMaxSide || height > kMaxSide) {
    return absl::InvalidArgumentError(
        absl::StrCat("view grid: the grid would be ", width, "x", height,
                     " pixels, more than ", kMaxSide, " a side; use fewer images, pairs "
                     "or a smaller scale"));
  }

  Image canvas;
  canvas.height = static_cast<int>(height);
  canvas.width = static_cast<int>(width);
  canvas.channels = 3;
  canvas.pixels.assign(canvas.num_bytes(), kBackground);

  OpsScratch scratch;
  std::vector<float> buffer(3 * static_cast<size_t>(size) * size);
  for (int64_t row = 0; row < rows; ++row) {
    const Image& image = images[row];
    const int64_t top = gap + row * (cell + gap);

    // The whole image, its longer side fitted to the cell, centred.
    int fit_height = size;
    int fit_width = size;
    if (image.height >= image.width) {
      fit_width = std::max(1, static_cast<int>(std::lround(
                                  static_cast<double>(size) * image.width / image.height)));
    } else {
      fit_height = std::max(1, static_cast<int>(std::lround(
                                   static_cast<double>(size) * image.height / image.width)));
    }
    const PlanarImage original{buffer.data(), image.channels, fit_height, fit_width};
    ResizeCrop(image.pixels.data(), image.height, image.width, image.channels,
               CropBox{0, 0, image.height, image.width}, /*flip=*/false, original, scratch);
    Paste(original, scale, top + (size - fit_height) / 2 * scale,
          column_left[0] + (size - fit_width) / 2 * scale, &canvas);

    // The views, de-normalised: x * stddev + mean.
    const int plane = size * size;
    for (int p = 0; p < options.pairs; ++p) {
      for (int view = 0; view < 2; ++view) {
        AugmentView(image.pixels.data(), image.height, image.width, image.channels,
                    options.augment, ViewSeed(options.seed, options.epoch + p, row, view),
                    buffer.data());
        for (int c = 0; c < 3; ++c) {
          float* values = buffer.data() + c * plane;
          for (int i = 0; i < plane; ++i) {
            values[i] = values[i] * options.augment.stddev[c] + options.augment.mean[c];
          }
        }
        Paste(PlanarImage{buffer.data(), 3, size, size}, scale, top,
              column_left[1 + 2 * p + view], &canvas);
      }
    }
  }
  return canvas;
}

absl::Status WritePng(const Image& image, const std::string& path) {
  if (image.channels != 1 && image.channels != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot write a ", image.channels, "-channel image as PNG"));
  }
  if (image.height < 1 || image.width < 1 || image.pixels.size() != image.num_bytes()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": image is ", image.height, "x", image.width, "x", image.channels,
                     " but holds ", image.pixels.size(), " bytes"));
  }
  // libpng's simplified API: no setjmp error handling to get wrong.
  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width);
  png.height = static_cast<png_uint_32>(image.height);
  png.format = image.channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  if (!png_image_write_to_file(&png, path.c_str(), /*convert_to_8bit=*/0,
                               image.pixels.data(), /*row_stride=*/0, /*colormap=*/nullptr)) {
    const std::string message = png.message;
    png_image_free(&png);
    return absl::UnknownError(absl::StrCat(path, ": cannot write PNG: ", message));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ListImageFiles(const std::string& dir,
                                                        int max_files) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    return absl::NotFoundError(absl::StrCat(dir, ": not a folder"));
  }
  std::vector<std::string> files;
  for (fs::recursive_directory_iterator it(dir, error), end; !error && it != end;
       it.increment(error)) {
    std::error_code file_error;
    if (!it->is_regular_file(file_error)) continue;
    const std::string extension = absl::AsciiStrToLower(it->path().extension().string());
    if (extension == ".png" || extension == ".jpg" || extension == ".jpeg") {
      files.push_back(it->path().string());
    }
  }
  if (error) {
    return absl::UnknownError(absl::StrCat(dir, ": cannot list: ", error.message()));
  }
  if (files.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": no .png, .jpg or .jpeg files"));
  }
  std::sort(files.begin(), files.end());
  if (max_files <= 0 || static_cast<int>(files.size()) <= max_files) return files;
  std::vector<std::string> spread;
  for (int i = 0; i < max_files; ++i) {
    spread.push_back(files[static_cast<size_t>(i) * files.size() / max_files]);
  }
  return spread;
}

}  // namespace moco
