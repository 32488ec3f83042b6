// ParseIdxImages and ParseIdxLabels on arbitrary bytes, reading all and reading a prefix. An
// error status is fine; a crash, a sanitizer report, or a result whose buffer disagrees with
// its header is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "moco/data/idx_reader.h"

namespace {

constexpr absl::string_view kSource = "fuzz.idx";

void CheckError(const absl::Status& status) {
  if (!absl::StartsWith(status.message(), kSource)) std::abort();
}

void FuzzImages(absl::string_view bytes, int max_images) {
  const absl::StatusOr<moco::IdxImages> images = moco::ParseIdxImages(bytes, kSource, max_images);
  if (!images.ok()) return CheckError(images.status());
  const size_t count = max_images == 0 || max_images > images->count_in_file
                           ? images->count_in_file
                           : max_images;
  if (images->pixels.size() != count * images->rows * images->cols) std::abort();
}

void FuzzLabels(absl::string_view bytes, int max_labels) {
  const absl::StatusOr<moco::IdxLabels> labels = moco::ParseIdxLabels(bytes, kSource, max_labels);
  if (!labels.ok()) return CheckError(labels.status());
  const size_t count = max_labels == 0 || max_labels > labels->count_in_file
                           ? labels->count_in_file
                           : max_labels;
  if (labels->labels.size() != count) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (int max : {0, 1}) {
    FuzzImages(bytes, max);
    FuzzLabels(bytes, max);
  }
  return 0;
}
