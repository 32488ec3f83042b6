// Reading the idx format of MNIST and Fashion-MNIST: idx3-ubyte image files and idx1-ubyte
// label files, gzipped (as distributed) or plain. Both are read through zlib's gzread,
// which passes plain files through unchanged.
//
//   MOCO_ASSIGN_OR_RETURN(LabeledImages train,
//                         ReadFashionMnist("/usr/share/datasets/fashion-mnist",
//                                          /*train=*/true, /*max_images=*/0));
//   // train.size() == 60000; 28 x 28 x 1; train.labels[0] == 9 ("Ankle boot").
//
// The format: a big-endian uint32 magic (0x00000803 for images, 0x00000801 for labels),
// one big-endian uint32 per dimension, then the data as unsigned bytes, row-major.
#ifndef MOCO_DATA_IDX_READER_H_
#define MOCO_DATA_IDX_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "moco/data/image.h"

namespace moco {

inline constexpr uint32_t kIdxImagesMagic = 0x00000803;  // ubyte, 3 dimensions
inline constexpr uint32_t kIdxLabelsMagic = 0x00000801;  // ubyte, 1 dimension

// The images of an idx3-ubyte file, or its first ones.
struct IdxImages {
  int count_in_file = 0;        // images the header declares
  int rows = 0;
  int cols = 0;
  std::vector<uint8_t> pixels;  // the images read: n x rows x cols
};

// The labels of an idx1-ubyte file, or its first ones.
struct IdxLabels {
  int count_in_file = 0;        // labels the header declares
  std::vector<uint8_t> labels;  // the labels read
};

// Reads the first `max_images` images (0: all). Errors name `path`: NotFound for a missing
// file; DataLoss for a wrong magic number, a truncated file, data after the declared images
// (when reading all) or a damaged gzip stream.
absl::StatusOr<IdxImages> ReadIdxImages(const std::string& path, int max_images = 0);

// Reads the first `max_labels` labels (0: all), with the same checks as ReadIdxImages.
absl::StatusOr<IdxLabels> ReadIdxLabels(const std::string& path, int max_labels = 0);

// The same checks on the uncompressed contents of an idx file held in memory; errors name
// `source`.
absl::StatusOr<IdxImages> ParseIdxImages(absl::string_view bytes, absl::string_view source,
                                         int max_images = 0);
absl::StatusOr<IdxLabels> ParseIdxLabels(absl::string_view bytes, absl::string_view source,
                                         int max_labels = 0);

// The Fashion-MNIST class names, in label order.
const std::vector<std::string>& FashionMnistClassNames();

// Reads Fashion-MNIST's train (60000) or test (10000) split from `root`, which holds
// {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (or the same names without .gz).
// Images are 28 x 28 x 1. `max_images` > 0 keeps the first max_images images in file order
// (the files interleave the classes, so a prefix is roughly class-balanced); 0 keeps all.
// Besides the file checks above, the image and label counts must match and labels must be
// below 10; errors name the file at fault.
absl::StatusOr<LabeledImages> ReadFashionMnist(const std::string& root, bool train,
                                               int max_images = 0);

}  // namespace moco

#endif  // MOCO_DATA_IDX_READER_H_
