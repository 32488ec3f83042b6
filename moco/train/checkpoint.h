// Checkpoints: everything needed to resume a run bit-for-bit on CPU (the mechanism's
// parameters and buffers, hence both encoders and the queue or bank; the optimizer state; the
// global RNG state; epoch and step; the resolved config that produced them), written
// atomically: to a temporary file, fsync'ed, then renamed over the old one, so a crash at any
// moment leaves either the previous checkpoint or the new one, never a torn file. A checksum
// footer makes a truncated or corrupted file (a bad disk, a copy cut short) fail to load with
// an error naming it, instead of resuming from garbage.
//
//   MOCO_RETURN_IF_ERROR(SaveCheckpoint(path, state, *mechanism, optimizer));
//   MOCO_ASSIGN_OR_RETURN(CheckpointState state, LoadCheckpoint(path, *mechanism, optimizer));
#ifndef MOCO_TRAIN_CHECKPOINT_H_
#define MOCO_TRAIN_CHECKPOINT_H_

#include <torch/nn/module.h>
#include <torch/optim/sgd.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "configs/experiment.pb.h"

namespace moco {

struct CheckpointState {
  int64_t epoch = 0;       // epochs completed
  int64_t step = 0;        // optimizer steps completed
  std::string config;      // the config's identity (ConfigIdentity): what the run's result depends on
  // The config's eval { } section (text format), which the identity leaves out: the settings of
  // the evaluators run on this checkpoint later (linear probe lr, detection). Empty in checkpoints
  // written before it was kept.
  std::string eval_config;
  double random_init_knn = -1;  // kNN top-1 of the encoder at initialisation (-1: not measured)
  double wall_seconds = 0;      // wall time spent on the run so far, over all sessions that resumed it
  // Sums over the steps of the current epoch (at an epoch's end: of that epoch), so that a run
  // resumed mid-epoch reports the same epoch means as one never stopped.
  double epoch_loss_sum = 0;
  double epoch_accuracy_sum = 0;
  int64_t epoch_steps = 0;
  // Step timing over all sessions (the first step of each session is not timed).
  double train_seconds = 0;
  double data_wait_seconds = 0;
  int64_t steps_timed = 0;
  // Every step's loss so far, where a run's record needs its history after a resume (detection
  // fine-tuning's final loss); empty in pretraining checkpoints.
  std::vector<double> losses;
};

absl::Status SaveCheckpoint(const std::string& path, const CheckpointState& state, torch::nn::Module& model,
                            torch::optim::SGD& optimizer);

// The 64-bit checksum of the checkpoint footer (not cryptographic).
uint64_t Checksum64(absl::string_view bytes);

// Epoch, step, config and the other scalars of a checkpoint, without loading a model.
absl::StatusOr<CheckpointState> ReadCheckpointState(const std::string& path);

// The config a pretrainer checkpoint was trained with: its identity (ConfigIdentity) with the
// eval { } settings kept beside it restored. Checkpoints from before those were kept give the
// identity's kNN settings and defaults for the rest of eval { }.
absl::StatusOr<config::ExperimentConfig> ReadCheckpointExperiment(const std::string& path);

// The config a checkpoint was written with, without loading anything else into a model.
absl::StatusOr<std::string> ReadCheckpointConfig(const std::string& path);

// The model's parameters and buffers as saved in a checkpoint, by name (for example
// "encoder_q.conv1.weight", "queue.queue"), without a model to load them into.
absl::StatusOr<std::map<std::string, at::Tensor>> ReadCheckpointTensors(const std::string& path);

// Every entry in which two checkpoints differ, bit for bit: parameters, buffers (the queue or
// bank), optimizer state, RNG, epoch, step, config, epoch sums; not the timing entries. Empty
// when the runs that wrote them did exactly the same work.
absl::StatusOr<std::vector<std::string>> CheckpointDifferences(const std::string& a, const std::string& b);

// Restores `model` and `optimizer` in place. Errors name the file: missing, unreadable,
// truncated, or holding tensors that do not fit `model`.
absl::StatusOr<CheckpointState> LoadCheckpoint(const std::string& path, torch::nn::Module& model,
                                               torch::optim::SGD& optimizer);

}  // namespace moco

#endif  // MOCO_TRAIN_CHECKPOINT_H_
