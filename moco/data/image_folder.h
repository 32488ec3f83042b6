// Reading a dataset stored as one folder per class, torchvision's ImageFolder layout, in
// memory or streamed (images of any size):
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

#include <cstdint>
#include <functional>
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
  // False when root holds images and no class folders: one unlabeled set, its one "class"
  // named "(unlabeled)", every label 0.
  bool labeled = true;
};

// Lists `root`, keeping a subset of `max_images` files as described above (0: all), of the
// class folders named in `classes` only when it is not empty (ImageNet-100 from ImageNet).
// A folder holding images and no class folders lists as one unlabeled set (its files by name,
// the first `max_images` of them).
// Errors: NotFound if root does not exist, or a class of `classes` has no folder (named);
// FailedPrecondition if it is not a folder, holds neither class folders nor images, or a
// class folder holds no images (the error names that folder).
absl::StatusOr<ImageFolderIndex> ListImageFolder(const std::string& root, int max_images = 0,
                                                 const std::vector<std::string>& classes = {});

// How ReadImageFolder holds the images (data.cache).
enum class ImageCache {
  kAuto,      // in memory when all have one size and fit in kInMemoryBudgetBytes, else streamed
  kInMemory,  // decoded up front into one buffer; images of one size only
  kStream,    // listed only; LoadImage decodes each when needed
};
inline constexpr int64_t kInMemoryBudgetBytes = int64_t{4} << 30;  // 4 GiB decoded

struct ImageFolderOptions {
  // Read at most this many images, chosen as described above (0: all).
  int max_images = 0;
  // Decoding threads (0: as many as the machine has). The result does not depend on it.
  int threads = 0;
  ImageCache cache = ImageCache::kInMemory;
  // Keep only these class folders (empty: all).
  std::vector<std::string> classes;
  // Streamed: replace an image that cannot be decoded instead of failing (LoadImage). In
  // memory with kAuto, a bad image makes the set stream instead.
  bool skip_bad_images = false;
};

// Lists `root` and reads the chosen images as options.cache says. In memory, all images must
// have the size of the first one. Errors are ListImageFolder's, or (in memory) name the file
// that could not be read or decoded or has a different size; with several bad files, the one
// first in listing order is reported, whatever the thread count.
absl::StatusOr<LabeledImages> ReadImageFolder(const std::string& root,
                                              const ImageFolderOptions& options = {});

// One image's pixels, valid while its dataset and the scratch image it may point into live.
struct ImageRef {
  const uint8_t* pixels = nullptr;  // height x width x channels, HWC
  int height = 0;
  int width = 0;
  int channels = 0;
};

// Image `i` of `data`: in memory, a view of its slot; streamed, decoded (exactly, as PIL) from
// data.files[i] into *scratch. A file that cannot be read or decoded is an error naming it
// (with a hint at data.on_bad_image), unless data.skip_bad_images: then the next image of the
// same class in listing order (wrapping) that decodes takes its place, the same one every time,
// and the file is added to data.skipped.
absl::StatusOr<ImageRef> LoadImage(const LabeledImages& data, int64_t i, Image* scratch);

// Chooses the JPEG decode scale (1, 2, 4 or 8) from an image's full height and width.
using DecodeScaleFn = std::function<int(int height, int width)>;

// LoadImage, but a streamed JPEG is decoded at 1/scale of its size in the DCT domain
// (DecodeImageScaled), scale = choose(its height, its width) as its header gives them: the
// ImageRef has the decoded size. PNGs, and images in memory, are as LoadImage gives them.
absl::StatusOr<ImageRef> LoadImageScaled(const LabeledImages& data, int64_t i, Image* scratch,
                                         const DecodeScaleFn& choose);

// Reads a class list: one class folder name per line; blank lines and '#' comments ignored.
// Errors name the file (and line for a name with a '/' or spaces).
absl::StatusOr<std::vector<std::string>> ReadClassList(const std::string& path);

}  // namespace moco

#endif  // MOCO_DATA_IMAGE_FOLDER_H_
