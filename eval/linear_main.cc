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
#include "eval/eval_flags.h"
#include "eval/eval_run.h"
#include "configs/record.h"

ABSL_FLAG(std::string, mode, "fast",
          "fast: train on cached features of the evaluation view; paper: new random-resized-crop and flip views "
          "every epoch, features recomputed each step (the paper's protocol, much slower).");
ABSL_FLAG(int, epochs, -1, "Overrides eval.linear_epochs; the lr drops (60% and 80%) are rescaled to it.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Trains a linear classifier on the frozen encoder's pooled features (SGD, eval.linear_* of the config:\n"
      "lr 30, momentum 0.9, no weight decay, 100 epochs, lr x0.1 at 60 and 80 as in the paper) and reports\n"
      "its top-1 / top-5 accuracy on the config's test split; writes a RunRecord.\n"
      "Usage: linear --checkpoint=PATH|random [--config=FILE] [--mode=fast|paper] [--epochs=N] [--set='TEXT']\n"
      "              [--threads=N] [--max_train_images=N] [--max_test_images=N] [--seed=N] [--output=record.json]");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  moco::PinGitCommit();  // records name the commit this run started from
  if (rest.size() > 1) {
    std::cerr << "linear: error: unexpected argument '" << rest[1] << "'\n";
    return 1;
  }
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode != "fast" && mode != "paper") {
    std::cerr << "linear: error: --mode must be 'fast' or 'paper', got '" << mode << "'\n";
    return 1;
  }
  moco::EvalRunOptions options = moco::EvalRunOptionsFromFlags();
  options.epochs = absl::GetFlag(FLAGS_epochs);
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
