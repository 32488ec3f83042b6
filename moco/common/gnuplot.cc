#include "moco/common/gnuplot.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "moco/common/subprocess.h"

namespace moco {

std::string GnuplotString(absl::string_view text) {
  return absl::StrCat("'", absl::StrReplaceAll(text, {{"'", "''"}}), "'");
}

absl::Status RunGnuplot(const std::string& script, const std::string& png_path) {
  const std::string script_path = png_path + ".gp";
  {
    std::ofstream out(script_path);
    out << script;
    if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", script_path));
  }
  ProcessOptions options;
  options.capture_stderr = true;
  options.search_path = true;
  absl::StatusOr<ProcessResult> ran = RunProcess({"gnuplot", script_path}, options);
  std::error_code ignored;
  std::filesystem::remove(script_path, ignored);
  if (!ran.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot run gnuplot to write ", png_path, ": ", ran.status().message(),
        absl::IsNotFound(ran.status()) ? " (tools/setup.sh installs Debian's gnuplot-nox)" : ""));
  }
  if (ran->exit_code != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("gnuplot failed (exit ", ran->exit_code, ") writing ", png_path, ": ", ran->stdout_text));
  }
  return absl::OkStatus();
}

}  // namespace moco
