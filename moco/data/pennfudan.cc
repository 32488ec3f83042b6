#include "moco/data/pennfudan.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "moco/common/status.h"
#include "moco/data/decode.h"

namespace moco {
namespace {

namespace fs = std::filesystem;

// 12 train then 5 test images in every 17: 120 / 50 of the 170 images.
constexpr int kSplitPeriod = 17;
constexpr int kTrainPerPeriod = 12;

absl::Status LineError(absl::string_view source, int line_number, absl::string_view what,
                       absl::string_view line) {
  return absl::InvalidArgumentError(
      absl::StrCat(source, ":", line_number, ": ", what, ": '", line, "'"));
}

// The text after the last " : ", where every annotation line keeps its value.
bool ValueOf(absl::string_view line, absl::string_view* value) {
  const size_t colon = line.rfind(" : ");
  if (colon == absl::string_view::npos) return false;
  *value = absl::StripAsciiWhitespace(line.substr(colon + 3));
  return true;
}

// The inside of a value written as "…" (a quoted path).
bool Unquote(absl::string_view value, std::string* out) {
  if (value.size() < 2 || value.front() != '"' || value.back() != '"') return false;
  *out = std::string(value.substr(1, value.size() - 2));
  return true;
}

// sscanf that must consume all of `text`; `format` ends in %n.
template <typename... Args>
bool ScanAll(absl::string_view text, const char* format, Args*... args) {
  const std::string copy(text);  // sscanf needs a terminating NUL
  int consumed = -1;
  const int fields = std::sscanf(copy.c_str(), format, args..., &consumed);
  return fields == static_cast<int>(sizeof...(Args)) && consumed == static_cast<int>(copy.size());
}

}  // namespace

absl::StatusOr<PennFudanImage> ParsePennFudanAnnotation(absl::string_view text,
                                                        absl::string_view source) {
  PennFudanImage image;
  int declared_objects = -1;
  int line_number = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_number;
    const absl::string_view line = absl::StripAsciiWhitespace(raw);  // also drops a '\r'
    if (line.empty() || line[0] == '#') continue;
    absl::string_view value;
    const bool has_value = ValueOf(line, &value);
    if (absl::StartsWith(line, "Image filename")) {
      if (!has_value || !Unquote(value, &image.image_path)) {
        return LineError(source, line_number, "cannot parse the image file name", line);
      }
    } else if (absl::StartsWith(line, "Image size")) {
      // A second size would apply to the boxes checked against the first.
      if (image.width != 0) return LineError(source, line_number, "a second image size", line);
      int channels = 0;
      if (!has_value ||
          !ScanAll(value, "%d x %d x %d%n", &image.width, &image.height, &channels) ||
          image.width <= 0 || image.height <= 0) {
        return LineError(source, line_number, "cannot parse the image size", line);
      }
    } else if (absl::StartsWith(line, "Objects with ground truth")) {
      // "2 { "PASpersonWalking" "PASpersonWalking" }": only the count matters.
      if (!has_value || std::sscanf(std::string(value).c_str(), "%d", &declared_objects) != 1 ||
          declared_objects < 0) {
        return LineError(source, line_number, "cannot parse the object count", line);
      }
    } else if (absl::StartsWith(line, "Bounding box for object")) {
      int object = 0;
      Box box;
      if (std::sscanf(std::string(line).c_str(), "Bounding box for object %d", &object) != 1 ||
          !has_value ||
          !ScanAll(value, "(%d, %d) - (%d, %d)%n", &box.x1, &box.y1, &box.x2, &box.y2)) {
        return LineError(source, line_number, "cannot parse the bounding box", line);
      }
      // Mask value k marks object k, so boxes[k - 1] must be object k.
      if (object != static_cast<int>(image.boxes.size()) + 1) {
        return LineError(source, line_number,
                         absl::StrCat("expected object ", image.boxes.size() + 1), line);
      }
      if (image.width == 0) {
        return LineError(source, line_number, "bounding box before the 'Image size' line", line);
      }
      // 1-based inclusive -> 0-based half-open: only the minima move.
      if (box.x1 < 1 || box.y1 < 1 || box.x1 > box.x2 || box.y1 > box.y2 ||
          box.x2 > image.width || box.y2 > image.height) {
        return LineError(source, line_number,
                         absl::StrCat("box is empty or outside the ", image.width, " x ",
                                      image.height, " image"),
                         line);
      }
      box.x1 -= 1;
      box.y1 -= 1;
      image.boxes.push_back(box);
    } else if (absl::StartsWith(line, "Pixel mask for object")) {
      std::string mask;
      if (!has_value || !Unquote(value, &mask)) {
        return LineError(source, line_number, "cannot parse the mask file name", line);
      }
      if (image.mask_path.empty()) image.mask_path = mask;
    }
  }
  if (image.image_path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": no 'Image filename' line"));
  }
  if (image.width == 0) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": no 'Image size' line"));
  }
  if (declared_objects != static_cast<int>(image.boxes.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": 'Objects with ground truth' declares ", declared_objects,
                     " objects but the file has ", image.boxes.size(), " bounding boxes"));
  }
  return image;
}

bool IsPennFudanTestIndex(int index) { return index % kSplitPeriod >= kTrainPerPeriod; }

absl::StatusOr<std::vector<PennFudanImage>> ReadPennFudan(const std::string& root,
                                                          PennFudanSplit split) {
  const std::string annotation_dir = root + "/Annotation";
  std::error_code error;
  if (!fs::is_directory(annotation_dir, error)) {
    return absl::NotFoundError(absl::StrCat(annotation_dir, ": no such folder"));
  }
  std::vector<std::string> names;
  for (fs::directory_iterator it(annotation_dir, error), end; !error && it != end;
       it.increment(error)) {
    const std::string file = it->path().filename().string();
    if (absl::EndsWith(file, ".txt")) names.push_back(file.substr(0, file.size() - 4));
  }
  if (error) {
    return absl::UnavailableError(
        absl::StrCat(annotation_dir, ": cannot list folder: ", error.message()));
  }
  if (names.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(annotation_dir, ": no .txt annotations"));
  }
  std::sort(names.begin(), names.end());

  std::vector<PennFudanImage> images;
  for (int i = 0; i < static_cast<int>(names.size()); ++i) {
    const bool test = IsPennFudanTestIndex(i);
    if ((split == PennFudanSplit::kTrain && test) || (split == PennFudanSplit::kTest && !test)) {
      continue;
    }
    const std::string annotation = absl::StrCat(annotation_dir, "/", names[i], ".txt");
    MOCO_ASSIGN_OR_RETURN(std::string text, ReadFile(annotation));
    MOCO_ASSIGN_OR_RETURN(PennFudanImage image, ParsePennFudanAnnotation(text, annotation));
    image.name = names[i];
    // The annotations name files relative to the dataset's parent folder; keep the names.
    image.image_path =
        absl::StrCat(root, "/PNGImages/", fs::path(image.image_path).filename().string());
    if (!image.mask_path.empty()) {
      image.mask_path =
          absl::StrCat(root, "/PedMasks/", fs::path(image.mask_path).filename().string());
    }
    if (!fs::exists(image.image_path, error)) {
      return absl::NotFoundError(
          absl::StrCat(annotation, ": names ", image.image_path, ", which does not exist"));
    }
    images.push_back(std::move(image));
  }
  return images;
}

}  // namespace moco
