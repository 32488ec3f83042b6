// Detection transfer (the MoCo paper's PASCAL VOC protocol, eval/detection/detection.h): fine-tunes
// a Faster R-CNN C4 initialised from an encoder on the detection dataset of a config's
// eval.detection, evaluates COCO AP on its test split, and writes checkpoint.pt (the training
// state, every eval.detection.checkpoint_every_iterations; a run resumes from it), model_final.pt,
// record.json (kind "detection"), detections.json (COCO's results format) and detections.png to
// --output_dir.
//
//   bazel run //eval:detection -- --config=configs/detection/pennfudan_r18w025.pbtxt --init=random --output_dir=runs/d
//   bazel run //eval:detection -- --config=... --init=runs/cpu/moco_cifar10/checkpoint.pt --bn=frozen
//   bazel run //eval:detection -- --config=... --init=... --nproc_per_node=2   # SyncBN over 2 processes
//   torchrun --no-python --nproc_per_node=8 bazel-bin/eval/detection_main --config=... --init=...
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "configs/record.h"
#include "eval/eval_run.h"
#include "moco/distributed/worker_launcher.h"

ABSL_FLAG(std::string, config, "",
          "Experiment config (.pbtxt): model{} describes the encoder, eval.detection the detection run.");
ABSL_FLAG(std::string, init, "",
          "The encoder: 'random' (the config's model, freshly initialised with run.seed), a pretrainer "
          "checkpoint.pt (MoCo, a baseline or supervised), a torchvision state dict or an official MoCo "
          "checkpoint.");
ABSL_FLAG(std::string, bn, "",
          "trained: normalized fine-tuning, BN with batch statistics and learned affine parameters (the "
          "paper); frozen: BN with the encoder's stored statistics and frozen affine parameters. Default: "
          "eval.detection.bn.");
ABSL_FLAG(std::string, schedule, "", "1x or 2x (twice the iterations). Default: eval.detection.schedule.");
ABSL_FLAG(std::string, output_dir, "", "Where outputs go (default: <run.output_dir>/detection).");
ABSL_FLAG(int64_t, max_iters, 0,
          "Stop after this many iterations (0: the whole schedule); the lr schedule is kept, and a later run "
          "with more resumes from the stop.");
ABSL_FLAG(bool, fresh, false,
          "Start over: delete --output_dir's checkpoint.pt first (by default a run resumes from it, bit-identically "
          "on the CPU).");
ABSL_FLAG(int, threads, -1, "Intra-op threads (overrides run.threads; 0: one per core).");
ABSL_FLAG(int, nproc_per_node, 1,
          "Processes on this machine (Gloo on CPUs, NCCL on GPUs), each with an equal share of every batch, BN "
          "synchronised across them; under torchrun or SLURM (RANK, WORLD_SIZE, ... set) leave it at 1.");
ABSL_FLAG(std::string, set, "",
          "Text-format overrides merged into the config, e.g. 'eval { detection { iterations: 100 } }'.");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Fine-tunes a Faster R-CNN C4 (RPN and RoIAlign on res4, res5 as the box head) from an encoder with\n"
      "normalized fine-tuning (the MoCo paper's detection protocol) and reports COCO AP on the test split.\n"
      "Usage: detection --config=FILE --init=PATH|random [--bn=trained|frozen] [--schedule=1x|2x]\n"
      "                 [--output_dir=DIR] [--max_iters=N] [--fresh] [--threads=N] [--nproc_per_node=N]\n"
      "                 [--set='TEXT PROTO']");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  moco::PinGitCommit();  // records name the commit this run started from
  const auto fail = [](const absl::Status& status) {
    std::cerr << "detection: error: " << status.message() << "\n";
    return 1;
  };
  if (rest.size() > 1) return fail(absl::InvalidArgumentError(absl::StrCat("unexpected argument '", rest[1], "'")));
  const int nproc = absl::GetFlag(FLAGS_nproc_per_node);
  if (nproc < 1) return fail(absl::InvalidArgumentError(absl::StrCat("--nproc_per_node must be >= 1, got ", nproc)));
  if (nproc > 1 && std::getenv("RANK") == nullptr) {
    // The built-in launcher: this same command as `nproc` workers (the torchrun contract).
    std::vector<std::string> worker_argv = {std::filesystem::read_symlink("/proc/self/exe").string()};
    for (int i = 1; i < argc; ++i) worker_argv.push_back(argv[i]);
    worker_argv.push_back("--nproc_per_node=1");
    const absl::Status status = moco::LaunchWorkers(nproc, worker_argv);
    return status.ok() ? 0 : fail(status);
  }
  moco::EvalRunOptions options;
  options.checkpoint = absl::GetFlag(FLAGS_init);
  options.checkpoint_flag = "init";
  options.config = absl::GetFlag(FLAGS_config);
  options.overrides = absl::GetFlag(FLAGS_set);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.log = &std::cout;
  moco::DetectionEvalOptions detection;
  detection.bn = absl::GetFlag(FLAGS_bn);
  detection.schedule = absl::GetFlag(FLAGS_schedule);
  detection.output_dir = absl::GetFlag(FLAGS_output_dir);
  detection.max_iterations = absl::GetFlag(FLAGS_max_iters);
  detection.fresh = absl::GetFlag(FLAGS_fresh);
  const absl::StatusOr<moco::EvalRunResult> result = moco::RunDetectionEval(options, detection);
  return result.ok() ? 0 : fail(result.status());
}
