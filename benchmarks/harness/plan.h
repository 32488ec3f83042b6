// Planning a table's sweep: expand a TableConfig (configs/table.proto) into one run per series,
// axis value and seed, and find which of them already have a result record. A run is done
// when a record with the same config hash exists under reports/<tier>/runs/ (whatever its
// file name: tables that share a run, like the momentum table's m = 0.99 and the queue table's
// K = 4096, run it once); a record under the run's name with another hash is stale.
//
//   MOCO_ASSIGN_OR_RETURN(config::TableConfig table, LoadTable("configs/tables/cpu/queue_size.pbtxt"));
//   MOCO_ASSIGN_OR_RETURN(std::vector<PlannedRun> runs, PlanTable(table, "reports/cpu/runs", "runs/cpu"));
//   for (const PlannedRun& run : runs) if (run.state != RunState::kDone) ...
#ifndef MOCO_BENCHMARKS_HARNESS_PLAN_H_
#define MOCO_BENCHMARKS_HARNESS_PLAN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "configs/experiment.pb.h"
#include "configs/record.pb.h"
#include "configs/table.pb.h"

namespace moco {

enum class RunState { kMissing, kStale, kDone };
const char* RunStateName(RunState state);

struct PlannedRun {
  std::string name;          // e.g. "moco_queue-4096-s0": the record's file name without .json
  std::string series_id;     // "moco_queue"
  std::string series_label;  // "MoCo"
  double value = 0;          // the axis value as configured (K, m, batch size, 0/1)
  double plot_value = 0;     // where it sits on the plot (end-to-end: K = batch - 1)
  double published = 0;      // the published number at this point; NaN where there is none
  uint64_t seed = 0;
  config::ExperimentConfig config;  // resolved, with name, seed and output_dir set
  std::string config_hash;          // ConfigHash(ConfigIdentity(config))
  std::string record_path;          // where this run's record is (or will be) written
  RunState state = RunState::kMissing;
  std::optional<config::RunRecord> record;  // the matching record, when done
  double relative_cost = 1.0;       // per image, against MoCo (dry-run estimates)
  // The point this one continues (a series of stops_of_one_run: the same run folder, stopped
  // at the previous value); empty for every other run. It starts only once that one is done.
  std::string continues;
};

// Reads a table file; errors name the file (and line for syntax errors).
absl::StatusOr<config::TableConfig> LoadTable(const std::string& path);

// Expands the table into runs, seed-major (every point with the first seed, then the second
// ...) so that a sweep cut short still covers the whole table once. Each config is validated;
// an error names the run and the field. Records are looked up in `records_dir`; checkpoints
// go to `runs_dir`/<name>.
absl::StatusOr<std::vector<PlannedRun>> PlanTable(const config::TableConfig& table, const std::string& records_dir,
                                                  const std::string& runs_dir);

// Training images per epoch the run will see (data.max_train_images, or the known size of the
// dataset: CIFAR-10 50,000, Fashion-MNIST 60,000, ImageNet-1k 1,281,167); 0 if unknown.
int64_t TrainImagesPerEpoch(const config::ExperimentConfig& config);

// Seconds a run is estimated to take: its measured wall time when done; otherwise from the
// measured speed of done runs of the same series (or any series, scaled by relative cost), else
// from the table's estimate_images_per_second. Returns 0 when nothing allows an estimate.
double EstimateSeconds(const config::TableConfig& table, const PlannedRun& run,
                       const std::vector<PlannedRun>& all_runs);

}  // namespace moco

#endif  // MOCO_BENCHMARKS_HARNESS_PLAN_H_
