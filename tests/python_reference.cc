#include "tests/python_reference.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace moco {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return (std::filesystem::path(dir ? dir : "/tmp") / name).string();
}

std::string PythonPath() {
  const char* cache = std::getenv("MOCO_CACHE");
  const char* home = std::getenv("HOME");
  const std::string root = cache && *cache ? cache : absl::StrCat(home ? home : "", "/.cache/moco-cpp");
  return root + "/torch-2.11.0/bin/python";
}

void RunPython(const std::string& script, const std::string& args) {
  const std::string python = PythonPath();
  ASSERT_TRUE(std::filesystem::exists(python))
      << "the Python reference interpreter is missing at " << python
      << " (tools/setup.sh installs it; set MOCO_CACHE if it lives elsewhere)";
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
