#include "moco/data/image_folder.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/ascii.h"
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

absl::StatusOr<ImageFolderIndex> ListImageFolder(const std::string& root, int max_images,
                                                 const std::vector<std::string>& classes) {
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
  auto image_files = [](const fs::directory_entry& e) {
    // Not only regular files: an image that vanished after it was listed (a dangling link)
    // must fail its read, naming it, not shrink the dataset without a word.
    std::error_code ignored;
    return !e.is_directory(ignored) && IsImageFile(e.path().filename().string());
  };
  ImageFolderIndex index;
  MOCO_ASSIGN_OR_RETURN(index.class_names,
                        SortedEntries(root, [](const fs::directory_entry& entry) {
                          std::error_code ignored;
                          return entry.is_directory(ignored) &&
                                 entry.path().filename().string()[0] != '.';
                        }));
  if (index.class_names.empty()) {
    // A folder of images without class folders: one unlabeled set.
    MOCO_ASSIGN_OR_RETURN(std::vector<std::string> files, SortedEntries(root, image_files));
    if (files.empty() || !classes.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          root, ": no class folders (expected ", root, "/<class>/<image>.jpg)",
          files.empty() ? " and no .jpg, .jpeg or .png files" : "; data.class_list needs class folders"));
    }
    if (max_images > 0 && files.size() > static_cast<size_t>(max_images)) files.resize(max_images);
    index.labeled = false;
    index.class_names = {"(unlabeled)"};
    for (const std::string& file : files) {
      index.paths.push_back(absl::StrCat(root, "/", file));
      index.labels.push_back(0);
    }
    return index;
  }
  if (!classes.empty()) {
    for (const std::string& name : classes) {
      if (!std::binary_search(index.class_names.begin(), index.class_names.end(), name)) {
        return absl::NotFoundError(absl::StrCat(root, ": no folder for class '", name, "' of the class list"));
      }
    }
    std::vector<std::string> kept = classes;
    std::sort(kept.begin(), kept.end());
    kept.erase(std::unique(kept.begin(), kept.end()), kept.end());
    index.class_names = std::move(kept);
  }
  std::vector<std::vector<std::string>> files(index.class_names.size());
  std::vector<size_t> class_sizes;
  for (size_t c = 0; c < index.class_names.size(); ++c) {
    const std::string class_dir = absl::StrCat(root, "/", index.class_names[c]);
    MOCO_ASSIGN_OR_RETURN(files[c], SortedEntries(class_dir, image_files));
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

namespace {

LabeledImages Streamed(ImageFolderIndex index, bool skip_bad_images) {
  LabeledImages result;
  result.files = std::move(index.paths);
  result.labels = std::move(index.labels);
  result.class_names = std::move(index.class_names);
  result.labeled = index.labeled;
  result.skip_bad_images = skip_bad_images;
  return result;
}

// Decodes every listed image into one buffer. With `or_stream` (kAuto), an image of another
// size, or (skipping bad images) one that cannot be decoded, returns nullopt: the set streams.
absl::StatusOr<std::optional<LabeledImages>> DecodeAll(const ImageFolderIndex& index, int threads,
                                                       bool or_stream, bool skip_bad_images) {
  // The first image fixes the size all others must have, and so the buffer's size.
  absl::StatusOr<Image> first = ReadImage(index.paths[0]);
  if (!first.ok()) {
    if (or_stream && skip_bad_images) return std::nullopt;
    return first.status();
  }
  LabeledImages result;
  result.height = first->height;
  result.width = first->width;
  result.channels = first->channels;
  if (or_stream && static_cast<int64_t>(index.paths.size() * result.image_bytes()) > kInMemoryBudgetBytes) {
    return std::nullopt;
  }
  result.pixels.resize(index.paths.size() * result.image_bytes());
  result.labels = index.labels;
  result.class_names = index.class_names;
  result.labeled = index.labeled;
  std::memcpy(result.pixels.data(), first->pixels.data(), first->num_bytes());

  std::atomic<bool> stream{false};
  const absl::Status decoded = ParallelForUntilError(index.paths.size() - 1, threads, [&](int64_t i) -> absl::Status {
    const std::string& path = index.paths[i + 1];
    absl::StatusOr<Image> image = ReadImage(path);
    if (!image.ok()) {
      if (or_stream && skip_bad_images) stream = true;
      return image.status();
    }
    if (image->height != result.height || image->width != result.width || image->channels != result.channels) {
      if (or_stream) stream = true;
      return absl::FailedPreconditionError(absl::StrCat(
          path, ": image is ", image->height, " x ", image->width, " x ", image->channels,
          " but ", index.paths[0], " is ", result.height, " x ", result.width, " x ",
          result.channels, "; in memory (data.cache IN_MEMORY) needs images of one size: use STREAM or AUTO"));
    }
    // Each i writes only its own slot, so no lock is needed.
    std::memcpy(result.pixels.data() + (i + 1) * result.image_bytes(), image->pixels.data(),
                image->num_bytes());
    return absl::OkStatus();
  });
  if (stream) return std::nullopt;
  if (!decoded.ok()) return decoded;
  return std::optional<LabeledImages>(std::move(result));
}

}  // namespace

absl::StatusOr<LabeledImages> ReadImageFolder(const std::string& root,
                                              const ImageFolderOptions& options) {
  if (options.threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(root, ": threads must be >= 0, got ", options.threads));
  }
  MOCO_ASSIGN_OR_RETURN(ImageFolderIndex index, ListImageFolder(root, options.max_images, options.classes));
  if (options.cache == ImageCache::kStream) return Streamed(std::move(index), options.skip_bad_images);
  const bool automatic = options.cache == ImageCache::kAuto;
  MOCO_ASSIGN_OR_RETURN(std::optional<LabeledImages> in_memory,
                        DecodeAll(index, options.threads, automatic, options.skip_bad_images));
  if (!in_memory.has_value()) return Streamed(std::move(index), options.skip_bad_images);
  return std::move(*in_memory);
}

