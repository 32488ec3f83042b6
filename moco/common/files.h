// Whole-file reads and crash-safe writes.
//
//   MOCO_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
//   MOCO_RETURN_IF_ERROR(WriteFileAtomic(path, text));  // all of it or, after a crash, the old file
#ifndef MOCO_COMMON_FILES_H_
#define MOCO_COMMON_FILES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace moco {

// The whole file. NotFound if it does not exist, another error (naming it) if it cannot be read.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Writes `contents` to a temporary file beside `path`, fsyncs it, renames it over `path` and
// fsyncs the folder, so a crash or a kill at any moment leaves either the old file or the new
// one. Creates the parent folder. On failure (for example a full disk) the temporary file is
// removed, `path` is untouched, and the error names both.
absl::Status WriteFileAtomic(const std::string& path, absl::string_view contents);

// fsync of a file, or of a folder (to make a rename in it durable).
absl::Status Fsync(const std::string& path, bool directory);

}  // namespace moco

#endif  // MOCO_COMMON_FILES_H_
