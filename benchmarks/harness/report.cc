#include "benchmarks/harness/report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "benchmarks/harness/markdown.h"
#include "moco/common/duration.h"
#include "moco/common/gnuplot.h"

namespace moco {
namespace {

namespace fs = std::filesystem;

std::string MechanismOf(const config::ExperimentConfig& config) {
  switch (config.mechanism_case()) {
    case config::ExperimentConfig::kMoco:
      return "moco";
    case config::ExperimentConfig::kMemoryBank:
      return "memory_bank";
    case config::ExperimentConfig::kEndToEnd:
      return "end_to_end";
    default:
      return "supervised";
  }
}

// Negatives per query: the loss of a model that learned nothing is ln(negatives + 1).
double Negatives(const config::ExperimentConfig& config) {
  switch (config.mechanism_case()) {
    case config::ExperimentConfig::kMoco:
      return config.moco().queue_size();
    case config::ExperimentConfig::kMemoryBank:
      return config.memory_bank().num_negatives();
    case config::ExperimentConfig::kEndToEnd:
      return config.optim().batch_size() - 1;
    default:
      return 0;
  }
}

double Metric(const config::RunRecord& record, const std::string& name, double fallback) {
  auto it = record.metrics().find(name);
  return it == record.metrics().end() ? fallback : it->second;
}

std::string Number(double v) { return std::isnan(v) ? "–" : absl::StrFormat("%.1f", v); }

// The series of the cells, in table order.
std::vector<std::string> SeriesOrder(const std::vector<Cell>& cells) {
  std::vector<std::string> order;
  for (const Cell& c : cells) {
    if (std::find(order.begin(), order.end(), c.series_id) == order.end()) order.push_back(c.series_id);
  }
  return order;
}

}  // namespace

std::vector<Cell> Aggregate(const std::vector<PlannedRun>& runs, const std::string& metric) {
  std::vector<Cell> cells;
  std::map<std::pair<std::string, double>, size_t> index;
  std::map<size_t, std::vector<double>> values;
  for (const PlannedRun& run : runs) {
    auto key = std::make_pair(run.series_id, run.value);
    auto found = index.find(key);
    if (found == index.end()) {
      Cell cell;
      cell.series_id = run.series_id;
      cell.series_label = run.series_label;
      cell.mechanism = MechanismOf(run.config);
      cell.value = run.value;
      cell.plot_value = run.plot_value;
      cell.published = run.published;
      cell.chance_loss = std::log(Negatives(run.config) + 1.0);
      found = index.emplace(key, cells.size()).first;
      cells.push_back(cell);
    }
    Cell& cell = cells[found->second];
    ++cell.runs_planned;
    if (run.state != RunState::kDone) continue;
    ++cell.runs_done;
    const config::RunRecord& record = *run.record;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    if (Metric(record, "diverged", 0) > 0) {
      ++cell.diverged;
      continue;
    }
    values[found->second].push_back(Metric(record, metric, nan));
    cell.pretext_top1 += Metric(record, "pretext_top1", nan);
    cell.loss += Metric(record, "loss", nan);
    cell.random_init += Metric(record, "random_init_knn_top1", nan);
  }
  for (auto& [i, v] : values) {
    Cell& cell = cells[i];
    const double n = static_cast<double>(v.size());
    double sum = 0;
    for (double x : v) sum += x;
    cell.mean = sum / n;
    cell.spread = (*std::max_element(v.begin(), v.end()) - *std::min_element(v.begin(), v.end())) / 2;
    cell.pretext_top1 /= n;
    cell.loss /= n;
    cell.random_init /= n;
  }
  // A point whose runs all diverged has no accuracy; its loss is what the m = 0 check reads.
  for (Cell& cell : cells) {
    if (cell.runs_done > 0 && cell.diverged == cell.runs_done) {
      cell.mean = std::numeric_limits<double>::quiet_NaN();
      cell.loss = std::numeric_limits<double>::infinity();
    }
  }
  return cells;
}

std::string Value(double v) { return absl::StrFormat("%g", v); }

std::string Describe(const Cell& c) {
  if (c.diverged == c.runs_done) return "diverged";
  return c.runs_done > 1 ? absl::StrFormat("%.2f ± %.2f", c.mean, c.spread) : absl::StrFormat("%.2f", c.mean);
}

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kHolds:
      return "holds";
    case Verdict::kDoesNotHold:
      return "does not hold";
    default:
      return "not tested yet";
  }
}


