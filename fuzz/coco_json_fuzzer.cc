// ParseCocoJson on arbitrary text: an error status is fine; a crash, a sanitizer report, an
// escaping exception, or an accepted box with a label outside class_names is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "eval/detection/annotations.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<moco::DetectionDataset> dataset =
      moco::ParseCocoJson(text, "fuzz.json", "images");
  if (!dataset.ok()) {
    if (!absl::StartsWith(dataset.status().message(), "fuzz.json")) std::abort();
    return 0;
  }
  for (const moco::DetectionImage& image : dataset->images) {
    for (const moco::GroundTruthBox& box : image.boxes) {
      if (box.label < 0 || box.label >= static_cast<int>(dataset->class_names.size())) std::abort();
      if (!(box.x2 > box.x1) || !(box.y2 > box.y1)) std::abort();
    }
  }
  return 0;
}
