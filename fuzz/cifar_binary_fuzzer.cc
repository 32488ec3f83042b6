// ParseCifar10Batch on arbitrary bytes: an error status is fine; a crash, a sanitizer report,
// or a result that breaks LabeledImages' invariants is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "moco/data/cifar_binary_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<moco::LabeledImages> images = moco::ParseCifar10Batch(bytes, "fuzz.bin");
  if (!images.ok()) {
    if (!absl::StartsWith(images.status().message(), "fuzz.bin")) std::abort();
    return 0;
  }
  if (images->size() * static_cast<size_t>(moco::kCifarRecordBytes) != size ||
      images->pixels.size() != images->size() * images->image_bytes()) {
    std::abort();
  }
  for (int label : images->labels) {
    if (label < 0 || label >= static_cast<int>(images->class_names.size())) std::abort();
  }
  return 0;
}
