// A picture of what an augmentation recipe does: a grid with one row per image, whose
// columns are the whole image (fitted into out_size x out_size, aspect kept) and then
// `pairs` pairs of random views (view 0 | view 1), de-normalised back to 8-bit RGB and
// enlarged by an integer factor so that 28-32 pixel images can be seen.
//
//   ViewGridOptions options;
//   options.augment.recipe = AugmentRecipe::kCifar;
//   options.augment.out_size = 32;
//   MOCO_ASSIGN_OR_RETURN(Image grid, RenderViewGrid(images, options));
//   MOCO_RETURN_IF_ERROR(WritePng(grid, "views.png"));
//
// The views are exactly those training would see for the same run seed: pair p of row i is
// AugmentView with ViewSeed(seed, epoch + p, i, 0 / 1).
#ifndef MOCO_AUGMENT_VIEW_GRID_H_
#define MOCO_AUGMENT_VIEW_GRID_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "moco/augment/augment.h"
#include "moco/data/image.h"

namespace moco {

struct ViewGridOptions {
  // Recipe, view size and normalisation of the views.
  AugmentOptions augment;
  // View pairs per image (columns after the first: 2 * pairs).
  int pairs = 2;
  // Run seed given to ViewSeed.
  uint64_t seed = 0;
  // Pair p shows the views of epoch + p.
  int64_t epoch = 0;
  // Each cell is enlarged this many times (nearest neighbour). 0: the smallest factor that
  // makes a cell at least 128 pixels wide (4 for 32x32 views, 1 for 224x224).
  int scale = 0;
  // Background pixels between cells; pairs get an extra gap before them.
  int gap = 4;
};

// The grid as one RGB image. InvalidArgument if `images` is empty, an image is not 1 or 3
// channels, the options are invalid (CheckAugmentArgs), or the grid would exceed 16384
// pixels a side.
absl::StatusOr<Image> RenderViewGrid(const std::vector<Image>& images,
                                     const ViewGridOptions& options);

// Writes an 8-bit gray (1 channel) or RGB (3 channels) image as a PNG file.
absl::Status WritePng(const Image& image, const std::string& path);

// Up to `max_files` image files (.png, .jpg, .jpeg, any case) under `dir`, searched
// recursively, spread evenly over the sorted list of all of them (so that an image-folder
// dataset shows several classes, not only the first). NotFound if `dir` is not a folder,
// InvalidArgument if it holds no image file.
absl::StatusOr<std::vector<std::string>> ListImageFiles(const std::string& dir, int max_files);

}  // namespace moco

#endif  // MOCO_AUGMENT_VIEW_GRID_H_
