#include "moco/common/paths.h"

#include <cstdlib>
#include <filesystem>

namespace moco {
namespace {

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

}  // namespace

std::string UserPath(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  const std::string cwd = Env("BUILD_WORKING_DIRECTORY");
  if (!cwd.empty()) {
    std::filesystem::path candidate = std::filesystem::path(cwd) / path;
    std::error_code error;
    if (std::filesystem::exists(candidate, error)) return candidate.string();
  }
  return path;
}

std::string OutputPath(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  const std::string cwd = Env("BUILD_WORKING_DIRECTORY");
  return cwd.empty() ? path : (std::filesystem::path(cwd) / path).string();
}

std::string DataDir() {
  std::string dir = Env("MOCO_DATA_DIR");
  if (!dir.empty()) return dir;
  dir = Env("MOCO_CACHE");
  if (!dir.empty()) return dir + "/data";
  return Env("HOME") + "/.cache/moco-cpp/data";
}

std::string DataPath(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  return DataDir() + "/" + path;
}

}  // namespace moco