namespace {

// The report's title and the paragraphs that say where its numbers come from and what they are.
std::string ReportHeader(const config::TableConfig& table, const std::vector<PlannedRun>& runs,
                         const std::string& metric) {
  const std::string tier = config::Tier_Name(table.tier());
  int done = 0;
  double compute = 0;
  std::set<std::string> seeds, commits, devices;
  for (const PlannedRun& run : runs) {
    seeds.insert(absl::StrCat(run.seed));
    if (run.state != RunState::kDone) continue;
    ++done;
    compute += run.record->wall_seconds();
    for (const PlannedRun& before : runs) {  // a later piece's wall time includes the piece it continues
      if (before.name == run.continues && before.state == RunState::kDone) compute -= before.record->wall_seconds();
    }
    commits.insert(run.record->git_commit());
    devices.insert(absl::StrCat(run.record->device(), " x", run.record->threads(), " threads"));
  }
  const config::ExperimentConfig& base = runs.front().config;  // merged base (+ the first point)
  std::set<int64_t> epochs;
  for (const PlannedRun& run : runs) epochs.insert(run.config.optim().epochs());
  const std::string epochs_text =
      epochs.size() == 1 ? absl::StrCat(*epochs.begin(), " epochs") : std::string("epochs as the columns say");
  return absl::StrCat(
      "# ", table.title(), " (", tier, " tier)\n\n", "Generated by `bazel run //benchmarks:reproduce -- --table=",
      table.table(), " --tier=", absl::AsciiStrToLower(tier),
      "` from the result records in `runs/` (one JSON record per run: metrics, ",
      "config and its hash, commit, device, wall time). ", done, " of ", runs.size(), " runs done, ",
      DurationText(compute), " of compute; seeds ", absl::StrJoin(seeds, ", "), "; commits ",
      absl::StrJoin(commits, ", "), "; ", absl::StrJoin(devices, ", "), ".\n\n",
      "**Ours:** `", metric, "` (in %) of each run's final encoder on the test split of `", base.data().root(),
      "`; mean ± spread (half the range between seeds), over the seeds done. Setting: ResNet-", base.model().depth(),
      " width x", base.model().width_multiplier(), ", ", epochs_text, ", batch ",
      base.optim().batch_size(), ", ", TrainImagesPerEpoch(base), " training images per epoch; the full base config ",
      "is in `configs/tables/", absl::AsciiStrToLower(tier), "/", table.table(), ".pbtxt`.\n\n");
}

// A table of `text` of each cell: a row per series, a column per configured axis value.
std::string SeriesTable(const config::TableConfig& table, const std::vector<Cell>& cells,
                        const std::function<std::string(const Cell&)>& text) {
  std::vector<double> columns;
  for (const Cell& c : cells) {
    if (std::find(columns.begin(), columns.end(), c.value) == columns.end()) columns.push_back(c.value);
  }
  std::sort(columns.begin(), columns.end());
  std::vector<TableColumn> header = {table.axis_label()};
  for (double v : columns) header.emplace_back(Value(v));
  MarkdownTable out(header);
  for (const std::string& series : SeriesOrder(cells)) {
    std::string label;
    std::map<double, std::string> by_value;
    for (const Cell& c : cells) {
      if (c.series_id != series) continue;
      label = c.series_label;
      by_value[c.value] = text(c);
    }
    std::vector<std::string> row = {label};
    for (double v : columns) row.push_back(by_value.count(v) ? by_value[v] : "");
    out.AddRow(row);
  }
  return out.Render();
}

// Every planned run: its state, numbers and provenance.
std::string RunsTable(const std::vector<PlannedRun>& runs, const std::string& metric) {
  MarkdownTable runs_table({"run", "state", metric, "pretext top-1", "loss", "epochs", "wall", "img/s", "config hash",
                            "commit", "device", "record"});
  for (const PlannedRun& run : runs) {
    if (run.state != RunState::kDone) {
      runs_table.AddRow({run.name, RunStateName(run.state), "", "", "", "", "", "", run.config_hash});
      continue;
    }
    const config::RunRecord& r = *run.record;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    runs_table.AddRow({run.name, Metric(r, "diverged", 0) > 0 ? "diverged" : "done", Number(Metric(r, metric, nan)),
                       Number(Metric(r, "pretext_top1", nan)), absl::StrFormat("%.3f", Metric(r, "loss", nan)),
                       absl::StrFormat("%.0f", Metric(r, "epochs", 0)), DurationText(r.wall_seconds()),
                       absl::StrFormat("%.0f", Metric(r, "images_per_second", 0)), r.config_hash(), r.git_commit(),
                       absl::StrFormat("%s x%d", r.device(), r.threads()),
                       absl::StrCat("runs/", fs::path(run.record_path).filename().string())});
  }
  return runs_table.Render();
}

}  // namespace

