// The one training loop, shared by MoCo, both baselines and the supervised reference: data
// (two-view loader), mechanism step, gradient all-reduce, SGD with the configured schedule,
// the kNN monitor, atomic checkpoints and resume, the run's log (run_log.h: progress lines with
// ETA, TensorBoard, metrics.jsonl, curves.png), and a stop at a non-finite loss (divergence: an
// outcome with its record; the last good checkpoint stays intact).
//
//   TrainOptions options;
//   MOCO_ASSIGN_OR_RETURN(TrainResult result, Train(config, options));
//
// Outputs in config.run.output_dir: checkpoint.pt, metrics.jsonl (one line per epoch), curves.png,
// TensorBoard event files and record.json (the run's RunRecord: final numbers and provenance,
// configs/record.proto).
#ifndef MOCO_TRAIN_TRAINER_H_
#define MOCO_TRAIN_TRAINER_H_

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <torch/nn/module.h>
#include <torch/optim/sgd.h>

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "configs/experiment.pb.h"
#include "configs/record.pb.h"
#include "moco/contrastive/mechanism.h"
#include "moco/data/batch.h"
#include "moco/distributed/process_group.h"

namespace moco {

struct TrainOptions {
  // Continue from output_dir/checkpoint.pt when it exists (it must come from the same config).
  bool resume = true;
  // Start over: rank 0 deletes output_dir's checkpoint, metrics, record, curves and event files,
  // then every process waits for it (a barrier), so no rank resumes what is being deleted.
  bool fresh = false;
  // Progress lines go here (rank 0 only); nullptr silences them.
  std::ostream* log = nullptr;
  // Measure the kNN accuracy of the encoder at initialisation, for comparison.
  bool knn_at_init = true;
  // Called with each step's loss before the non-finite check; tests use it to inject faults.
  std::function<void(int64_t step, at::Tensor& loss)> on_loss;
};

struct TrainResult {
  std::string mechanism;
  int64_t epochs_completed = 0;
  int64_t steps = 0;
  double knn_top1 = -1;         // final kNN top-1 on the test split, in %; -1 if not run
  double random_init_knn = -1;  // the same encoder at initialisation, in %; -1 if not run
  double last_loss = 0;
  double last_pretext_top1 = 0;  // in %
  double last_epoch_loss = 0;          // mean over the last epoch trained
  double last_epoch_pretext_top1 = 0;  // in %, mean over the last epoch trained
  double images_per_second = 0;  // training steps only, over all processes
  // Of the step time, the part spent getting the next batch onto the device (with data.augment_on
  // DEVICE: making its views there too).
  double data_wait_fraction = 0;
  double wall_seconds = 0;        // this session
  double total_wall_seconds = 0;  // all sessions of the run (resumes add up)
  bool finished = false;  // all epochs of the schedule done
  // All epochs this run was to train: the schedule's, or run.stop_after_epochs (false when
  // stopped by run.max_steps).
  bool complete = false;
  // A non-finite loss stopped the run at `diverged_at_step` (before that step's update; the
  // checkpoint on disk is the last good one). Divergence is an outcome, not an error: Train returns
  // it with its record (metrics diverged, diverged_at_step, last_finite_loss; loss NaN) and
  // `divergence` says what happened. Every other failure is an error, and writes no record.
  bool diverged = false;
  int64_t diverged_at_step = 0;
  std::string divergence;
  // The run's result record (kind "pretrain"), also written to output_dir/record.json.
  config::RunRecord record;
};

absl::StatusOr<TrainResult> Train(const config::ExperimentConfig& config, const TrainOptions& options);

// The SGD optimizer of a run: over `model`'s parameters that require gradients, with the
// config's scaled lr, momentum and weight decay (what the trainer and the benchmarks step).
std::unique_ptr<torch::optim::SGD> MakeSgd(const config::ExperimentConfig& config, torch::nn::Module& model);

// One training step in two halves, as Train() runs it (and the throughput benchmark times it);
// the trainer checks the loss for a non-finite value between them.
// StepForward: the mechanism's forward pass and own updates on `batch` (its views already on
// `device`), its encoders under bf16 autocast when `bf16` (PickBf16), the head in float32.
absl::StatusOr<StepOutput> StepForward(Mechanism& mechanism, const TrainBatch& batch, int64_t step,
                                       c10::Device device, bool bf16);
// StepBackward: gradients of out.loss, averaged over `group`'s processes, and one SGD step.
absl::Status StepBackward(const StepOutput& out, torch::optim::SGD& sgd, const ProcessGroupHandle& group);

}  // namespace moco

#endif  // MOCO_TRAIN_TRAINER_H_
