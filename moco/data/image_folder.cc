#include "moco/data/image_folder.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "moco/common/parallel.h"
#include "moco/common/status.h"
#include "moco/data/decode.h"

namespace moco {
namespace {

namespace fs = std::filesystem;

bool IsImageFile(const std::string& name) {
  return absl::EndsWithIgnoreCase(name, ".jpg") || absl::EndsWithIgnoreCase(name, ".jpeg") ||
         absl::EndsWithIgnoreCase(name, ".png");
}

// Names of the entries of `dir` that `keep` accepts, sorted.
absl::StatusOr<std::vector<std::string>> SortedEntries(
    const fs::path& dir, const std::function<bool(const fs::directory_entry&)>& keep) {
  std::error_code error;
  fs::directory_iterator it(dir, error);
  if (error) {
    return absl::UnavailableError(
        absl::StrCat(dir.string(), ": cannot list folder: ", error.message()));
  }
  std::vector<std::string> names;
  for (; it != fs::directory_iterator(); it.increment(error)) {
    if (error) break;
    if (keep(*it)) names.push_back(it->path().filename().string());
  }
  if (error) {
    return absl::UnavailableError(
        absl::StrCat(dir.string(), ": cannot list folder: ", error.message()));
  }
  std::sort(names.begin(), names.end());
  return names;
}

// How many files each class keeps so that `max_images` are taken round-robin over classes.
std::vector<size_t> RoundRobinCounts(const std::vector<size_t>& class_sizes, size_t max_images) {
  std::vector<size_t> take(class_sizes.size(), 0);
  size_t taken = 0;
  bool any_left = true;
  while (taken < max_images && any_left) {
    any_left = false;
    for (size_t c = 0; c < class_sizes.size() && taken < max_images; ++c) {
      if (take[c] < class_sizes[c]) {
        ++take[c];
        ++taken;
        any_left = true;
      }
    }
  }
  return take;
}


}  // namespace

absl::StatusOr<ImageFolderIndex> ListImageFolder(const std::string& root, int max_images) {
  if (max_images < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(root, ": max_images must be >= 0, got ", max_images));
  }
  std::error_code error;
  if (!fs::exists(root, error)) {
    return absl::NotFoundError(absl::StrCat(root, ": no such folder"));
  }
  if (!fs::is_directory(root, error)) {
    return absl::FailedPreconditionError(absl::StrCat(root, ": not a folder"));
  }
  ImageFolderIndex index;
  MOCO_ASSIGN_OR_RETURN(index.class_names,
                        SortedEntries(root, [](const fs::directory_entry& entry) {
                          std::error_code ignored;
                          return entry.is_directory(ignored) &&
                                 entry.path().filename().string()[0] != '.';
                        }));
  if (index.class_names.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(root, ": no class folders (expected ", root, "/<class>/<image>.jpg)"));
  }
  std::vector<std::vector<std::string>> files(index.class_names.size());
  std::vector<size_t> class_sizes;
  for (size_t c = 0; c < index.class_names.size(); ++c) {
    const std::string class_dir = absl::StrCat(root, "/", index.class_names[c]);
    MOCO_ASSIGN_OR_RETURN(files[c], SortedEntries(class_dir, [](const fs::directory_entry& e) {
                            // Not only regular files: an image that vanished after it was listed
                            // (a dangling link) must fail its read, naming it, not shrink the
                            // dataset without a word.
                            std::error_code ignored;
                            return !e.is_directory(ignored) && IsImageFile(e.path().filename().string());
                          }));
    if (files[c].empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(class_dir, ": class folder holds no .jpg, .jpeg or .png files"));
    }
    class_sizes.push_back(files[c].size());
  }
  std::vector<size_t> take = class_sizes;
  if (max_images > 0) take = RoundRobinCounts(class_sizes, max_images);
  for (size_t c = 0; c < files.size(); ++c) {
    for (size_t i = 0; i < take[c]; ++i) {
      index.paths.push_back(absl::StrCat(root, "/", index.class_names[c], "/", files[c][i]));
      index.labels.push_back(static_cast<int>(c));
    }
  }
  return index;
}

absl::StatusOr<LabeledImages> ReadImageFolder(const std::string& root,
                                              const ImageFolderOptions& options) {
  if (options.threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(root, ": threads must be >= 0, got ", options.threads));
  }
  MOCO_ASSIGN_OR_RETURN(ImageFolderIndex index, ListImageFolder(root, options.max_images));

  // The first image fixes the size all others must have, and so the buffer's size.
  MOCO_ASSIGN_OR_RETURN(Image first, ReadImage(index.paths[0]));
  LabeledImages result;
  result.height = first.height;
  result.width = first.width;
  result.channels = first.channels;
  result.pixels.resize(index.paths.size() * result.image_bytes());
  result.labels = std::move(index.labels);
  result.class_names = std::move(index.class_names);
  std::memcpy(result.pixels.data(), first.pixels.data(), first.num_bytes());

  MOCO_RETURN_IF_ERROR(ParallelForUntilError(index.paths.size() - 1, options.threads, [&](int64_t i) -> absl::Status {
    const std::string& path = index.paths[i + 1];
    MOCO_ASSIGN_OR_RETURN(Image image, ReadImage(path));
    if (image.height != result.height || image.width != result.width ||
        image.channels != result.channels) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, ": image is ", image.height, " x ", image.width, " x ", image.channels,
          " but ", index.paths[0], " is ", result.height, " x ", result.width, " x ",
          result.channels, "; ReadImageFolder needs images of one size (ListImageFolder "
          "lists mixed-size folders for lazy decoding)"));
    }
    // Each i writes only its own slot, so no lock is needed.
    std::memcpy(result.pixels.data() + (i + 1) * result.image_bytes(), image.pixels.data(),
                image.num_bytes());
    return absl::OkStatus();
  }));
  return result;
}

}  // namespace moco
