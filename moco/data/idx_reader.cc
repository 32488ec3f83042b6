#include "moco/data/idx_reader.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "moco/common/status.h"

namespace moco {
namespace {

// Larger than any real idx dimension; keeps a damaged header from asking for terabytes.
constexpr uint32_t kMaxImageSide = 1 << 16;

// The bytes of an idx file: read through a gzFile that closes itself, or from memory. Short
// reads become errors naming the file.
class GzReader {
 public:
  // Uncompressed bytes held by the caller.
  static GzReader FromBytes(absl::string_view bytes, absl::string_view source) {
    return GzReader(std::string(source), nullptr, bytes);
  }

  static absl::StatusOr<GzReader> Open(const std::string& path) {
    errno = 0;
    gzFile file = gzopen(path.c_str(), "rb");
    if (file == nullptr) {
      if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
      return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot open"));
    }
    gzbuffer(file, 1 << 17);  // fewer, larger reads than the 8 KiB default
    return GzReader(path, file, {});
  }

  GzReader(GzReader&& other) noexcept
      : path_(std::move(other.path_)),
        file_(std::exchange(other.file_, nullptr)),
        bytes_(other.bytes_) {}
  GzReader& operator=(GzReader&& other) noexcept {
    std::swap(path_, other.path_);
    std::swap(file_, other.file_);
    std::swap(bytes_, other.bytes_);
    return *this;
  }
  ~GzReader() {
    if (file_ != nullptr) gzclose(file_);
  }

  const std::string& path() const { return path_; }

  // Reads up to `size` bytes into `out`; returns how many were read (fewer at end of file).
  absl::StatusOr<size_t> Read(void* out, size_t size) {
    if (file_ == nullptr) {
      const size_t done = std::min(size, bytes_.size());
      if (done > 0) std::memcpy(out, bytes_.data(), done);
      bytes_.remove_prefix(done);
      return done;
    }
    size_t done = 0;
    while (done < size) {
      // gzread takes an unsigned int length.
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(size - done, 1u << 30));
      const int got = gzread(file_, static_cast<char*>(out) + done, chunk);
      if (got < 0) return GzError();
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    // A damaged stream can end a read early and report why only through gzerror.
    if (done < size) {
      int code = Z_OK;
      gzerror(file_, &code);
      if (code != Z_OK) return GzError();
    }
    return done;
  }

  // Reads exactly `size` bytes; `what` says what they are, for the truncation message.
  absl::Status ReadExactly(void* out, size_t size, absl::string_view what) {
    MOCO_ASSIGN_OR_RETURN(size_t got, Read(out, size));
    if (got < size) {
      return absl::DataLossError(absl::StrCat(path_, ": truncated: expected ", size,
                                              " bytes of ", what, ", the file has ", got));
    }
    return absl::OkStatus();
  }

  // Fails if the file holds more than its header declared. Reading to the end also makes
  // zlib check the gzip trailer's CRC and length.
  absl::Status ExpectEnd() {
    char extra;
    MOCO_ASSIGN_OR_RETURN(size_t got, Read(&extra, 1));
    if (got != 0) {
      return absl::DataLossError(
          absl::StrCat(path_, ": more data than the header declares (wrong dimensions?)"));
    }
    return absl::OkStatus();
  }

  // Reads exactly `size` bytes into `out`, growing it as data arrives: a damaged header that
  // declares billions of images then fails as truncated instead of allocating for them all.
  absl::Status ReadExactlyInto(std::vector<uint8_t>* out, size_t size, absl::string_view what) {
    constexpr size_t kChunk = size_t{1} << 22;
    out->clear();
    if (file_ == nullptr && bytes_.size() < size) {  // in memory, the length is known up front
      return absl::DataLossError(absl::StrCat(path_, ": truncated: expected ", size, " bytes of ",
                                              what, ", the file has ", bytes_.size()));
    }
    out->reserve(std::min(size, size_t{1} << 28));
    while (out->size() < size) {
      const size_t done = out->size();
      const size_t chunk = std::min(kChunk, size - done);
      out->resize(done + chunk);
      MOCO_ASSIGN_OR_RETURN(size_t got, Read(out->data() + done, chunk));
      if (got < chunk) {
        return absl::DataLossError(absl::StrCat(path_, ": truncated: expected ", size,
                                                " bytes of ", what, ", the file has ", done + got));
      }
    }
    return absl::OkStatus();
  }