namespace {

// Reads and decodes `path`, at the scale `choose` picks from its header (null: full size).
absl::StatusOr<Image> ReadImageAtScale(const std::string& path, const DecodeScaleFn& choose) {
  if (!choose) return ReadImage(path);
  MOCO_ASSIGN_OR_RETURN(const std::string bytes, ReadFile(path));
  MOCO_ASSIGN_OR_RETURN(const ImageSize size, ReadImageSize(bytes, path));
  return DecodeImageScaled(bytes, path, choose(size.height, size.width));
}

}  // namespace

absl::StatusOr<ImageRef> LoadImage(const LabeledImages& data, int64_t i, Image* scratch) {
  return LoadImageScaled(data, i, scratch, nullptr);
}

absl::StatusOr<ImageRef> LoadImageScaled(const LabeledImages& data, int64_t i, Image* scratch,
                                         const DecodeScaleFn& choose) {
  if (!data.streamed()) {
    return ImageRef{data.image_data(static_cast<int>(i)), data.height, data.width, data.channels};
  }
  absl::StatusOr<Image> image = ReadImageAtScale(data.files[i], choose);
  if (!image.ok() && data.skip_bad_images) {
    data.skipped->Add(data.files[i]);
    // The next image of the same class that decodes, in listing order (wrapping): the same
    // one every time, whatever thread asks.
    const int64_t n = data.size();
    for (int64_t k = 1; k < n && !image.ok(); ++k) {
      const int64_t j = (i + k) % n;
      if (data.labels[j] != data.labels[i]) continue;
      image = ReadImageAtScale(data.files[j], choose);
      if (!image.ok()) data.skipped->Add(data.files[j]);
    }
    if (!image.ok()) {
      return absl::DataLossError(absl::StrCat(data.files[i], ": cannot be decoded, and no other image of its class "
                                                             "can (data.on_bad_image SKIP)"));
    }
  }
  if (!image.ok()) {
    return absl::Status(image.status().code(),
                        absl::StrCat(image.status().message(), " (data.on_bad_image SKIP replaces bad images; "
                                                               "//moco/data:scan lists them)"));
  }
  *scratch = std::move(*image);
  return ImageRef{scratch->pixels.data(), scratch->height, scratch->width, scratch->channels};
}

absl::StatusOr<std::vector<std::string>> ReadClassList(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("class list ", path, ": cannot read it"));
  std::vector<std::string> classes;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    const std::string name(absl::StripAsciiWhitespace(line));
    if (name.empty()) continue;
    if (name.find_first_of("/ \t") != std::string::npos || name[0] == '.') {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", number, ": '", name, "' is not a class folder name"));
    }
    classes.push_back(name);
  }
  if (classes.empty()) return absl::InvalidArgumentError(absl::StrCat("class list ", path, ": names no class"));
  return classes;
}

}  // namespace moco
