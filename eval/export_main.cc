// Writes an encoder's backbone as a PyTorch state dict under torchvision's names.
//
//   bazel run //eval:export -- --checkpoint=runs/x/checkpoint.pt --out=resnet.pth
//   # Python: torchvision.models.resnet50().load_state_dict(torch.load("resnet.pth"), strict=False)
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "eval/eval_run.h"

ABSL_FLAG(std::string, checkpoint, "", "Encoder: checkpoint.pt, a PyTorch .pth file, or 'random'.");
ABSL_FLAG(std::string, config, "",
          "Experiment config (.pbtxt) giving the architecture; needed for PyTorch files and 'random'.");
ABSL_FLAG(std::string, out, "", "The .pth file to write (relative paths: from where bazel run was started).");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Writes the backbone of an encoder (no fc.*) as a state dict with torchvision's parameter names, loadable\n"
      "by torch.load (weights_only=True too) and torchvision.models.resnet18/34/50(...).load_state_dict(d,\n"
      "strict=False) for standard-stem, width-1 encoders.\n"
      "Usage: export --checkpoint=PATH|random [--config=FILE] --out=FILE.pth");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::cerr << "export: error: unexpected argument '" << rest[1] << "'\n";
    return 1;
  }
  moco::EvalRunOptions options;
  options.checkpoint = absl::GetFlag(FLAGS_checkpoint);
  options.config = absl::GetFlag(FLAGS_config);
  absl::StatusOr<std::string> written = moco::RunExport(options, absl::GetFlag(FLAGS_out));
  if (!written.ok()) {
    std::cerr << "export: error: " << written.status().message() << "\n";
    return 1;
  }
  std::cout << *written << "\n";
  return 0;
}
