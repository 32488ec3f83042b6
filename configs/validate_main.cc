// Parses, validates and prints an experiment config with every default written out.
//
//   bazel run //configs:validate -- --config=configs/cpu/moco_cifar10.pbtxt
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "configs/config.h"
#include "moco/common/paths.h"

ABSL_FLAG(std::string, config, "configs/smoke/quickstart.pbtxt",
          "Experiment config (.pbtxt) to validate and print.");
ABSL_FLAG(int, world_size, 1, "Number of training processes the config is checked against.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Validates an ExperimentConfig and prints it fully resolved.\n"
      "Usage: validate --config=FILE [--world_size=N]");
  absl::ParseCommandLine(argc, argv);
  const std::string path = moco::UserPath(absl::GetFlag(FLAGS_config));
  absl::StatusOr<moco::ExperimentConfig> config = moco::LoadConfig(path);
  if (!config.ok()) {
    std::cerr << "error: " << config.status().message() << "\n";
    return 1;
  }
  if (absl::Status status = moco::Validate(*config, absl::GetFlag(FLAGS_world_size)); !status.ok()) {
    std::cerr << "error: " << path << ": " << status.message() << "\n";
    return 1;
  }
  std::cout << "# " << path << ": valid\n" << moco::ToText(moco::Resolve(*config));
  return 0;
}
