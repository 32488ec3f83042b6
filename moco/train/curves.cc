#include "moco/train/curves.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "moco/common/gnuplot.h"

namespace moco {

absl::Status WriteCurves(const std::vector<EpochMetrics>& epochs, double random_init_knn,
                         const std::string& png_path) {
  if (epochs.empty()) return absl::FailedPreconditionError(absl::StrCat("no epochs to draw in ", png_path));
  std::string loss_data, knn_data;
  for (const EpochMetrics& m : epochs) absl::StrAppendFormat(&loss_data, "%d %.6f\n", m.epoch, m.loss);
  if (random_init_knn >= 0) absl::StrAppendFormat(&knn_data, "0 %.4f\n", random_init_knn);
  for (const EpochMetrics& m : epochs) {
    if (m.knn_top1 >= 0) absl::StrAppendFormat(&knn_data, "%d %.4f\n", m.epoch, m.knn_top1);
  }
  std::string script = absl::StrCat(
      "set terminal pngcairo noenhanced size 800,480 font 'sans,11'\n", "set output ", GnuplotString(png_path), "\n",
      "set xlabel 'epoch'\nset ylabel 'loss (InfoNCE)'\nset grid\nset key top center\n",
      "set xrange [0:", epochs.back().epoch, "]\n");
  std::string plot = absl::StrCat("plot '-' using 1:2 with linespoints lw 2 title 'loss' axes x1y1");
  if (!knn_data.empty()) {
    absl::StrAppend(&script, "set y2label 'kNN top-1 (%)'\nset y2tics\nset ytics nomirror\n");
    absl::StrAppend(&plot, ", '-' using 1:2 with linespoints lw 2 title 'kNN top-1 (epoch 0: at initialisation)' ",
                    "axes x1y2");
  }
  absl::StrAppend(&script, plot, "\n", loss_data, "e\n");
  if (!knn_data.empty()) absl::StrAppend(&script, knn_data, "e\n");
  return RunGnuplot(script, png_path);
}

}  // namespace moco
