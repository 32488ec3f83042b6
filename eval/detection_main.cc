// Detection transfer (the MoCo paper's PASCAL VOC protocol, eval/detection/detection.h): fine-tunes
// a Faster R-CNN C4 initialised from an encoder on the detection dataset of a config's
// eval.detection, evaluates COCO AP on its test split, and writes checkpoint.pt, record.json
// (kind "detection") and detections.png to --output_dir.
//
//   bazel run //eval:detection -- --config=configs/detection/pennfudan_r18w025.pbtxt --init=random --output_dir=runs/d
//   bazel run //eval:detection -- --config=... --init=runs/cpu/moco_cifar10/checkpoint.pt --bn=frozen
#include <ATen/Parallel.h>
#include <torch/utils.h>

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "configs/config.h"
#include "eval/detection/detection.h"
#include "eval/encoder_io.h"
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
ABSL_FLAG(int64_t, max_iters, 0, "Stop after this many iterations (0: the whole schedule); the lr schedule is kept.");
ABSL_FLAG(int, threads, -1, "Intra-op threads (overrides run.threads; 0: one per core).");
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
      "                 [--output_dir=DIR] [--max_iters=N] [--threads=N] [--set='TEXT PROTO']");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  moco::PinGitCommit();  // records name the commit this run started from
  if (rest.size() > 1) return Fail(absl::InvalidArgumentError(absl::StrCat("unexpected argument '", rest[1], "'")));
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
  options.init = init;
  options.output_dir = moco::OutputPath(absl::GetFlag(FLAGS_output_dir).empty()
                                            ? resolved.run().output_dir() + "/detection"
                                            : absl::GetFlag(FLAGS_output_dir));
  options.max_iterations = absl::GetFlag(FLAGS_max_iters);
  options.threads = moco::SetUpThreads(resolved.run());
  if (const char* world = std::getenv("WORLD_SIZE"); world != nullptr) options.world_size = std::atoi(world);

  moco::ResNet encoder{nullptr};
  if (init == "random") {
    torch::manual_seed(resolved.run().seed());
    encoder = moco::ResNet(moco::EncoderOptions(resolved, resolved.model().feature_dim()));
  } else {
    absl::StatusOr<moco::ResNet> loaded = moco::LoadEncoder(moco::UserPath(init), &resolved.model());
    if (!loaded.ok()) return Fail(absl::Status(loaded.status().code(), absl::StrCat("--init: ", loaded.status().message())));
    encoder = *loaded;
    options.init = moco::UserPath(init);
  }
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
  const moco::Metrics& m = result->metrics;
  std::cout << absl::StrFormat(
      "\n%s, init %s: AP %.2f  AP50 %.2f  AP75 %.2f  APs %.2f  APm %.2f  APl %.2f\n"
      "  %d iterations at %.2f s/iter (%.0f s training, %.0f s evaluation)\n"
      "  outputs: %s, %s, %s\n",
      resolved.name(), options.init, m.at("AP"), m.at("AP50"), m.at("AP75"), m.at("APs"), m.at("APm"), m.at("APl"),
      result->iterations, result->seconds_per_iteration, result->train_seconds, result->eval_seconds,
      result->record_path, result->checkpoint_path, result->picture_path);
  return 0;
}
