#include "moco/data/test_data.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "moco/common/paths.h"

namespace moco {

::testing::AssertionResult DataPresent(const std::string& path) {
  std::error_code error;
  if (std::filesystem::exists(path, error)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << path << " is missing: run tools/setup.sh, which installs CIFAR-10 and Penn-Fudan in "
         << DataDir() << " (set by $MOCO_DATA_DIR or $MOCO_CACHE) and Fashion-MNIST in "
         << kFashionMnistDir;
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::filesystem::path path =
      std::filesystem::path(dir != nullptr ? dir : std::filesystem::temp_directory_path()) / name;
  std::error_code error;
  std::filesystem::create_directories(path.parent_path(), error);
  return path.string();
}

std::string TempDir(const std::string& name) {
  const std::string path = TempPath(name);
  std::error_code error;
  std::filesystem::create_directories(path, error);
  return path;
}

absl::Status WriteFile(const std::string& path, absl::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat(path, ": cannot write"));
  return absl::OkStatus();
}

}  // namespace moco
