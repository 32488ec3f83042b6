// Training one planned run of a sweep (benchmarks/harness/sweep.h's `train`): the trainer
// (moco/train/trainer.h), resuming from the run's checkpoint, and the run's result record. A run
// stopped by a non-finite loss gets a record that says it diverged (a result, e.g. for m = 0);
// any other failure is an error that stops the sweep.
//
//   options.train = [&](const PlannedRun& run) { return TrainPlannedRun(run, threads, lead); };
#ifndef MOCO_BENCHMARKS_TRAIN_RUN_H_
#define MOCO_BENCHMARKS_TRAIN_RUN_H_

#include "absl/status/status.h"
#include "benchmarks/harness/plan.h"

namespace moco {

// Trains `run` (with `threads` intra-op threads when >= 0, else its config's run.threads) and,
// when `lead` (rank 0 of a multi-process run), writes its record to run.record_path. An error
// when the trainer's config hash differs from the plan's.
absl::Status TrainPlannedRun(const PlannedRun& run, int threads, bool lead);

}  // namespace moco

#endif  // MOCO_BENCHMARKS_TRAIN_RUN_H_
