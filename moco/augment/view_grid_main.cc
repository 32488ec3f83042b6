// Draws sample view pairs of an augmentation recipe into a PNG, one row per image.
//
//   bazel run //moco/augment:view_grid -- --recipe=cifar --output=views.png
//       --images=$HOME/.cache/moco-cpp/data/cifar10-jpeg/test
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "moco/augment/augment.h"
#include "moco/augment/view_grid.h"
#include "moco/common/paths.h"
#include "moco/common/status.h"
#include "moco/data/decode.h"

ABSL_FLAG(std::string, images, "",
          "Folder of .png / .jpg / .jpeg images, searched recursively (required).");
ABSL_FLAG(std::string, output, "view_grid.png", "PNG file to write.");
ABSL_FLAG(std::string, recipe, "v2", "Augmentation recipe: v1, v2 or cifar.");
ABSL_FLAG(int, out_size, 0, "Side of the views in pixels; 0: 32 for cifar, else 224.");
ABSL_FLAG(int, rows, 8, "Number of images (rows), spread over the sorted file list.");
ABSL_FLAG(int, pairs, 2, "View pairs per image.");
ABSL_FLAG(uint64_t, seed, 0, "Run seed, as in training.");
ABSL_FLAG(int64_t, epoch, 0, "Epoch of the first pair; pair p shows epoch + p.");
ABSL_FLAG(int, scale, 0, "Integer enlargement of each cell; 0: at least 128 pixels a cell.");

namespace moco {
namespace {

absl::Status Run() {
  const std::string recipe = absl::GetFlag(FLAGS_recipe);
  ViewGridOptions options;
  if (recipe == "v1") {
    options.augment.recipe = AugmentRecipe::kV1;
  } else if (recipe == "v2") {
    options.augment.recipe = AugmentRecipe::kV2;
  } else if (recipe == "cifar") {
    options.augment.recipe = AugmentRecipe::kCifar;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--recipe=", recipe, ": expected v1, v2 or cifar"));
  }
  const int out_size = absl::GetFlag(FLAGS_out_size);
  options.augment.out_size =
      out_size > 0 ? out_size : (options.augment.recipe == AugmentRecipe::kCifar ? 32 : 224);
  options.pairs = absl::GetFlag(FLAGS_pairs);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.epoch = absl::GetFlag(FLAGS_epoch);
  options.scale = absl::GetFlag(FLAGS_scale);

  if (absl::GetFlag(FLAGS_images).empty()) {
    return absl::InvalidArgumentError("--images is required (a folder of images)");
  }
  MOCO_ASSIGN_OR_RETURN(
      const std::vector<std::string> files,
      ListImageFiles(UserPath(absl::GetFlag(FLAGS_images)), absl::GetFlag(FLAGS_rows)));
  std::vector<Image> images;
  for (const std::string& file : files) {
    MOCO_ASSIGN_OR_RETURN(Image image, ReadImage(file));
    images.push_back(std::move(image));
  }
  MOCO_ASSIGN_OR_RETURN(const Image grid, RenderViewGrid(images, options));
  const std::string output = OutputPath(absl::GetFlag(FLAGS_output));
  MOCO_RETURN_IF_ERROR(WritePng(grid, output));
  std::cout << output << ": " << images.size() << " images x " << options.pairs
            << " view pairs, " << grid.width << "x" << grid.height << " pixels\n";
  return absl::OkStatus();
}

}  // namespace
}  // namespace moco

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Writes a PNG grid of augmented view pairs: per image, the whole image, then pairs of\n"
      "random views as training would see them.\n"
      "Usage: view_grid --images=FOLDER [--recipe=v1|v2|cifar] [--output=FILE.png]");
  absl::ParseCommandLine(argc, argv);
  if (absl::Status status = moco::Run(); !status.ok()) {
    std::cerr << "error: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
