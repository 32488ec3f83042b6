// Ours beside a published curve, epoch by epoch (the notebook table): the published run read
// from its CSV, our seeds' per-epoch kNN top-1 and loss from their records' curves, the gap at
// each epoch, the rule of the table's published_curve checked, a Markdown section and a plot.
//
//   MOCO_ASSIGN_OR_RETURN(std::vector<PublishedEpoch> published, ReadPublishedCurve(table.published_curve().file()));
//   const CurveComparison comparison = CompareCurves(table, runs, published);
//   std::vector<Finding> findings = CurveFindings(table, comparison);
//   std::string markdown = RenderCurveSection(table, comparison, "notebook_curve.png");
#ifndef MOCO_BENCHMARKS_HARNESS_CURVE_REPORT_H_
#define MOCO_BENCHMARKS_HARNESS_CURVE_REPORT_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "benchmarks/harness/plan.h"
#include "benchmarks/harness/report.h"
#include "configs/table.pb.h"

namespace moco {

// One epoch of a published run.
struct PublishedEpoch {
  int epoch = 0;
  double lr = 0;
  double loss = 0;
  double knn_top1 = 0;
};

// Reads epoch,lr,train_loss,knn_top1 rows ('#' lines are comments; the header row is checked).
// Errors name the file and the line.
absl::StatusOr<std::vector<PublishedEpoch>> ReadPublishedCurve(const std::string& path);

// One epoch where we have at least one seed's kNN top-1.
struct CurveRow {
  int epoch = 0;
  std::map<uint64_t, double> knn;   // by seed
  std::map<uint64_t, double> loss;  // by seed
  bool all_seeds = false;           // every seed of the table has the kNN here
  double knn_mean = 0, loss_mean = 0;
  const PublishedEpoch* published = nullptr;  // null past the published run's end
};

struct CurveComparison {
  std::vector<uint64_t> seeds;
  std::vector<CurveRow> rows;  // by epoch
  int planned_epochs = 0;      // the largest stop of the table's runs
  // Over the epochs with every seed and a published number: the largest |mean - published|,
  // its epoch, and the mean signed gap.
  int compared_epochs = 0;
  double worst_gap = 0;
  int worst_epoch = 0;
  double mean_gap = 0;
};

// For each seed, the curve of its longest finished piece (a later piece's record holds the
// earlier epochs too), beside the published run.
CurveComparison CompareCurves(const std::vector<PlannedRun>& runs, const std::vector<PublishedEpoch>& published);

// The rule of table.published_curve(), checked on the epochs where every seed has the kNN.
std::vector<Finding> CurveFindings(const config::TableConfig& table, const CurveComparison& comparison);

// "## Ours beside the published curve": the rule, a table per epoch (published kNN and loss,
// ours per seed, our mean, the gap), and the plot when `plot_file` is not empty.
std::string RenderCurveSection(const config::TableConfig& table, const CurveComparison& comparison,
                               const std::string& plot_file);

// The plot: kNN top-1 (left) and training loss (right) against epoch, published and ours.
absl::Status WriteCurvePlot(const config::TableConfig& table, const CurveComparison& comparison,
                            const std::vector<PublishedEpoch>& published, const std::string& png_path);

}  // namespace moco

#endif  // MOCO_BENCHMARKS_HARNESS_CURVE_REPORT_H_
