#include "tests/python_reference.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "moco/common/subprocess.h"

namespace moco {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return (std::filesystem::path(dir ? dir : "/tmp") / name).string();
}

void RunPython(const std::string& script, const std::string& args) {
  const absl::StatusOr<std::string> interpreter = PythonInterpreter();
  ASSERT_TRUE(interpreter.ok()) << interpreter.status();
  const std::string& python = *interpreter;
  std::vector<std::string> argv = {python, script};
  for (absl::string_view arg : absl::StrSplit(args, ' ', absl::SkipEmpty())) argv.emplace_back(arg);
  ProcessOptions options;
  options.capture_stderr = true;  // stdout and stderr together, shown on failure
  const absl::StatusOr<ProcessResult> run = RunProcess(argv, options);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->exit_code, 0) << python << " " << script << " " << args << "\n" << run->stdout_text;
  std::cout << run->stdout_text;
}

}  // namespace moco
