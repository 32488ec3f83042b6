#include "eval/eval_flags.h"

#include <cstdint>
#include <string>

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, checkpoint, "", "Encoder to evaluate: checkpoint.pt, a PyTorch .pth file, or 'random'.");
ABSL_FLAG(std::string, config, "",
          "Experiment config (.pbtxt); default: the checkpoint's own. Required for PyTorch files and 'random'.");
ABSL_FLAG(std::string, set, "",
          "Text-format overrides merged into the config, e.g. 'eval { knn_k: 20 }' or 'eval { linear_lr: 10 }'.");
ABSL_FLAG(int, threads, -1, "Intra-op and data threads (overrides run.threads; 0: one per core).");
ABSL_FLAG(int, max_train_images, -1,
          "Use at most this many training images (the kNN memory, or the classifier's training set; 0: all).");
ABSL_FLAG(int, max_test_images, -1, "Evaluate at most this many test images (0: all).");
ABSL_FLAG(int64_t, seed, -1,
          "Overrides run.seed (a random encoder's initialisation; for linear also the classifier's "
          "initialisation, order and views).");
ABSL_FLAG(std::string, output, "",
          "Where the RunRecord goes (default: <checkpoint dir>/<kind>.json, or <run.output_dir>/<kind>_random_init.json; "
          "kind: knn, linear_fast or linear).");

namespace moco {

EvalRunOptions EvalRunOptionsFromFlags() {
  EvalRunOptions options;
  options.checkpoint = absl::GetFlag(FLAGS_checkpoint);
  options.config = absl::GetFlag(FLAGS_config);
  options.overrides = absl::GetFlag(FLAGS_set);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.max_train_images = absl::GetFlag(FLAGS_max_train_images);
  options.max_test_images = absl::GetFlag(FLAGS_max_test_images);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.output = absl::GetFlag(FLAGS_output);
  return options;
}

}  // namespace moco
