// Weighted kNN accuracy (InstDisc's monitor, eval/knn.h) of an encoder: a pretrainer checkpoint,
// a torchvision state dict or official MoCo checkpoint (with --config), or a config's encoder at
// random initialisation; writes a RunRecord (kind "knn").
//
//   bazel run //eval:knn -- --checkpoint=runs/smoke/moco_cifar10/checkpoint.pt
//   bazel run //eval:knn -- --checkpoint=random --config=configs/smoke/moco_cifar10.pbtxt
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
ABSL_FLAG(std::string, set, "", "Text-format overrides merged into the config, e.g. 'eval { knn_k: 20 }'.");
ABSL_FLAG(int, threads, -1, "Intra-op and data threads (overrides run.threads; 0: one per core).");
ABSL_FLAG(int, max_train_images, -1, "Use at most this many training images as the memory (0: all).");
ABSL_FLAG(int, max_test_images, -1, "Evaluate at most this many test images (0: all).");
ABSL_FLAG(int64_t, seed, -1, "Overrides run.seed (the random initialisation of --checkpoint=random).");
ABSL_FLAG(std::string, output, "",
          "Where the RunRecord goes (default: <checkpoint dir>/knn.json, or <run.output_dir>/knn_random_init.json).");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Measures the weighted kNN top-1 accuracy (k = eval.knn_k, t = eval.knn_t) of an encoder on the config's\n"
      "test split, with its training split as the memory, and writes a RunRecord.\n"
      "Usage: knn --checkpoint=PATH|random [--config=FILE] [--set='TEXT PROTO'] [--threads=N]\n"
      "           [--max_train_images=N] [--max_test_images=N] [--seed=N] [--output=record.json]");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::cerr << "knn: error: unexpected argument '" << rest[1] << "'\n";
    return 1;
  }
  moco::EvalRunOptions options;
  options.checkpoint = absl::GetFlag(FLAGS_checkpoint);
  options.config = absl::GetFlag(FLAGS_config);
  options.overrides = absl::GetFlag(FLAGS_set);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.max_train_images = absl::GetFlag(FLAGS_max_train_images);
  options.max_test_images = absl::GetFlag(FLAGS_max_test_images);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.output = absl::GetFlag(FLAGS_output);
  options.log = &std::cout;
  absl::StatusOr<moco::EvalRunResult> result = moco::RunKnnEval(options);
  if (!result.ok()) {
    std::cerr << "knn: error: " << result.status().message() << "\n";
    return 1;
  }
  std::cout << "record: " << result->record_path << "\n";
  return 0;
}
