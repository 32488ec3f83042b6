// The learning-rate schedules of the paper and the official CIFAR recipe, and the epochs after
// which the kNN monitor runs, as pure functions of training progress (so a resumed run gets the
// same rates and passes).
//
//   double lr = LearningRate(config, /*epoch=*/5, /*step_in_epoch=*/10, steps_per_epoch);
//   if (KnnAfterEpoch(config, epoch, steps_per_epoch, total_steps)) ...
#ifndef MOCO_TRAIN_LR_SCHEDULE_H_
#define MOCO_TRAIN_LR_SCHEDULE_H_

#include <cstdint>

#include "configs/experiment.pb.h"

namespace moco {

// The rate for a step of `epoch` (0-based). The base rate is optim.lr scaled linearly by the
// global batch over optim.lr_reference_batch. STEP multiplies it by lr_drop_factor at each
// epoch of optim.lr_drop_epochs; COSINE follows half a cosine over the epochs, evaluated per
// epoch as the official code does; COSINE_NOTEBOOK is the CIFAR-10 notebook's variant, one
// epoch further along (epoch e of 1..epochs gets cos(pi * e / epochs)). Warm-up ramps linearly
// per step over warmup_epochs.
// `config` must be resolved (Resolve()), so that the STEP drops are filled in.
double LearningRate(const config::ExperimentConfig& config, int epoch, int64_t step_in_epoch,
                    int64_t steps_per_epoch);

// Whether the kNN monitor runs after `epoch` (0-based) of a run that stops at `total_steps`: after
// every eval.knn_every_epochs-th epoch, and after the run's last (the schedule's, or where it
// stops; an epoch cut short by run.max_steps ends with no pass).
bool KnnAfterEpoch(const config::ExperimentConfig& config, int64_t epoch, int64_t steps_per_epoch,
                   int64_t total_steps);

// The kNN passes still ahead of a run with `step` steps done (the pass after an epoch whose last
// step is done counts until it has run: the trainer reports a step before its epoch's pass).
int64_t KnnPassesLeft(const config::ExperimentConfig& config, int64_t step, int64_t steps_per_epoch,
                      int64_t total_steps);

}  // namespace moco

#endif  // MOCO_TRAIN_LR_SCHEDULE_H_
