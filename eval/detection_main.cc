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
#include <ATen/Parallel.h>
#include <torch/utils.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "configs/config.h"
#include "eval/detection/detection.h"
#include "eval/encoder_io.h"
#include "moco/distributed/distributed_env.h"
#include "moco/distributed/process_group.h"
#include "moco/distributed/worker_launcher.h"
#include "moco/common/paths.h"
#include "configs/record.h"
#include "moco/contrastive/mechanism.h"
#include "moco/train/run_setup.h"

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

namespace {

int Fail(const absl::Status& status) {
  std::cerr << "detection: error: " << status.message() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Fine-tunes a Faster R-CNN C4 (RPN and RoIAlign on res4, res5 as the box head) from an encoder with\n"
      "normalized fine-tuning (the MoCo paper's detection protocol) and reports COCO AP on the test split.\n"
      "Usage: detection --config=FILE --init=PATH|random [--bn=trained|frozen] [--schedule=1x|2x]\n"
      "                 [--output_dir=DIR] [--max_iters=N] [--fresh] [--threads=N] [--nproc_per_node=N]\n"
      "                 [--set='TEXT PROTO']");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  moco::PinGitCommit();  // records name the commit this run started from
  if (rest.size() > 1) return Fail(absl::InvalidArgumentError(absl::StrCat("unexpected argument '", rest[1], "'")));
  const int nproc = absl::GetFlag(FLAGS_nproc_per_node);
  if (nproc < 1) return Fail(absl::InvalidArgumentError(absl::StrCat("--nproc_per_node must be >= 1, got ", nproc)));
  if (nproc > 1 && std::getenv("RANK") == nullptr) {
    // The built-in launcher: this same command as `nproc` workers (the torchrun contract).
    std::vector<std::string> worker_argv = {std::filesystem::read_symlink("/proc/self/exe").string()};
    for (int i = 1; i < argc; ++i) worker_argv.push_back(argv[i]);
    worker_argv.push_back("--nproc_per_node=1");
    const absl::Status status = moco::LaunchWorkers(nproc, worker_argv);
    return status.ok() ? 0 : Fail(status);
  }
  if (absl::GetFlag(FLAGS_config).empty()) return Fail(absl::InvalidArgumentError("--config is required"));
  const std::string init = absl::GetFlag(FLAGS_init);
  if (init.empty()) return Fail(absl::InvalidArgumentError("--init is required: a checkpoint path or 'random'"));

