// ParsePennFudanAnnotation on arbitrary text: an error status is fine; a crash, a sanitizer
// report, or an accepted box outside its image is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "moco/data/pennfudan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<moco::PennFudanImage> image =
      moco::ParsePennFudanAnnotation(text, "fuzz.txt");
  if (!image.ok()) {
    if (!absl::StartsWith(image.status().message(), "fuzz.txt")) std::abort();
    return 0;
  }
  for (const moco::Box& box : image->boxes) {
    if (box.x1 < 0 || box.y1 < 0 || box.x2 > image->width || box.y2 > image->height) std::abort();
  }
  return 0;
}
