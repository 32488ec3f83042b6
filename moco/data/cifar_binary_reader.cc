#include "moco/data/cifar_binary_reader.h"

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "moco/common/status.h"
#include "moco/data/decode.h"

namespace moco {
namespace {

constexpr int kPlaneBytes = kCifarSide * kCifarSide;  // one colour channel

// Appends the first `max_records` records of the batch `bytes` (0: all) to `out`; errors
// name `path`.
absl::Status AppendBatch(absl::string_view bytes, absl::string_view path, int max_records,
                         LabeledImages* out) {
  if (bytes.empty()) return absl::DataLossError(absl::StrCat(path, ": file is empty"));
  if (bytes.size() % kCifarRecordBytes != 0) {
    return absl::DataLossError(absl::StrCat(
        path, ": size ", bytes.size(), " is not a multiple of ", kCifarRecordBytes,
        " (1 label byte + 3072 pixel bytes per image); truncated or not a CIFAR-10 batch"));
  }
  int records = static_cast<int>(bytes.size() / kCifarRecordBytes);
  if (max_records > 0 && max_records < records) records = max_records;
  const int num_classes = static_cast<int>(Cifar10ClassNames().size());

  const size_t first = out->pixels.size();
  out->pixels.resize(first + static_cast<size_t>(records) * kCifarImageBytes);
  out->labels.reserve(out->labels.size() + records);
  for (int r = 0; r < records; ++r) {
    const auto* record = reinterpret_cast<const uint8_t*>(bytes.data()) +
                         static_cast<size_t>(r) * kCifarRecordBytes;
    const int label = record[0];
    if (label >= num_classes) {
      return absl::DataLossError(absl::StrCat(path, ": record ", r, " has label ", label,
                                              ", out of range [0, ", num_classes, ")"));
    }
    out->labels.push_back(label);
    // CHW planes -> HWC: pixel p's channel c is at plane offset c * 1024 + p.
    const uint8_t* planes = record + 1;
    uint8_t* hwc = out->pixels.data() + first + static_cast<size_t>(r) * kCifarImageBytes;
    for (int p = 0; p < kPlaneBytes; ++p) {
      for (int c = 0; c < 3; ++c) hwc[p * 3 + c] = planes[c * kPlaneBytes + p];
    }
  }
  return absl::OkStatus();
}

// Appends the first `max_records` records of `path` (0: all) to `out`.
absl::Status AppendBatchFile(const std::string& path, int max_records, LabeledImages* out) {
  MOCO_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return AppendBatch(bytes, path, max_records, out);
}

LabeledImages EmptyCifar() {
  LabeledImages images;
  images.height = kCifarSide;
  images.width = kCifarSide;
  images.channels = 3;
  images.class_names = Cifar10ClassNames();
  return images;
}

}  // namespace

const std::vector<std::string>& Cifar10ClassNames() {
  static const auto* names =
      new std::vector<std::string>{"airplane", "automobile", "bird",  "cat",  "deer",
                                   "dog",      "frog",       "horse", "ship", "truck"};
  return *names;
}

absl::StatusOr<LabeledImages> ReadCifar10BinaryFile(const std::string& path) {
  LabeledImages images = EmptyCifar();
  MOCO_RETURN_IF_ERROR(AppendBatchFile(path, 0, &images));
  return images;
}

absl::StatusOr<LabeledImages> ParseCifar10Batch(absl::string_view bytes,
                                                absl::string_view source) {
  LabeledImages images = EmptyCifar();
  MOCO_RETURN_IF_ERROR(AppendBatch(bytes, source, 0, &images));
  return images;
}

absl::StatusOr<LabeledImages> ReadCifar10Binary(const std::string& root, bool train,
                                                int max_images) {
  if (max_images < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(root, ": max_images must be >= 0, got ", max_images));
  }
  std::vector<std::string> files;
  if (train) {
    for (int i = 1; i <= 5; ++i) files.push_back(absl::StrCat(root, "/data_batch_", i, ".bin"));
  } else {
    files.push_back(absl::StrCat(root, "/test_batch.bin"));
  }
  LabeledImages images = EmptyCifar();
  for (const std::string& file : files) {
    const int wanted = max_images == 0 ? 0 : max_images - images.size();
    MOCO_RETURN_IF_ERROR(AppendBatchFile(file, wanted, &images));
    if (max_images > 0 && images.size() >= max_images) break;
  }
  return images;
}

}  // namespace moco
