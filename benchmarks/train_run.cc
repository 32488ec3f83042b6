#include "benchmarks/train_run.h"

#include <chrono>
#include <iostream>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "configs/config.h"
#include "configs/record.h"
#include "moco/common/duration.h"
#include "moco/train/trainer.h"

namespace moco {

absl::Status TrainPlannedRun(const PlannedRun& run, int threads, bool lead) {
  config::ExperimentConfig config = run.config;
  if (threads >= 0) config.mutable_run()->set_threads(threads);
  TrainOptions options;
  options.resume = true;
  options.log = lead ? &std::cout : nullptr;
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<TrainResult> result = Train(config, options);
  config::RunRecord record;
  if (result.ok()) {
    record = result->record;
    if (!result->complete) return absl::InternalError(absl::StrCat(run.name, " stopped before its last epoch"));
  } else if (absl::IsDataLoss(result.status())) {
    record.set_kind("pretrain");
    record.set_config(ToText(Resolve(config)));
    record.set_config_hash(ConfigHash(ConfigIdentity(config)));
    record.set_seed(static_cast<int64_t>(run.seed));
    (*record.mutable_metrics())["diverged"] = 1;
    (*record.mutable_metrics())["loss"] = std::numeric_limits<double>::quiet_NaN();
    record.set_wall_seconds(SecondsSince(start));
    record.set_note(std::string(result.status().message()));
    FillProvenance(&record);
    std::cout << "reproduce: " << run.name << " diverged: " << result.status().message() << "\n";
  } else {
    return absl::Status(result.status().code(), absl::StrCat(run.name, ": ", result.status().message()));
  }
  record.set_name(run.name);
  if (record.config_hash() != run.config_hash) {
    return absl::InternalError(absl::StrCat(run.name, ": the trainer's config hash ", record.config_hash(),
                                            " differs from the plan's ", run.config_hash));
  }
  if (!lead) return absl::OkStatus();
  return WriteRecord(run.record_path, record);
}

}  // namespace moco