  // Reads a big-endian uint32.
  absl::StatusOr<uint32_t> ReadUint32(absl::string_view what) {
    unsigned char bytes[4];
    MOCO_RETURN_IF_ERROR(ReadExactly(bytes, 4, what));
    return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
           uint32_t{bytes[3]};
  }

 private:
  GzReader(std::string path, gzFile file, absl::string_view bytes)
      : path_(std::move(path)), file_(file), bytes_(bytes) {}

  absl::Status GzError() {
    int code = Z_OK;
    const char* message = gzerror(file_, &code);
    if (code == Z_ERRNO) return absl::ErrnoToStatus(errno, absl::StrCat(path_, ": read failed"));
    return absl::DataLossError(absl::StrCat(path_, ": damaged gzip data: ", message));
  }

  std::string path_;
  gzFile file_;              // null when reading from bytes_
  absl::string_view bytes_;  // what is left to read, when file_ is null
};

absl::Status CheckMagic(const GzReader& reader, uint32_t magic, uint32_t expected) {
  if (magic == expected) return absl::OkStatus();
  return absl::DataLossError(absl::StrFormat("%s: bad idx magic 0x%08x (expected 0x%08x)",
                                             reader.path(), magic, expected));
}

absl::StatusOr<int> ReadCount(GzReader& reader) {
  MOCO_ASSIGN_OR_RETURN(uint32_t count, reader.ReadUint32("idx header"));
  if (count > static_cast<uint32_t>(std::numeric_limits<int>::max())) {
    return absl::DataLossError(absl::StrCat(reader.path(), ": implausible item count ", count));
  }
  return static_cast<int>(count);
}

absl::Status CheckMax(int max, const std::string& path) {
  if (max >= 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(path, ": max count must be >= 0, got ", max));
}

// `root`/`name`.gz if it exists, else `root`/`name` if that exists, else the .gz path (whose
// NotFound error then says what was looked for).
std::string IdxPath(const std::string& root, const std::string& name) {
  const std::string gz = absl::StrCat(root, "/", name, ".gz");
  const std::string plain = absl::StrCat(root, "/", name);
  std::error_code error;
  if (!std::filesystem::exists(gz, error) && std::filesystem::exists(plain, error)) return plain;
  return gz;
}

// The images of the idx3-ubyte file `reader` reads.
absl::StatusOr<IdxImages> ReadImages(GzReader& reader, int max_images) {
  MOCO_RETURN_IF_ERROR(CheckMax(max_images, reader.path()));
  MOCO_ASSIGN_OR_RETURN(uint32_t magic, reader.ReadUint32("idx header"));
  MOCO_RETURN_IF_ERROR(CheckMagic(reader, magic, kIdxImagesMagic));
  IdxImages images;
  MOCO_ASSIGN_OR_RETURN(images.count_in_file, ReadCount(reader));
  MOCO_ASSIGN_OR_RETURN(uint32_t rows, reader.ReadUint32("idx header"));
  MOCO_ASSIGN_OR_RETURN(uint32_t cols, reader.ReadUint32("idx header"));
  if (rows == 0 || cols == 0 || rows > kMaxImageSide || cols > kMaxImageSide) {
    return absl::DataLossError(absl::StrCat(reader.path(), ": implausible image size ", rows,
                                            " x ", cols, " in the header"));
  }
  images.rows = static_cast<int>(rows);
  images.cols = static_cast<int>(cols);
  const bool read_all = max_images == 0 || max_images >= images.count_in_file;
  const int count = read_all ? images.count_in_file : max_images;
  MOCO_RETURN_IF_ERROR(reader.ReadExactlyInto(
      &images.pixels, static_cast<size_t>(count) * rows * cols,
      absl::StrCat("pixels (", count, " images of ", rows, " x ", cols, ")")));
  if (read_all) MOCO_RETURN_IF_ERROR(reader.ExpectEnd());
  return images;
}

// The labels of the idx1-ubyte file `reader` reads.
absl::StatusOr<IdxLabels> ReadLabels(GzReader& reader, int max_labels) {
  MOCO_RETURN_IF_ERROR(CheckMax(max_labels, reader.path()));
  MOCO_ASSIGN_OR_RETURN(uint32_t magic, reader.ReadUint32("idx header"));
  MOCO_RETURN_IF_ERROR(CheckMagic(reader, magic, kIdxLabelsMagic));
  IdxLabels labels;
  MOCO_ASSIGN_OR_RETURN(labels.count_in_file, ReadCount(reader));
  const bool read_all = max_labels == 0 || max_labels >= labels.count_in_file;
  const int count = read_all ? labels.count_in_file : max_labels;
  MOCO_RETURN_IF_ERROR(
      reader.ReadExactlyInto(&labels.labels, count, absl::StrCat("labels (", count, ")")));
  if (read_all) MOCO_RETURN_IF_ERROR(reader.ExpectEnd());
  return labels;
}

}  // namespace

absl::StatusOr<IdxImages> ReadIdxImages(const std::string& path, int max_images) {
  MOCO_RETURN_IF_ERROR(CheckMax(max_images, path));
  MOCO_ASSIGN_OR_RETURN(GzReader reader, GzReader::Open(path));
  return ReadImages(reader, max_images);
}

absl::StatusOr<IdxLabels> ReadIdxLabels(const std::string& path, int max_labels) {
  MOCO_RETURN_IF_ERROR(CheckMax(max_labels, path));
  MOCO_ASSIGN_OR_RETURN(GzReader reader, GzReader::Open(path));
  return ReadLabels(reader, max_labels);
}

absl::StatusOr<IdxImages> ParseIdxImages(absl::string_view bytes, absl::string_view source,
                                         int max_images) {
  GzReader reader = GzReader::FromBytes(bytes, source);
  return ReadImages(reader, max_images);
}

absl::StatusOr<IdxLabels> ParseIdxLabels(absl::string_view bytes, absl::string_view source,
                                         int max_labels) {
  GzReader reader = GzReader::FromBytes(bytes, source);
  return ReadLabels(reader, max_labels);
}

const std::vector<std::string>& FashionMnistClassNames() {
  static const auto* names = new std::vector<std::string>{
      "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return *names;
}

absl::StatusOr<LabeledImages> ReadFashionMnist(const std::string& root, bool train,
                                               int max_images) {
  const std::string prefix = train ? "train" : "t10k";
  const std::string images_path = IdxPath(root, prefix + "-images-idx3-ubyte");
  const std::string labels_path = IdxPath(root, prefix + "-labels-idx1-ubyte");
  MOCO_ASSIGN_OR_RETURN(IdxImages images, ReadIdxImages(images_path, max_images));
  MOCO_ASSIGN_OR_RETURN(IdxLabels labels, ReadIdxLabels(labels_path, max_images));
  if (images.count_in_file != labels.count_in_file) {
    return absl::DataLossError(absl::StrCat(images_path, " declares ", images.count_in_file,
                                            " images but ", labels_path, " declares ",
                                            labels.count_in_file, " labels"));
  }
  const int num_classes = static_cast<int>(FashionMnistClassNames().size());
  LabeledImages result;
  result.height = images.rows;
  result.width = images.cols;
  result.channels = 1;
  result.pixels = std::move(images.pixels);
  result.class_names = FashionMnistClassNames();
  result.labels.reserve(labels.labels.size());
  for (size_t i = 0; i < labels.labels.size(); ++i) {
    const int label = labels.labels[i];
    if (label >= num_classes) {
      return absl::DataLossError(absl::StrCat(labels_path, ": label ", label, " at index ", i,
                                              " is out of range [0, ", num_classes, ")"));
    }
    result.labels.push_back(label);
  }
  return result;
}

}  // namespace moco
