// Reading a dataset stored as one folder per class, torchvision's ImageFolder layout:
//
//   root/airplane/0000.jpg
//   root/airplane/0001.jpg
//   ...
//   root/truck/4999.jpg
//
//   ImageFolderOptions options;
//   options.max_images = 5000;  // a class-balanced subset; 0 reads everything
//   MOCO_ASSIGN_OR_RETURN(LabeledImages train,
//                         ReadImageFolder(DataPath("cifar10-jpeg/train"), options));
//
// Classes are the sub-folders of root sorted by name (byte order, as Python's sorted()),
// and label i is the i-th class, as in torchvision. Within a class, files ending in .jpg,
// .jpeg or .png (any case) are taken sorted by name; other files, files below the class
// folder's own level, and folders whose names start with '.' are ignored.
//
// The subset for max_images is deterministic and class-balanced: classes take turns giving
// their next file (round-robin), so each class keeps its first files by name and class
// sizes differ by at most one (unless a class runs out of files). The result keeps the
// full listing's order: by class, then by name.
#ifndef MOCO_DATA_IMAGE_FOLDER_H_
#define MOCO_DATA_IMAGE_FOLDER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "moco/data/image.h"

namespace moco {

// The files of an image folder, not yet decoded (for datasets read lazily, or whose images
// differ in size).
struct ImageFolderIndex {
  std::vector<std::string> class_names;  // label -> sub-folder name, sorted
  std::vector<std::string> paths;        // root/<class>/<file>, by class then by name
  std::vector<int> labels;               // one per path
};

// Lists `root`, keeping a subset of `max_images` files as described above (0: all).
// Errors: NotFound if root does not exist; FailedPrecondition if it is not a folder, holds
// no class folders, or a class folder holds no images (the error names that folder).
absl::StatusOr<ImageFolderIndex> ListImageFolder(const std::string& root, int max_images = 0);

struct ImageFolderOptions {
  // Read at most this many images, chosen as described above (0: all).
  int max_images = 0;
  // Decoding threads (0: as many as the machine has). The result does not depend on it.
  int threads = 0;
};

// Lists `root` and decodes the chosen images into one LabeledImages. All images must have
// the size of the first one. Errors are ListImageFolder's, or name the file that could not
// be read or decoded or has a different size; with several bad files, the one first in
// listing order is reported, whatever the thread count.
absl::StatusOr<LabeledImages> ReadImageFolder(const std::string& root,
                                              const ImageFolderOptions& options = {});

}  // namespace moco

#endif  // MOCO_DATA_IMAGE_FOLDER_H_
