#include "tests/python_reference.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
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
  const std::string log = TempPath("python.log");
  const std::string command = absl::StrCat(python, " ", script, " ", args, " > ", log, " 2>&1");
  const int rc = std::system(command.c_str());
  std::ifstream in(log);
  std::stringstream output;
  output << in.rdbuf();
  ASSERT_EQ(rc, 0) << command << "\n" << output.str();
  std::cout << output.str();
}

}  // namespace moco
