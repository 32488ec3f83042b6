// Reading CIFAR-10 in its official binary format (cifar-10-binary.tar.gz from the authors'
// site, unpacked as cifar-10-batches-bin/): data_batch_1.bin .. data_batch_5.bin (10000
// images each) for training and test_batch.bin (10000) for testing.
//
//   MOCO_ASSIGN_OR_RETURN(LabeledImages train,
//                         ReadCifar10Binary(DataPath("cifar-10-batches-bin"), /*train=*/true));
//   // train.size() == 50000; 32 x 32 x 3, HWC like every LabeledImages.
//
// Each file is a sequence of 3073-byte records: one label byte (0-9), then the 32 x 32 image
// as three 1024-byte planes, R then G then B, each row-major. The reader converts the
// planes to HWC. The label order (airplane, automobile, bird, cat, deer, dog, frog, horse,
// ship, truck) is also alphabetical, so labels agree with ReadImageFolder on the JPEG copy.
#ifndef MOCO_DATA_CIFAR_BINARY_READER_H_
#define MOCO_DATA_CIFAR_BINARY_READER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "moco/data/image.h"

namespace moco {

inline constexpr int kCifarSide = 32;
inline constexpr int kCifarImageBytes = 3 * kCifarSide * kCifarSide;  // 3072
inline constexpr int kCifarRecordBytes = 1 + kCifarImageBytes;        // 3073

// The CIFAR-10 class names, in label order.
const std::vector<std::string>& Cifar10ClassNames();

// Reads every record of one batch file. Errors name `path`: NotFound if it is missing;
// DataLoss if it is empty, its size is not a multiple of 3073, or a label is 10 or more.
absl::StatusOr<LabeledImages> ReadCifar10BinaryFile(const std::string& path);

// The same checks on the contents of a batch file held in memory; errors name `source`.
absl::StatusOr<LabeledImages> ParseCifar10Batch(absl::string_view bytes,
                                                absl::string_view source);

// Reads the train (data_batch_1..5.bin, in that order) or test (test_batch.bin) split from
// `root`. `max_images` > 0 keeps the first max_images records in that order, and reads no
// batch file beyond them; 0 keeps all.
absl::StatusOr<LabeledImages> ReadCifar10Binary(const std::string& root, bool train,
                                                int max_images = 0);

}  // namespace moco

#endif  // MOCO_DATA_CIFAR_BINARY_READER_H_
