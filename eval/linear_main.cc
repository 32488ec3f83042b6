// Linear classification accuracy (eval/linear.h) of a frozen encoder: a pretrainer checkpoint,
// a torchvision state dict or official MoCo checkpoint (with --config), or a config's encoder at
// random initialisation; writes a RunRecord (kind "linear_fast" or "linear").
//
//   bazel run //eval:linear -- --checkpoint=runs/smoke/moco_cifar10/checkpoint.pt
//   bazel run //eval:linear -- --checkpoint=random --config=configs/smoke/moco_cifar10.pbtxt --epochs=20
//   bazel run //eval:linear -- --checkpoint=moco_v2_800ep_pretrain.pth.tar --config=... --mode=paper
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "eval/eval_run.h"

ABSL_FLAG(std::string, checkpoint, "", "Encoder to evaluate: checkpoint.pt, a PyTorch .pth file, or 'random'.");
ABSL_FLAG(std::string, config, "",
          "Experiment config (.pbtxt); default: the checkpoint's own. Required for PyTorch files and 'random'.");
ABSL_FLAG(std::string, set, "", "Text-format overrides merged into the config, e.g. 'eval { linear_lr: 10 }'.");
ABSL_FLAG(std::string, mode, "fast",
          "fast: train on cached features of the evaluation view; paper: new random-resized-crop and flip views "
          "every epoch, features recomputed each step (the paper's protocol, much slower).");
ABSL_FLAG(int, epochs, -1, "Overrides eval.linear_epochs; the lr drops (60% and 80%) are rescaled to it.");
ABSL_FLAG(int, threads, -1, "Intra-op and data threads (overrides run.threads; 0: one per core).");
ABSL_FLAG(int, max_train_images, -1, "Train the classifier on at most this many images (0: all).");
ABSL_FLAG(int, max_test_images, -1, "Evaluate at most this many test images (0: all).");
ABSL_FLAG(int64_t, seed, -1, "Overrides run.seed (classifier initialisation, order, views; random encoders).");
ABSL_FLAG(std::string, output, "",
          "Where the RunRecord goes (default: <checkpoint dir>/<kind>.json, or "
          "<run.output_dir>/<kind>_random_init.json).");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Trains a linear classifier on the frozen encoder's pooled features (SGD, eval.linear_* of the config:\n"
      "lr 30, momentum 0.9, no weight decay, 100 epochs, lr x0.1 at 60 and 80 as in the paper) and reports\n"
      "its top-1 / top-5 accuracy on the config's test split; writes a RunRecord.\n"
      "Usage: linear --checkpoint=PATH|random [--config=FILE] [--mode=fast|paper] [--epochs=N] [--set='TEXT']\n"
      "              [--threads=N] [--max_train_images=N] [--max_test_images=N] [--seed=N] [--output=record.json]");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::cerr << "linear: error: unexpected argument '" << rest[1] << "'\n";
    return 1;
  }
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode != "fast" && mode != "paper") {
    std::cerr << "linear: error: --mode must be 'fast' or 'paper', got '" << mode << "'\n";
    return 1;
  }
  moco::EvalRunOptions options;
  options.checkpoint = absl::GetFlag(FLAGS_checkpoint);
  options.config = absl::GetFlag(FLAGS_config);
  options.overrides = absl::GetFlag(FLAGS_set);
  options.epochs = absl::GetFlag(FLAGS_epochs);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.max_train_images = absl::GetFlag(FLAGS_max_train_images);
  options.max_test_images = absl::GetFlag(FLAGS_max_test_images);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.output = absl::GetFlag(FLAGS_output);
  options.log = &std::cout;
  absl::StatusOr<moco::EvalRunResult> result =
      moco::RunLinearEval(options, mode == "fast" ? moco::LinearMode::kFast : moco::LinearMode::kPaper);
  if (!result.ok()) {
    std::cerr << "linear: error: " << result.status().message() << "\n";
    return 1;
  }
  std::cout << "record: " << result->record_path << "\n";
  return 0;
}
