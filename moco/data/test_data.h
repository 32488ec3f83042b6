// Test support for moco/data: locating the installed datasets (a missing dataset fails the
// test with how to install it, rather than skipping it) and writing scratch files.
//
//   const std::string root = DataPath("cifar10-jpeg/train");
//   ASSERT_TRUE(DataPresent(root));
//   const std::string bad = TempPath("truncated.jpg");
//   ASSERT_TRUE(WriteFile(bad, half_of_a_jpeg).ok());
#ifndef MOCO_DATA_TEST_DATA_H_
#define MOCO_DATA_TEST_DATA_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace moco {

// Where the dataset-fashion-mnist Debian package installs Fashion-MNIST.
inline constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

// Success if `path` exists; otherwise a failure saying that tools/setup.sh installs it.
::testing::AssertionResult DataPresent(const std::string& path);

// $TEST_TMPDIR/`name` (the system temp folder outside Bazel). Parent folders of `name` are
// created.
std::string TempPath(const std::string& name);

// $TEST_TMPDIR/`name`, created (with its parents) as a folder.
std::string TempDir(const std::string& name);

// Writes `bytes` to `path`, replacing it.
absl::Status WriteFile(const std::string& path, absl::string_view bytes);

}  // namespace moco

#endif  // MOCO_DATA_TEST_DATA_H_
