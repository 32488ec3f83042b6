// Tests that compare with PyTorch-Python run a script with the reference interpreter that
// tools/setup.sh installs (torch 2.11 + torchvision, in $MOCO_CACHE/torch-2.11.0; found by
// moco/common/subprocess.h's PythonInterpreter).
#ifndef MOCO_TESTS_PYTHON_REFERENCE_H_
#define MOCO_TESTS_PYTHON_REFERENCE_H_

#include <string>

namespace moco {

// <$TEST_TMPDIR or /tmp>/name.
std::string TempPath(const std::string& name);

// Runs `python <script> <args>` from the runfiles root (where tests run); fails the calling
// test with the script's output when the interpreter is missing or the script fails. Call it
// inside ASSERT_NO_FATAL_FAILURE.
void RunPython(const std::string& script, const std::string& args);

}  // namespace moco

#endif  // MOCO_TESTS_PYTHON_REFERENCE_H_