  const std::string path = moco::UserPath(absl::GetFlag(FLAGS_config));
  if (absl::GetFlag(FLAGS_max_iters) < 0) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("--max_iters must be >= 0, got ", absl::GetFlag(FLAGS_max_iters))));
  }
  using moco::config::DetectionEvalConfig;
  absl::StatusOr<moco::ExperimentConfig> config =
      moco::LoadExperiment(path, absl::GetFlag(FLAGS_set), [](moco::ExperimentConfig* c) -> absl::Status {
        auto* detection = c->mutable_eval()->mutable_detection();
        const std::string bn = absl::GetFlag(FLAGS_bn);
        if (bn == "trained") {
          detection->set_bn(DetectionEvalConfig::TRAINED);
        } else if (bn == "frozen") {
          detection->set_bn(DetectionEvalConfig::FROZEN);
        } else if (!bn.empty()) {
          return absl::InvalidArgumentError(absl::StrCat("--bn must be 'trained' or 'frozen', got '", bn, "'"));
        }
        const std::string schedule = absl::GetFlag(FLAGS_schedule);
        if (schedule == "1x") {
          detection->set_schedule(DetectionEvalConfig::SCHEDULE_1X);
        } else if (schedule == "2x") {
          detection->set_schedule(DetectionEvalConfig::SCHEDULE_2X);
        } else if (!schedule.empty()) {
          return absl::InvalidArgumentError(absl::StrCat("--schedule must be '1x' or '2x', got '", schedule, "'"));
        }
        if (absl::GetFlag(FLAGS_threads) >= 0) c->mutable_run()->set_threads(absl::GetFlag(FLAGS_threads));
        return absl::OkStatus();
      });
  if (!config.ok()) return Fail(config.status());
  const moco::ExperimentConfig resolved = moco::Resolve(*config);

  moco::DetectionRunOptions options;
  options.output_dir = moco::OutputPath(absl::GetFlag(FLAGS_output_dir).empty()
                                            ? resolved.run().output_dir() + "/detection"
                                            : absl::GetFlag(FLAGS_output_dir));
  options.max_iterations = absl::GetFlag(FLAGS_max_iters);
  options.fresh = absl::GetFlag(FLAGS_fresh);
  options.threads = moco::SetUpThreads(resolved.run());
  absl::StatusOr<moco::DistributedEnv> env = moco::DistributedEnvFromEnvironment();
  if (!env.ok()) return Fail(env.status());
  std::optional<moco::ProcessGroupHandle> group;
  if (env->world_size > 1) {
    absl::StatusOr<c10::Device> device = moco::PickDevice(resolved.run(), env->local_rank);
    if (!device.ok()) return Fail(device.status());
    absl::StatusOr<moco::ProcessGroupHandle> connected = moco::ConnectProcessGroup(
        *env, device->is_cuda() ? moco::Backend::kNccl : moco::Backend::kGloo, absl::Minutes(5));
    if (!connected.ok()) return Fail(connected.status());
    group = *std::move(connected);
    options.group = &*group;
  }

  const std::string init_path = init == moco::kRandomInit ? init : moco::UserPath(init);
  absl::StatusOr<moco::ResNet> loaded = moco::EncoderFromInit(init_path, resolved);
  if (!loaded.ok()) return Fail(absl::Status(loaded.status().code(), absl::StrCat("--init: ", loaded.status().message())));
  moco::ResNet encoder = *loaded;
  options.init = init_path;
  // The config's model{} must describe the encoder: the detector is built from the encoder, but
  // the config is what the record says was evaluated.
  const moco::ResNetOptions want = moco::EncoderOptions(resolved, 1);
  const moco::ResNetOptions& got = encoder->options();
  const auto describe = [](const moco::ResNetOptions& o) {
    return absl::StrFormat("ResNet-%d, width %g, %s stem", o.depth(), o.width_multiplier(),
                           o.cifar_stem() ? "CIFAR" : "ImageNet");
  };
  if (got.depth() != want.depth() || std::abs(got.width_multiplier() - want.width_multiplier()) > 1e-6 ||
      got.cifar_stem() != want.cifar_stem()) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(path, ": model {} describes a ", describe(want),
                                                        ", but the encoder of --init=", init, " is a ", describe(got))));
  }

  absl::StatusOr<moco::DetectionRunResult> result = moco::RunDetectionTransfer(resolved, encoder, options);
  if (!result.ok()) return Fail(result.status());
  if (env->rank != 0) return 0;  // rank 0 prints the summary
  const moco::Metrics& m = result->metrics;
  std::vector<std::string> outputs;
  for (const std::string& path : {result->record_path, result->final_model_path, result->detections_path,
                                  result->picture_path, result->checkpoint_path}) {
    if (!path.empty()) outputs.push_back(path == result->checkpoint_path ? path + " (the training state)" : path);
  }
  const int64_t trained = result->iterations - result->resumed_from;
  const std::string training =
      trained > 0 ? absl::StrFormat("%d iterations at %.2f s/iter (%.0f s training, %.0f s evaluation)", trained,
                                    result->seconds_per_iteration, result->train_seconds, result->eval_seconds)
                  : absl::StrFormat("no iteration left to train (resumed at %d); %.0f s evaluation", result->resumed_from,
                                    result->eval_seconds);
  std::cout << absl::StrFormat("\n%s, init %s: AP %.2f  AP50 %.2f  AP75 %.2f  APs %.2f  APm %.2f  APl %.2f\n  %s%s\n  outputs: %s\n",
                               resolved.name(), options.init, m.at("AP"), m.at("AP50"), m.at("AP75"), m.at("APs"),
                               m.at("APm"), m.at("APl"), training,
                               result->resumed_from > 0 && trained > 0
                                   ? absl::StrCat(" (resumed at iteration ", result->resumed_from, ")")
                                   : "",
                               absl::StrJoin(outputs, ", "));
  return 0;
}
