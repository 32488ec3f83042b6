#include "benchmarks/train_run.h"

#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "configs/record.h"
#include "moco/train/trainer.h"

namespace moco {

absl::Status TrainPlannedRun(const PlannedRun& run, int threads, bool lead) {
  config::ExperimentConfig config = run.config;
  if (threads >= 0) config.mutable_run()->set_threads(threads);
  TrainOptions options;
  options.resume = true;
  options.log = lead ? &std::cout : nullptr;
  absl::StatusOr<TrainResult> result = Train(config, options);
  // Only a finished run, or one that diverged (an outcome, with the trainer's record), is a
  // record. Anything else (a corrupt checkpoint or image, a failed write) stops the sweep with its
  // message and writes nothing that a report would show as a result.
  if (!result.ok()) {
    return absl::Status(result.status().code(), absl::StrCat(run.name, ": ", result.status().message()));
  }
  if (result->diverged) {
    std::cout << "reproduce: " << run.name << " diverged: " << result->divergence << "\n";
  } else if (!result->complete) {
    return absl::InternalError(absl::StrCat(run.name, " stopped before its last epoch"));
  }
  config::RunRecord record = result->record;
  record.set_name(run.name);
  if (record.config_hash() != run.config_hash) {
    return absl::InternalError(absl::StrCat(run.name, ": the trainer's config hash ", record.config_hash(),
                                            " differs from the plan's ", run.config_hash));
  }
  if (!lead) return absl::OkStatus();
  return WriteRecord(run.record_path, record);
}

}  // namespace moco
