// Where user-given paths and datasets live.
//
//   std::string config_path = UserPath(absl::GetFlag(FLAGS_config));
//   std::string cifar = DataPath("cifar10-jpeg");  // $MOCO_DATA_DIR/cifar10-jpeg
#ifndef MOCO_COMMON_PATHS_H_
#define MOCO_COMMON_PATHS_H_

#include <string>

namespace moco {

// A path the user typed. `bazel run` starts binaries in their runfiles folder and says where
// the user was in BUILD_WORKING_DIRECTORY: a relative path that exists there resolves there;
// otherwise it is kept as given (so files shipped as runfiles, like configs/, also resolve).
std::string UserPath(const std::string& path);

// A path the program will create (an output folder): relative paths are taken from where the
// user ran `bazel run` (BUILD_WORKING_DIRECTORY), else from the current folder.
std::string OutputPath(const std::string& path);

// The datasets folder: $MOCO_DATA_DIR, else $MOCO_CACHE/data, else ~/.cache/moco-cpp/data
// (where tools/setup.sh puts them).
std::string DataDir();

// `path` if absolute, else DataDir()/path.
std::string DataPath(const std::string& path);

}  // namespace moco

#endif  // MOCO_COMMON_PATHS_H_
