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
#include <utility>
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
#include "moco/common/status.h"
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

using moco::config::DetectionEvalConfig;

int Fail(const absl::Status& status) {
  std::cerr << "detection: error: " << status.message() << "\n";
  return 1;
}

// The enum value a flag names among `choices` (std::nullopt when the flag is empty); any other
// value is an error naming the flag and the choices.
template <typename Enum>
absl::StatusOr<std::optional<Enum>> Choice(const std::string& flag, const std::string& value,
                                           const std::vector<std::pair<std::string, Enum>>& choices) {
  if (value.empty()) return std::optional<Enum>();
  std::vector<std::string> names;
  for (const auto& [name, choice] : choices) {
    if (name == value) return std::optional<Enum>(choice);
    names.push_back("'" + name + "'");
  }
  return absl::InvalidArgumentError(absl::StrCat("--", flag, " must be ", absl::StrJoin(names, " or "), ", got '", value, "'"));
}

// --config with --set, --bn, --schedule and --threads applied, resolved.
absl::StatusOr<moco::ExperimentConfig> ConfigFromFlags() {
  if (absl::GetFlag(FLAGS_config).empty()) return absl::InvalidArgumentError("--config is required");
  MOCO_ASSIGN_OR_RETURN(const auto bn, Choice<DetectionEvalConfig::BatchNorm>(
                                           "bn", absl::GetFlag(FLAGS_bn),
                                           {{"trained", DetectionEvalConfig::TRAINED}, {"frozen", DetectionEvalConfig::FROZEN}}));
  MOCO_ASSIGN_OR_RETURN(const auto schedule,
                        Choice<DetectionEvalConfig::Schedule>(
                            "schedule", absl::GetFlag(FLAGS_schedule),
                            {{"1x", DetectionEvalConfig::SCHEDULE_1X}, {"2x", DetectionEvalConfig::SCHEDULE_2X}}));
  MOCO_ASSIGN_OR_RETURN(const moco::ExperimentConfig config,
                        moco::LoadExperiment(moco::UserPath(absl::GetFlag(FLAGS_config)), absl::GetFlag(FLAGS_set),
                                             [&](moco::ExperimentConfig* c) {
                                               auto* detection = c->mutable_eval()->mutable_detection();
                                               if (bn) detection->set_bn(*bn);
                                               if (schedule) detection->set_schedule(*schedule);
                                               const int threads = absl::GetFlag(FLAGS_threads);
                                               if (threads >= 0) c->mutable_run()->set_threads(threads);
                                               return absl::OkStatus();
                                             }));
  return moco::Resolve(config);
}

// The encoder of --init, which the config's model {} must describe: the detector is built from
// the encoder, but the config is what the record says was evaluated.
absl::StatusOr<moco::ResNet> EncoderFromFlags(const moco::ExperimentConfig& resolved, std::string* init_path) {
  const std::string init = absl::GetFlag(FLAGS_init);
  if (init.empty()) return absl::InvalidArgumentError("--init is required: a checkpoint path or 'random'");
  *init_path = init == moco::kRandomInit ? init : moco::UserPath(init);
  absl::StatusOr<moco::ResNet> encoder = moco::EncoderFromInit(*init_path, resolved);
  if (!encoder.ok()) return absl::Status(encoder.status().code(), absl::StrCat("--init: ", encoder.status().message()));
  const moco::ResNetOptions want = moco::EncoderOptions(resolved, 1);
  const moco::ResNetOptions& got = (*encoder)->options();
  const auto describe = [](const moco::ResNetOptions& o) {
    return absl::StrFormat("ResNet-%d, width %g, %s stem", o.depth(), o.width_multiplier(),
                           o.cifar_stem() ? "CIFAR" : "ImageNet");
  };
  if (got.depth() != want.depth() || std::abs(got.width_multiplier() - want.width_multiplier()) > 1e-6 ||
      got.cifar_stem() != want.cifar_stem()) {
    return absl::InvalidArgumentError(absl::StrCat(moco::UserPath(absl::GetFlag(FLAGS_config)), ": model {} describes a ",
                                                   describe(want), ", but the encoder of --init=", init, " is a ",
                                                   describe(got)));
  }
  return encoder;
}

