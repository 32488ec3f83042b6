// Drawing a PNG with gnuplot (Debian's gnuplot-nox, which tools/setup.sh installs): the one
// way the suite plots, for the tables' reports and for each training run's curves.
//
//   std::string script = absl::StrCat("set terminal pngcairo\nset output ", GnuplotString(png), "\n",
//                                     "plot '-' with lines\n1 2\n2 3\ne\n");
//   MOCO_RETURN_IF_ERROR(RunGnuplot(script, png));
#ifndef MOCO_COMMON_GNUPLOT_H_
#define MOCO_COMMON_GNUPLOT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace moco {

// A gnuplot string literal: single-quoted, each ' doubled (titles like "the key encoder's m").
std::string GnuplotString(absl::string_view text);

// Runs gnuplot on `script` (written next to `png_path` as <png>.gp while it runs, then
// removed). Errors name `png_path` and, when gnuplot is missing, how to install it.
absl::Status RunGnuplot(const std::string& script, const std::string& png_path);

}  // namespace moco

#endif  // MOCO_COMMON_GNUPLOT_H_
