// Weighted kNN accuracy (InstDisc's monitor, moco/train/knn_monitor.h) of an encoder: a pretrainer checkpoint,
// a torchvision state dict or official MoCo checkpoint (with --config), or a config's encoder at
// random initialisation; writes a RunRecord (kind "knn").
//
//   bazel run //eval:knn -- --checkpoint=runs/smoke/moco_cifar10/checkpoint.pt
//   bazel run //eval:knn -- --checkpoint=random --config=configs/smoke/moco_cifar10.pbtxt
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "eval/eval_flags.h"
#include "eval/eval_run.h"
#include "configs/record.h"

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Measures the weighted kNN top-1 accuracy (k = eval.knn_k, t = eval.knn_t) of an encoder on the config's\n"
      "test split, with its training split as the memory, and writes a RunRecord.\n"
      "Usage: knn --checkpoint=PATH|random [--config=FILE] [--set='TEXT PROTO'] [--threads=N]\n"
      "           [--max_train_images=N] [--max_test_images=N] [--seed=N] [--output=record.json]");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  moco::PinGitCommit();  // records name the commit this run started from
  if (rest.size() > 1) {
    std::cerr << "knn: error: unexpected argument '" << rest[1] << "'\n";
    return 1;
  }
  moco::EvalRunOptions options = moco::EvalRunOptionsFromFlags();
  options.log = &std::cout;
  absl::StatusOr<moco::EvalRunResult> result = moco::RunKnnEval(options);
  if (!result.ok()) {
    std::cerr << "knn: error: " << result.status().message() << "\n";
    return 1;
  }
  std::cout << "record: " << result->record_path << "\n";
  return 0;
}