std::string RenderReport(const config::TableConfig& table, const std::vector<PlannedRun>& runs,
                         const std::vector<Cell>& cells, const std::vector<Finding>& findings,
                         const std::string& metric, const std::string& plot_file,
                         const std::string& gap_plot_file, const std::string& curve_section) {
  std::string md = ReportHeader(table, runs, metric);
  absl::StrAppend(&md, "## Ours (measured)\n\n", SeriesTable(table, cells, [](const Cell& c) -> std::string {
                    if (c.runs_done == 0) return "not run";
                    std::string text = Describe(c);
                    if (c.runs_done < c.runs_planned) {
                      absl::StrAppend(&text, " (", c.runs_done, "/", c.runs_planned, " seeds)");
                    }
                    return text;
                  }));
  absl::StrAppend(&md, "\nFinal-epoch pretext (K+1)-way top-1 and loss, for reference:\n\n",
                  SeriesTable(table, cells, [](const Cell& c) -> std::string {
                    if (c.runs_done == 0) return "";
                    if (c.diverged == c.runs_done) return "diverged";
                    return absl::StrFormat("%.1f%% / %.2f", c.pretext_top1, c.loss);
                  }));
  bool any_published = false;
  for (const Cell& c : cells) any_published = any_published || !std::isnan(c.published);
  if (any_published) {
    absl::StrAppend(&md, "\n## Published (not ours)\n\n", table.published_source(), "\n\n",
                    SeriesTable(table, cells, [](const Cell& c) { return Number(c.published); }));
  }
  if (!plot_file.empty()) {
    absl::StrAppend(&md, "\n## Plot (ours)\n\n![", table.title(), "](", plot_file, ")\n");
  }
  if (!gap_plot_file.empty()) {
    absl::StrAppend(&md, "\n## The gaps against ", table.axis_label(), " (ours)\n\n![the gaps](", gap_plot_file,
                    ")\n");
  }
  absl::StrAppend(&md, curve_section);
  absl::StrAppend(&md, "\n## ", table.findings_heading(), "\n\n");
  for (const Finding& f : findings) {
    absl::StrAppend(&md, "- **", VerdictName(f.verdict), "**: ", f.claim, ". ", f.evidence, ".\n");
  }
  if (table.notes_size() > 0) {
    absl::StrAppend(&md, "\nNotes on this tier:\n\n");
    for (const std::string& note : table.notes()) absl::StrAppend(&md, "- ", note, "\n");
  }
  absl::StrAppend(&md, "\n## Runs\n\n", RunsTable(runs, metric));
  return md;
}

std::vector<double> LogAxisTicks(std::vector<double> values) {
  std::sort(values.begin(), values.end(), std::greater<double>());
  std::vector<double> ticks;
  for (double v : values) {
    if (ticks.empty() || v < ticks.back() / 1.05) ticks.push_back(v);
  }
  return ticks;
}

