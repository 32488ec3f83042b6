// What the evaluation binaries (//eval:knn, //eval:linear, //eval:detection, //eval:export) do, behind their
// flags: pick the config (the checkpoint's own, or --config), load the encoder (a pretrainer
// checkpoint, a torchvision state dict, an official MoCo checkpoint, or "random" for the
// config's encoder at its seeded initialisation), load the data, evaluate with progress lines,
// and write the RunRecord (configs/record.proto). The *_main.cc files only parse flags; this
// header includes no LibTorch, so they compile fast.
//
//   EvalRunOptions options;
//   options.checkpoint = "runs/smoke/moco_cifar10/checkpoint.pt";
//   options.log = &std::cout;
//   MOCO_ASSIGN_OR_RETURN(EvalRunResult r, RunLinearEval(options, LinearMode::kFast));
//   // r.record.metrics(): {"top1": ..., "top5": ...}; written to r.record_path
#ifndef MOCO_EVAL_EVAL_RUN_H_
#define MOCO_EVAL_EVAL_RUN_H_

#include <cstdint>
#include <iosfwd>
#include <string>

#include "absl/status/statusor.h"
#include "configs/record.pb.h"

namespace moco {

struct EvalRunOptions {
  // A pretrainer checkpoint.pt, a Python torch.save file (torchvision state dict or official
  // MoCo checkpoint), or "random" (kRandomInit, encoder_io.h). Relative paths are the user's
  // (moco::UserPath).
  std::string checkpoint;
  // Experiment config (.pbtxt). Optional for pretrainer checkpoints (their own config is used);
  // required for Python files (the architecture) and for "random".
  std::string config;
  // Text-format overrides merged into the config, e.g. "eval { knn_k: 20 }".
  std::string overrides;
  // Overrides of single fields; negative: keep the config's.
  int epochs = -1;            // eval.linear_epochs (the lr drops are rescaled to it)
  int threads = -1;           // run.threads
  int max_train_images = -1;  // data.max_train_images
  int max_test_images = -1;   // data.max_test_images
  int64_t seed = -1;          // run.seed
  // Where the record goes. Empty: beside the checkpoint (<dir>/<kind>.json for checkpoint.pt,
  // <dir>/<file stem>.<kind>.json otherwise), or <run.output_dir>/<kind>_random_init.json.
  std::string output;
  // Progress lines; nullptr silences them.
  std::ostream* log = nullptr;
  // The flag that gave `checkpoint`, for messages ("checkpoint"; //eval:detection's is "init").
  std::string checkpoint_flag = "checkpoint";
};

// What detection transfer adds to the options (//eval:detection's flags).
struct DetectionEvalOptions {
  std::string bn;          // "trained" or "frozen"; empty: eval.detection.bn
  std::string schedule;    // "1x" or "2x"; empty: eval.detection.schedule
  std::string output_dir;  // empty: <run.output_dir>/detection
  int64_t max_iterations = 0;  // stop early (0: the whole schedule); a later run with more resumes
  bool fresh = false;          // delete output_dir's checkpoint.pt first
};

struct EvalRunResult {
  config::RunRecord record;
  std::string record_path;
};

enum class LinearMode { kFast, kPaper };

// The weighted kNN classifier of moco/train/knn_monitor.h (eval.knn_k, eval.knn_t) on the test split, with
// the training split as memory. Record kind "knn", metric "knn_top1" (%).
absl::StatusOr<EvalRunResult> RunKnnEval(const EvalRunOptions& options);

// Linear classification (eval/linear.h). Record kind "linear_fast" or "linear", metrics
// "top1", "top5" (%), "train_loss".
absl::StatusOr<EvalRunResult> RunLinearEval(const EvalRunOptions& options, LinearMode mode);

// Detection transfer (eval/detection/detection.h) of options.checkpoint's encoder, whose
// architecture options.config's model { } must describe (the config is required: its
// eval.detection is the run). Under the built-in launcher, torchrun or SLURM (RANK, WORLD_SIZE, ...
// set) this process is one of several (Gloo on CPUs, NCCL on GPUs); rank 0 writes the outputs and
// logs the summary. Record kind "detection", metrics AP, AP50, AP75, APs, APm, APl.
absl::StatusOr<EvalRunResult> RunDetectionEval(const EvalRunOptions& options, const DetectionEvalOptions& detection);

// Loads options.checkpoint (LoadEncoder) and writes its backbone under torchvision's names to
// `out` (ExportTorchvision). Returns a one-line description of what was written.
absl::StatusOr<std::string> RunExport(const EvalRunOptions& options, const std::string& out);

}  // namespace moco

#endif  // MOCO_EVAL_EVAL_RUN_H_