// This process's group when the environment (the built-in launcher, torchrun or SLURM) makes it
// one of several: Gloo on the CPU, NCCL on GPUs; none alone.
absl::StatusOr<std::optional<moco::ProcessGroupHandle>> GroupFromEnvironment(const moco::ExperimentConfig& resolved,
                                                                             const moco::DistributedEnv& env) {
  if (env.world_size == 1) return std::optional<moco::ProcessGroupHandle>();
  MOCO_ASSIGN_OR_RETURN(const c10::Device device, moco::PickDevice(resolved.run(), env.local_rank));
  MOCO_ASSIGN_OR_RETURN(moco::ProcessGroupHandle group,
                        moco::ConnectProcessGroup(env, device.is_cuda() ? moco::Backend::kNccl : moco::Backend::kGloo,
                                                  absl::Minutes(5)));
  return std::optional<moco::ProcessGroupHandle>(std::move(group));
}

void PrintSummary(const moco::ExperimentConfig& resolved, const moco::DetectionRunOptions& options,
                  const moco::DetectionRunResult& result) {
  const moco::Metrics& m = result.metrics;
  std::vector<std::string> outputs;
  for (const std::string& path : {result.record_path, result.final_model_path, result.detections_path,
                                  result.picture_path, result.checkpoint_path}) {
    if (!path.empty()) outputs.push_back(path == result.checkpoint_path ? path + " (the training state)" : path);
  }
  const int64_t trained = result.iterations - result.resumed_from;
  const std::string training =
      trained > 0 ? absl::StrFormat("%d iterations at %.2f s/iter (%.0f s training, %.0f s evaluation)%s", trained,
                                    result.seconds_per_iteration, result.train_seconds, result.eval_seconds,
                                    result.resumed_from > 0 ? absl::StrCat(" (resumed at iteration ", result.resumed_from, ")")
                                                            : "")
                  : absl::StrFormat("no iteration left to train (resumed at %d); %.0f s evaluation", result.resumed_from,
                                    result.eval_seconds);
  std::cout << absl::StrFormat("\n%s, init %s: AP %.2f  AP50 %.2f  AP75 %.2f  APs %.2f  APm %.2f  APl %.2f\n  %s\n  outputs: %s\n",
                               resolved.name(), options.init, m.at("AP"), m.at("AP50"), m.at("AP75"), m.at("APs"),
                               m.at("APm"), m.at("APl"), training, absl::StrJoin(outputs, ", "));
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
  if (absl::GetFlag(FLAGS_max_iters) < 0) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("--max_iters must be >= 0, got ", absl::GetFlag(FLAGS_max_iters))));
  }
  absl::StatusOr<moco::ExperimentConfig> resolved = ConfigFromFlags();
  if (!resolved.ok()) return Fail(resolved.status());
  moco::DetectionRunOptions options;
  options.output_dir = moco::OutputPath(absl::GetFlag(FLAGS_output_dir).empty()
                                            ? resolved->run().output_dir() + "/detection"
                                            : absl::GetFlag(FLAGS_output_dir));
  options.max_iterations = absl::GetFlag(FLAGS_max_iters);
  options.fresh = absl::GetFlag(FLAGS_fresh);
  options.threads = moco::SetUpThreads(resolved->run());
  absl::StatusOr<moco::DistributedEnv> env = moco::DistributedEnvFromEnvironment();
  if (!env.ok()) return Fail(env.status());
  absl::StatusOr<std::optional<moco::ProcessGroupHandle>> group = GroupFromEnvironment(*resolved, *env);
  if (!group.ok()) return Fail(group.status());
  if (group->has_value()) options.group = &**group;
  absl::StatusOr<moco::ResNet> encoder = EncoderFromFlags(*resolved, &options.init);
  if (!encoder.ok()) return Fail(encoder.status());

  absl::StatusOr<moco::DetectionRunResult> result = moco::RunDetectionTransfer(*resolved, *encoder, options);
  if (!result.ok()) return Fail(result.status());
  if (env->rank == 0) PrintSummary(*resolved, options, *result);  // rank 0 prints the summary
  return 0;
}
