#include "moco/train/curves.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "moco/common/files.h"
#include "moco/common/gnuplot.h"
#include "moco/common/status.h"
#include "nlohmann/json.hpp"

namespace moco {

absl::StatusOr<std::vector<EpochMetrics>> ReadEpochMetrics(const std::string& path) {
  MOCO_ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  std::vector<EpochMetrics> out;
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    if (line.empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("epoch") || !j.contains("loss")) {
      return absl::DataLossError(absl::StrCat(path, ":", number, ": not a metrics line: ", line));
    }
    EpochMetrics m;
    m.epoch = j.value("epoch", int64_t{0});
    m.step = j.value("step", int64_t{0});
    m.loss = j.value("loss", 0.0);
    m.pretext_top1 = j.value("pretext_top1", 0.0);
    if (j.contains("knn_top1") && j["knn_top1"].is_number()) m.knn_top1 = j["knn_top1"].get<double>();
    if (j.contains("lr") && j["lr"].is_number()) m.lr = j["lr"].get<double>();
    out.push_back(m);
  }
  return out;
}

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
