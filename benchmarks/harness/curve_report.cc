#include "benchmarks/harness/curve_report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "benchmarks/harness/markdown.h"
#include "moco/common/gnuplot.h"

namespace moco {
namespace {

std::string Points(double v) { return absl::StrFormat("%+.2f", v); }

}  // namespace

absl::StatusOr<std::vector<PublishedEpoch>> ReadPublishedCurve(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the published curve ", path));
  std::vector<PublishedEpoch> out;
  std::string line;
  bool header = false;
  for (int number = 1; std::getline(in, line); ++number) {
    const absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text[0] == '#') continue;
    if (!header) {
      if (text != "epoch,lr,train_loss,knn_top1") {
        return absl::InvalidArgumentError(absl::StrCat(path, ":", number, ": expected the header ",
                                                       "'epoch,lr,train_loss,knn_top1', got '", text, "'"));
      }
      header = true;
      continue;
    }
    const std::vector<std::string> cells = absl::StrSplit(text, ',');
    PublishedEpoch e;
    if (cells.size() != 4 || !absl::SimpleAtoi(cells[0], &e.epoch) || !absl::SimpleAtod(cells[1], &e.lr) ||
        !absl::SimpleAtod(cells[2], &e.loss) || !absl::SimpleAtod(cells[3], &e.knn_top1)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", number, ": not an epoch row: '", text, "'"));
    }
    if (e.epoch != static_cast<int>(out.size()) + 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", number, ": epoch ", e.epoch, " where ", out.size() + 1, " was expected"));
    }
    out.push_back(e);
  }
  if (out.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no epoch rows"));
  return out;
}

CurveComparison CompareCurves(const std::vector<PlannedRun>& runs, const std::vector<PublishedEpoch>& published) {
  CurveComparison c;
  std::map<uint64_t, const config::RunRecord*> longest;  // per seed: the record with the most epochs
  for (const PlannedRun& run : runs) {
    if (std::find(c.seeds.begin(), c.seeds.end(), run.seed) == c.seeds.end()) c.seeds.push_back(run.seed);
    c.planned_epochs = std::max(c.planned_epochs, run.config.run().stop_after_epochs() > 0
                                                      ? run.config.run().stop_after_epochs()
                                                      : run.config.optim().epochs());
    if (run.state != RunState::kDone) continue;
    const config::RunRecord*& best = longest[run.seed];
    if (best == nullptr || run.record->curve_size() > best->curve_size()) best = &*run.record;
  }
  std::map<int, CurveRow> rows;
  for (const auto& [seed, record] : longest) {
    for (const config::EpochPoint& point : record->curve()) {
      if (!point.has_knn_top1()) continue;
      CurveRow& row = rows[point.epoch()];
      row.epoch = point.epoch();
      row.knn[seed] = point.knn_top1();
      row.loss[seed] = point.loss();
    }
  }
  double gap_sum = 0;
  for (auto& [epoch, row] : rows) {
    row.all_seeds = row.knn.size() == c.seeds.size();
    for (const auto& [seed, v] : row.knn) row.knn_mean += v / row.knn.size();
    for (const auto& [seed, v] : row.loss) row.loss_mean += v / row.loss.size();
    if (epoch >= 1 && epoch <= static_cast<int>(published.size())) row.published = &published[epoch - 1];
    if (row.all_seeds && row.published != nullptr) {
      const double gap = row.knn_mean - row.published->knn_top1;
      gap_sum += gap;
      ++c.compared_epochs;
      if (std::abs(gap) >= std::abs(c.worst_gap)) {
        c.worst_gap = gap;
        c.worst_epoch = epoch;
      }
    }
    c.rows.push_back(row);
  }
  if (c.compared_epochs > 0) c.mean_gap = gap_sum / c.compared_epochs;
  return c;
}

std::vector<Finding> CurveFindings(const config::TableConfig& table, const CurveComparison& c) {
  const config::PublishedCurve& rule = table.published_curve();
  if (c.compared_epochs == 0) {
    return {{absl::StrFormat("at every epoch, the mean of our seeds is within %g points of the published kNN top-1",
                             rule.max_epoch_gap()),
             Verdict::kNotTested, "no epoch has every seed's kNN top-1 yet"}};
  }
  int first = 0, last = 0;
  for (const CurveRow& row : c.rows) {
    if (!row.all_seeds || row.published == nullptr) continue;
    if (first == 0) first = row.epoch;
    last = row.epoch;
  }
  const std::string over = absl::StrFormat("over epochs %d-%d (%d epochs with all %d seeds) of the %d planned",
                                           first, last, c.compared_epochs, c.seeds.size(), c.planned_epochs);
  std::vector<Finding> findings;
  findings.push_back(
      {absl::StrFormat("at every epoch, the mean of our seeds is within %g points of the published kNN top-1",
                       rule.max_epoch_gap()),
       std::abs(c.worst_gap) <= rule.max_epoch_gap() ? Verdict::kHolds : Verdict::kDoesNotHold,
       absl::StrFormat("largest gap %s points at epoch %d, %s", Points(c.worst_gap), c.worst_epoch, over)});
  findings.push_back({absl::StrFormat("the mean signed gap (ours - published) is within %g points",
                                      rule.max_mean_gap()),
                      std::abs(c.mean_gap) <= rule.max_mean_gap() ? Verdict::kHolds : Verdict::kDoesNotHold,
                      absl::StrFormat("mean gap %s points, %s", Points(c.mean_gap), over)});
  return findings;
}

std::string RenderCurveSection(const config::TableConfig& table, const CurveComparison& c,
                               const std::string& plot_file) {
  const config::PublishedCurve& rule = table.published_curve();
  std::string md = absl::StrCat(
      "\n## Ours beside the published curve, epoch by epoch\n\n", "Published: ", rule.label(), ", from `",
      rule.file(), "` (its header names the source). Ours: kNN top-1 (k ", "200, t 0.1) and mean training loss ",
      "of each epoch, from each seed's longest finished piece. The rule, fixed before the runs: at every epoch ",
      "where all seeds have the kNN, |mean of ours - published| <= ", rule.max_epoch_gap(),
      " points, and over those epochs |mean signed gap| <= ", rule.max_mean_gap(), " points.\n\n");
  if (c.rows.empty()) return absl::StrCat(md, "No epoch of ours is finished yet.\n");
  std::vector<TableColumn> header = {"epoch", "published kNN", "published loss"};
  for (uint64_t seed : c.seeds) header.emplace_back(absl::StrCat("ours kNN s", seed));
  header.emplace_back("ours kNN mean");
  header.emplace_back("gap (ours - published)");
  header.emplace_back("ours loss mean");
  MarkdownTable table_md(header);
  for (const CurveRow& row : c.rows) {
    std::vector<std::string> cells = {
        absl::StrCat(row.epoch), row.published ? absl::StrFormat("%.2f", row.published->knn_top1) : "–",
        row.published ? absl::StrFormat("%.4f", row.published->loss) : "–"};
    for (uint64_t seed : c.seeds) {
      cells.push_back(row.knn.count(seed) ? absl::StrFormat("%.2f", row.knn.at(seed)) : "not run");
    }
    cells.push_back(absl::StrFormat("%.2f%s", row.knn_mean, row.all_seeds ? "" : " (not all seeds)"));
    cells.push_back(row.published ? Points(row.knn_mean - row.published->knn_top1) : "–");
    cells.push_back(absl::StrFormat("%.4f", row.loss_mean));
    table_md.AddRow(cells);
  }
  absl::StrAppend(&md, table_md.Render());
  if (!plot_file.empty()) absl::StrAppend(&md, "\n![ours beside the published curve](", plot_file, ")\n");
  return md;
}

absl::Status WriteCurvePlot(const config::TableConfig& table, const CurveComparison& c,
                            const std::vector<PublishedEpoch>& published, const std::string& png_path) {
  if (c.rows.empty()) return absl::FailedPreconditionError("no epoch of ours to plot yet");
  // The epochs planned (or run, if more): the published run is drawn over the same ones.
  const int last = std::max(c.planned_epochs, c.rows.back().epoch);
  std::string published_knn, published_loss;
  std::vector<std::string> seed_knn(c.seeds.size()), seed_loss(c.seeds.size());
  for (const CurveRow& row : c.rows) {
    for (size_t i = 0; i < c.seeds.size(); ++i) {
      if (!row.knn.count(c.seeds[i])) continue;
      absl::StrAppendFormat(&seed_knn[i], "%d %.4f\n", row.epoch, row.knn.at(c.seeds[i]));
      absl::StrAppendFormat(&seed_loss[i], "%d %.6f\n", row.epoch, row.loss.at(c.seeds[i]));
    }
  }
  for (const PublishedEpoch& e : published) {
    if (e.epoch > last) break;
    absl::StrAppendFormat(&published_knn, "%d %.4f\n", e.epoch, e.knn_top1);
    absl::StrAppendFormat(&published_loss, "%d %.6f\n", e.epoch, e.loss);
  }
  std::string script = absl::StrCat("set terminal pngcairo noenhanced size 1200,480 font 'sans,11'\n",
                                    "set output ", GnuplotString(png_path), "\n", "set multiplot layout 1,2\n",
                                    "set grid\nset xlabel 'epoch (of 200)'\nset xrange [0.5:", last + 0.5, "]\n");
  auto panel = [&](const std::string& title, const std::string& ylabel, const std::string& key,
                   const std::string& published_data, const std::vector<std::string>& ours) {
    std::vector<std::string> plots = {
        absl::StrCat("'-' using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb 'black' title ",
                     GnuplotString(table.published_curve().label()))};
    std::string data = absl::StrCat(published_data, "e\n");
    for (size_t i = 0; i < c.seeds.size(); ++i) {
      if (ours[i].empty()) continue;
      plots.push_back(absl::StrCat("'-' using 1:2 with linespoints lw 2 pt 7 title ",
                                   GnuplotString(absl::StrCat("ours, seed ", c.seeds[i]))));
      absl::StrAppend(&data, ours[i], "e\n");
    }
    return absl::StrCat("set title ", GnuplotString(title), "\nset ylabel ", GnuplotString(ylabel), "\nset key ",
                        key, "\nplot ", absl::StrJoin(plots, ", "), "\n", data);
  };
  absl::StrAppend(&script, panel("kNN top-1 on the test split", "kNN top-1 (%)", "bottom right", published_knn,
                                 seed_knn));
  absl::StrAppend(&script, panel("training loss (mean of the epoch)", "InfoNCE loss", "top right", published_loss,
                                 seed_loss));
  absl::StrAppend(&script, "unset multiplot\n");
  return RunGnuplot(script, png_path);
}

}  // namespace moco
