// ParseVocAnnotation on arbitrary text: an error status is fine; a crash, a sanitizer report,
// an escaping exception, or an accepted empty box or unknown label is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "eval/detection/annotations.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view xml(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<moco::DetectionImage> image = moco::ParseVocAnnotation(xml, "fuzz.xml");
  if (!image.ok()) {
    if (!absl::StartsWith(image.status().message(), "fuzz.xml")) std::abort();
    return 0;
  }
  for (const moco::GroundTruthBox& box : image->boxes) {
    if (box.label < 0 || box.label >= static_cast<int>(moco::VocClassNames().size())) std::abort();
    if (!(box.x2 > box.x1) || !(box.y2 > box.y1)) std::abort();
  }
  return 0;
}
