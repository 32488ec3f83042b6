// DecodePng on arbitrary bytes: an error status is fine; a crash, a sanitizer report, or a
// decoded image whose buffer disagrees with its size is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "moco/data/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<moco::Image> image = moco::DecodePng(bytes, "fuzz.png");
  if (!image.ok()) {
    if (!absl::StartsWith(image.status().message(), "fuzz.png")) std::abort();
    return 0;
  }
  if (image->channels != 3 || image->width <= 0 || image->height <= 0 ||
      image->pixels.size() != image->num_bytes()) {
    std::abort();
  }
  return 0;
}
