// Turning a table's result records into its report: aggregates over seeds, the paper's
// findings checked one by one, a Markdown table with the published numbers beside ours (never
// mixed with them), and a plot through gnuplot.
//
//   std::vector<Cell> cells = Aggregate(runs, "knn_top1");
//   std::vector<Finding> findings = CheckFindings(table, cells);
//   MOCO_RETURN_IF_ERROR(WritePlot(table, cells, "knn_top1", "reports/cpu/queue_size.png"));
//   std::string markdown = RenderReport(table, runs, cells, findings, "knn_top1", "queue_size.png");
// Its tables go through MarkdownTable (markdown.h); gnuplot runs through moco/common/subprocess.h.
#ifndef MOCO_BENCHMARKS_HARNESS_REPORT_H_
#define MOCO_BENCHMARKS_HARNESS_REPORT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "benchmarks/harness/plan.h"
#include "configs/table.pb.h"

namespace moco {

// One point of a series, over its seeds: the mean and the spread (half the range between the
// lowest and the highest seed) of the table's metric, and of the pretext numbers.
struct Cell {
  std::string series_id;
  std::string series_label;
  std::string mechanism;  // "moco", "memory_bank", "end_to_end" or "supervised"
  double value = 0;       // axis value as configured
  double plot_value = 0;  // axis value on the plot
  double published = 0;   // NaN where the paper has none
  int runs_done = 0;
  int runs_planned = 0;
  int diverged = 0;       // runs stopped by a non-finite loss
  double mean = 0;        // of `metric`, over the done runs that did not diverge
  double spread = 0;      // half of (max - min)
  double pretext_top1 = 0;  // mean final-epoch pretext accuracy
  double loss = 0;          // mean final-epoch loss
  double chance_loss = 0;   // ln(negatives + 1): the loss of a model that learned nothing
  double random_init = 0;   // mean metric of the same encoder at initialisation (kNN only)
};

// Cells in table order (series, then values). `metric` names a metric in the records.
std::vector<Cell> Aggregate(const std::vector<PlannedRun>& runs, const std::string& metric);

// A configured axis value as text ("0.999", "4096"), and a cell's mean ± spread over its seeds
// ("46.48 ± 0.41"; the mean alone for one seed; "diverged").
std::string Value(double v);
std::string Describe(const Cell& c);

enum class Verdict { kHolds, kDoesNotHold, kNotTested };
const char* VerdictName(Verdict verdict);

struct Finding {
  std::string claim;     // the paper's finding
  Verdict verdict = Verdict::kNotTested;
  std::string evidence;  // the numbers behind the verdict, or what is missing
};

// The paper's findings this table can test, each from the cells (only points whose every
// planned run is done count):
// - momentum: m = 0 fails; the best m is >= 0.99.
// - queue_size: MoCo does not fall as K grows (within the seed spread); MoCo >= memory bank at
//   every K; end-to-end tracks MoCo at the K it reaches (within 2 points or the spread).
// - shuffle_bn: without shuffle BN the pretext accuracy rises and the kNN/linear accuracy falls.
// - length: each of the table's gaps moves toward the paper's sign as training grows.
// - precision (ours, not the paper's): each gap's bf16 series is within max(its fp32 twin's
//   seed range, 1 point) of it at every value.
std::vector<Finding> CheckFindings(const config::TableConfig& table, const std::vector<Cell>& cells);

// The report: title, how it was made, our table (mean ± spread, n seeds), the published table
// (labelled as such), the plot (when `plot_file` is not empty), `curve_section` (Markdown: ours
// beside a published curve, curve_report.h) when given, the findings, and per-run rows with
// provenance.
std::string RenderReport(const config::TableConfig& table, const std::vector<PlannedRun>& runs,
                         const std::vector<Cell>& cells, const std::vector<Finding>& findings,
                         const std::string& metric, const std::string& plot_file,
                         const std::string& gap_plot_file = "", const std::string& curve_section = "");

// One of a table's gaps (the training-length table's): (axis value, mean of a - mean of b) at
// each axis value where every planned run of both series is done, in axis order.
std::vector<std::pair<double, double>> GapByValue(const config::Gap& gap, const std::vector<Cell>& cells);

// The labelled values of a log axis, largest first: of values within 5% of each other only the
// largest (end-to-end's K = 255 beside MoCo's 256), so that labels do not print over each other.
std::vector<double> LogAxisTicks(std::vector<double> values);

// A PNG of the metric against the axis, one line per series with error bars, through gnuplot
// (Debian's gnuplot-nox, installed by tools/setup.sh); log scale when the table says so.
absl::Status WritePlot(const config::TableConfig& table, const std::vector<Cell>& cells, const std::string& metric,
                       const std::string& png_path);

// A PNG of each of the table's gaps (GapByValue) against the axis, with a line at 0; an error
// when the table has no gaps or none has two points.
absl::Status WriteGapPlot(const config::TableConfig& table, const std::vector<Cell>& cells, const std::string& metric,
                          const std::string& png_path);

}  // namespace moco

#endif  // MOCO_BENCHMARKS_HARNESS_REPORT_H_