absl::Status WritePlot(const config::TableConfig& table, const std::vector<Cell>& cells, const std::string& metric,
                       const std::string& png_path) {
  const std::string data_path = png_path + ".dat";
  const std::vector<std::string> series_order = SeriesOrder(cells);
  // Categorical axes (momentum, shuffle on/off) plot at positions 0, 1, 2 ... with the values as labels.
  std::vector<double> categories;
  for (const Cell& c : cells) {
    if (std::find(categories.begin(), categories.end(), c.plot_value) == categories.end())
      categories.push_back(c.plot_value);
  }
  std::sort(categories.begin(), categories.end());
  auto position = [&](double v) {
    if (table.log_axis()) return v;
    return static_cast<double>(std::find(categories.begin(), categories.end(), v) - categories.begin());
  };
  std::string data;  // written only when there is something to plot
  std::vector<std::string> plots;
  int block = 0;
  for (const std::string& s : series_order) {
    std::string label;
    int points = 0;
    for (const Cell& c : cells) {
      if (c.series_id != s || c.runs_done == 0 || std::isnan(c.mean)) continue;
      label = c.series_label;
      absl::StrAppendFormat(&data, "%.8g %.4f %.4f\n", position(c.plot_value), c.mean, c.spread);
      ++points;
    }
    if (points == 0) continue;
    data += "\n\n";
    plots.push_back(absl::StrFormat("%s index %d using 1:2:3 with yerrorlines linewidth 2 pointtype 7 title %s",
                                    GnuplotString(data_path), block++, GnuplotString(label)));
  }
  if (plots.empty()) return absl::FailedPreconditionError("no finished runs to plot yet");
  std::ofstream(data_path) << data;
  std::ostringstream script;
  script << "set terminal pngcairo noenhanced size 900,560 font 'sans,11'\n"
         << "set output " << GnuplotString(png_path) << "\n"
         << "set title " << GnuplotString(absl::StrCat(table.title(), " (ours, ", config::Tier_Name(table.tier()), " tier)")) << "\n"
         << "set xlabel " << GnuplotString(table.axis_label()) << "\n"
         << "set ylabel " << GnuplotString(absl::StrCat(metric, " (%)")) << "\n"
         << "set grid\nset key bottom right\n";
  if (table.log_axis()) {
    const std::vector<double> ticks = LogAxisTicks(categories);
    script << "set logscale x 2\nset xtics (";
    for (size_t i = 0; i < ticks.size(); ++i) script << (i ? ", " : "") << GnuplotString(Value(ticks[i])) << " " << ticks[i];
    script << ")\nset xrange [" << categories.front() / 1.5 << ":" << categories.back() * 1.5 << "]\n";
  } else {
    script << "set xtics (";
    for (size_t i = 0; i < categories.size(); ++i) script << (i ? ", " : "") << GnuplotString(Value(categories[i])) << " " << i;
    script << ")\nset xrange [-0.5:" << categories.size() - 0.5 << "]\n";
  }
  script << "plot " << absl::StrJoin(plots, ", ") << "\n";
  absl::Status drawn = RunGnuplot(script.str(), png_path);
  std::error_code ec;
  fs::remove(data_path, ec);
  return drawn;
}

std::vector<std::pair<double, double>> GapByValue(const config::Gap& gap, const std::vector<Cell>& cells) {
  std::map<double, double> a, b;
  for (const Cell& c : cells) {
    if (c.runs_done == 0 || c.runs_done != c.runs_planned || std::isnan(c.mean)) continue;
    if (c.series_id == gap.a()) a[c.value] = c.mean;
    if (c.series_id == gap.b()) b[c.value] = c.mean;
  }
  std::vector<std::pair<double, double>> out;
  for (const auto& [value, mean] : a) {
    if (b.count(value)) out.emplace_back(value, mean - b[value]);
  }
  return out;
}

absl::Status WriteGapPlot(const config::TableConfig& table, const std::vector<Cell>& cells, const std::string& metric,
                          const std::string& png_path) {
  const std::string data_path = png_path + ".dat";
  std::string data;
  std::vector<std::string> plots;
  std::vector<double> values;
  int block = 0;
  for (const config::Gap& gap : table.gaps()) {
    const std::vector<std::pair<double, double>> points = GapByValue(gap, cells);
    if (points.size() < 2) continue;
    for (const auto& [value, g] : points) {
      absl::StrAppendFormat(&data, "%.8g %.4f\n", value, g);
      values.push_back(value);
    }
    data += "\n\n";
    plots.push_back(absl::StrFormat("%s index %d using 1:2 with linespoints linewidth 2 pointtype 7 title %s",
                                    GnuplotString(data_path), block++,
                                    GnuplotString(absl::StrCat(gap.label(), " (paper: ",
                                                               gap.paper_sign() > 0   ? "above 0"
                                                               : gap.paper_sign() < 0 ? "below 0"
                                                                                      : "near 0",
                                                               ")"))));
  }
  if (plots.empty()) return absl::FailedPreconditionError("no gap has two axis values done yet");
  std::sort(values.begin(), values.end());
  std::ofstream(data_path) << data;
  std::ostringstream script;
  script << "set terminal pngcairo noenhanced size 900,560 font 'sans,11'\n"
         << "set output " << GnuplotString(png_path) << "\n"
         << "set title " << GnuplotString(absl::StrCat("Gaps, a - b (ours, ", config::Tier_Name(table.tier()), " tier)"))
         << "\n"
         << "set xlabel " << GnuplotString(table.axis_label()) << "\n"
         << "set ylabel " << GnuplotString(absl::StrCat(metric, " difference (points)")) << "\n"
         << "set grid\nset key outside bottom center vertical\nset xzeroaxis linewidth 2\n";
  if (table.log_axis()) {
    script << "set logscale x 2\nset xrange [" << values.front() / 1.5 << ":" << values.back() * 1.5 << "]\n";
  }
  script << "plot " << absl::StrJoin(plots, ", ") << "\n";
  absl::Status drawn = RunGnuplot(script.str(), png_path);
  std::error_code ec;
  fs::remove(data_path, ec);
  return drawn;
}

}  // namespace moco
