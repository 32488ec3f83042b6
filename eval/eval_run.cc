#include "eval/eval_run.h"

#include <torch/cuda.h>
#include <torch/utils.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <utility>
#include <vector>
#include <chrono>
#include <filesystem>
#include <ostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "configs/config.h"
#include "eval/detection/detection.h"
#include "eval/encoder_io.h"
#include "moco/train/knn_monitor.h"
#include "eval/linear.h"
#include "moco/augment/augment.h"
#include "moco/common/duration.h"
#include "moco/common/event_writer.h"
#include "moco/common/paths.h"
#include "configs/record.h"
#include "moco/common/status.h"
#include "moco/contrastive/mechanism.h"
#include "moco/data/dataset.h"
#include "moco/distributed/distributed_env.h"
#include "moco/distributed/process_group.h"
#include "moco/train/checkpoint.h"
#include "moco/train/run_setup.h"

namespace moco {
namespace {

using Clock = std::chrono::steady_clock;

// Everything an evaluation needs, prepared from the options.
struct Prepared {
  config::ExperimentConfig config;  // resolved
  std::string checkpoint;           // the resolved path, or kRandomInit
  std::string config_source;        // where the config came from, for messages
  ResNet encoder{nullptr};
  DistributedEnv env;  // this process's place among the run's (one alone, unless launched as several)
  RunContext context;  // device, precision of the feature passes, threads
  LabeledImages train, test;
  AugmentOptions eval_view;
};

std::string Describe(const ResNetImpl& encoder) {
  const ResNetOptions& o = encoder.options();
  return absl::StrFormat("ResNet-%d (width %g, %s stem, %d-d features)", o.depth(), o.width_multiplier(),
                         o.cifar_stem() ? "CIFAR" : "ImageNet", encoder.feature_dim());
}

// The config's model { } must describe the encoder: the record says the config was evaluated.
absl::Status CheckEncoderIsTheConfigs(const Prepared& p, const std::string& flag) {
  const ResNetOptions want = EncoderOptions(p.config, 1);
  const ResNetOptions& got = p.encoder->options();
  if (got.depth() == want.depth() && std::abs(got.width_multiplier() - want.width_multiplier()) <= 1e-6 &&
      got.cifar_stem() == want.cifar_stem()) {
    return absl::OkStatus();
  }
  const auto describe = [](const ResNetOptions& o) {
    return absl::StrFormat("ResNet-%d, width %g, %s stem", o.depth(), o.width_multiplier(),
                           o.cifar_stem() ? "CIFAR" : "ImageNet");
  };
  return absl::InvalidArgumentError(absl::StrCat(p.config_source, ": model {} describes a ", describe(want),
                                                 ", but the encoder of --", flag, "=", p.checkpoint, " is a ",
                                                 describe(got)));
}

// The config (with the options' overrides and `edit`), the run's context and the encoder, and
// with `load_data` the dataset and its evaluation view.
absl::StatusOr<Prepared> Prepare(const EvalRunOptions& options, bool load_data, const ConfigEdit& edit = nullptr) {
  Prepared p;
  const std::string& flag = options.checkpoint_flag;
  if (options.checkpoint.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " is required: a checkpoint file, or 'random' for the "
                                                   "config's encoder at initialisation"));
  }
  const bool random = options.checkpoint == kRandomInit;
  p.checkpoint = random ? std::string(kRandomInit) : UserPath(options.checkpoint);
  bool pretrainer = false;
  if (!random) {
    MOCO_ASSIGN_OR_RETURN(pretrainer, IsPretrainerCheckpoint(p.checkpoint));
  }

  // The config: --config, else the one inside a pretrainer checkpoint.
  if (!options.config.empty()) {
    p.config_source = UserPath(options.config);
    MOCO_ASSIGN_OR_RETURN(p.config, LoadConfig(p.config_source));
  } else if (pretrainer) {
    p.config_source = p.checkpoint + " (its config)";
    MOCO_ASSIGN_OR_RETURN(p.config, ReadCheckpointExperiment(p.checkpoint));
  } else if (random) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, "=random needs --config: the config names the encoder "
                                                   "to initialise and the data to evaluate on"));
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        p.checkpoint, " is a PyTorch file: give --config, whose model { depth width_multiplier stem } describes "
                      "the encoder and whose data { } names the dataset"));
  }
  MOCO_ASSIGN_OR_RETURN(
      p.config, CompleteConfig(std::move(p.config), p.config_source, options.overrides, [&](ExperimentConfig* c) {
        if (options.epochs >= 0) {
          c->mutable_eval()->set_linear_epochs(options.epochs);
          c->mutable_eval()->clear_linear_lr_drop_epochs();  // Resolve() rescales 60 and 80 to the new count
        }
        if (options.threads >= 0) c->mutable_run()->set_threads(options.threads);
        if (options.max_train_images >= 0) c->mutable_data()->set_max_train_images(options.max_train_images);
        if (options.max_test_images >= 0) c->mutable_data()->set_max_test_images(options.max_test_images);
        if (options.seed >= 0) c->mutable_run()->set_seed(static_cast<uint64_t>(options.seed));
        return edit ? edit(c) : absl::OkStatus();
      }));
  p.config = Resolve(p.config);
  MOCO_ASSIGN_OR_RETURN(p.env, DistributedEnvFromEnvironment());
  MOCO_ASSIGN_OR_RETURN(p.context, SetUpRun(p.config, p.env.local_rank));

  absl::StatusOr<ResNet> encoder = EncoderFromInit(p.checkpoint, p.config);
  if (!encoder.ok()) return absl::Status(encoder.status().code(), absl::StrCat("--", flag, ": ", encoder.status().message()));
  p.encoder = *encoder;
  MOCO_RETURN_IF_ERROR(CheckEncoderIsTheConfigs(p, flag));
  p.encoder->eval();
  if (!load_data) return p;

  p.encoder->to(p.context.device);
  ToChannelsLast(*p.encoder);  // oneDNN's fast layout on CPUs as on GPUs
  const int loader_threads = p.context.loader_threads;
  MOCO_ASSIGN_OR_RETURN(p.train, LoadDataset(p.config.data(), Split::kTrain, loader_threads));
  if (!p.train.labeled) {
    return absl::FailedPreconditionError(absl::StrCat(
        DatasetRoot(p.config.data()), "/", p.config.data().train_split(), " holds images but no class folders: ",
        "an unlabeled set pretrains, but kNN and linear evaluation need labels (root/<split>/<class>/<image>)"));
  }
  MOCO_ASSIGN_OR_RETURN(p.test, LoadDataset(p.config.data(), Split::kTest, loader_threads));
  p.eval_view = AugmentOptionsFor(p.config.data());
  MOCO_RETURN_IF_ERROR(p.train.streamed() ? CheckAugmentOptions(p.eval_view)
                                          : CheckAugmentArgs(p.train.height, p.train.width, p.train.channels,
                                                             p.eval_view));
  return p;
}

void LogSetup(const Prepared& p, const std::string& prefix, std::ostream* log) {
  if (!log) return;
  *log << absl::StrFormat("%s encoder %s, %s\n%s data %s: %d train / %d test images %s, %d classes; "
                          "%s %s, %d threads\n",
                          prefix, Describe(*p.encoder),
                          p.checkpoint == kRandomInit ? absl::StrCat("at random initialisation (seed ",
                                                                     p.config.run().seed(), ")")
                                                      : absl::StrCat("from ", p.checkpoint),
                          prefix, DatasetRoot(p.config.data()), p.train.size(), p.test.size(),
                          DescribeImages(p.train), static_cast<int>(p.train.class_names.size()),
                          p.context.device.str(), p.context.bf16 ? "bf16" : "fp32", p.context.threads);
  log->flush();
}

std::string RecordPath(const Prepared& p, const EvalRunOptions& options, const std::string& kind) {
  if (!options.output.empty()) return OutputPath(options.output);
  if (p.checkpoint == kRandomInit) {
    return (std::filesystem::path(OutputPath(p.config.run().output_dir())) / (kind + "_random_init.json")).string();
  }
  const std::filesystem::path checkpoint(p.checkpoint);
  const std::string file = checkpoint.filename() == "checkpoint.pt"
                               ? kind + ".json"
                               : absl::StrCat(checkpoint.stem().string(), ".", kind, ".json");
  return (checkpoint.parent_path() / file).string();
}

// TensorBoard event files of an evaluation: a folder `kind` beside its record, so that
// `tensorboard --logdir runs/` shows it as a run of its own next to the pretraining run.
std::string EventsDir(const std::string& record_path, const std::string& kind) {
  return (std::filesystem::path(record_path).parent_path() / kind).string();
}

absl::StatusOr<EvalRunResult> Finish(const Prepared& p, const EvalRunOptions& options, const std::string& kind,
                                     const Metrics& metrics, double wall_seconds, const std::string& note) {
  EvalRunResult result;
  config::RunRecord& record = result.record;
  record.set_kind(kind);
  record.set_name(!p.config.name().empty() ? p.config.name()
                  : p.checkpoint == kRandomInit
                      ? std::string(kRandomInit)
                      : std::filesystem::path(p.checkpoint).parent_path().filename().string());
  for (const auto& [name, value] : metrics) (*record.mutable_metrics())[name] = value;
  StampRecord(p.config, p.context.device, p.context.threads, /*world_size=*/1, &record);
  record.set_wall_seconds(wall_seconds);
  record.set_checkpoint(p.checkpoint == kRandomInit ? std::string(kRandomInit)
                                                    : std::filesystem::absolute(p.checkpoint).string());
  record.set_data(DatasetRoot(p.config.data()));
  record.set_note(note);
  result.record_path = RecordPath(p, options, kind);
  MOCO_RETURN_IF_ERROR(WriteRecord(result.record_path, record));
  // The final numbers as TensorBoard scalars too, beside the run's own curves.
  MOCO_ASSIGN_OR_RETURN(EventWriter events, EventWriter::Open(EventsDir(result.record_path, kind)));
  for (const auto& [name, value] : metrics) MOCO_RETURN_IF_ERROR(events.Scalar(absl::StrCat(kind, "/", name), 0, value));
  MOCO_RETURN_IF_ERROR(events.Flush());
  return result;
}

std::string Prefix(const std::string& kind) { return absl::StrCat("[", kind, "]"); }

}  // namespace

absl::StatusOr<EvalRunResult> RunKnnEval(const EvalRunOptions& options) {
  const auto started = Clock::now();
  MOCO_ASSIGN_OR_RETURN(Prepared p, Prepare(options, /*load_data=*/true));
  const std::string prefix = Prefix("knn");
  std::ostream* log = options.log;
  LogSetup(p, prefix, log);
  // The monitor's embedding (moco/train/knn_monitor.h): the encoder's output, head included, L2-normalised.
  EncodeOptions encode;
  encode.device = p.context.device;
  encode.threads = p.context.loader_threads;
  encode.bf16 = p.context.bf16;
  auto embed_start = Clock::now();
  MOCO_ASSIGN_OR_RETURN(const at::Tensor memory, EncodeImages(*p.encoder, p.train, p.eval_view, encode));
  const double rate = p.train.size() / std::max(1e-9, SecondsSince(embed_start));
  if (log) {
    *log << absl::StrFormat("%s embedded %d train images in %.1f s (%.0f img/s); test: ETA %.0f s\n", prefix,
                            p.train.size(), SecondsSince(embed_start), rate, p.test.size() / rate);
    log->flush();
  }
  MOCO_ASSIGN_OR_RETURN(const at::Tensor queries, EncodeImages(*p.encoder, p.test, p.eval_view, encode));
  const int k = p.config.eval().knn_k();
  const double t = p.config.eval().knn_t();
  const double top1 = 100.0 * KnnTopOne(memory, LabelTensor(p.train), queries, LabelTensor(p.test), k, t,
                                        static_cast<int>(p.train.class_names.size()));
  const double wall = SecondsSince(started);
  if (log) *log << absl::StrFormat("%s kNN top-1 %.2f%% (k=%d, t=%g) in %.0f s\n", prefix, top1, k, t, wall);
  return Finish(p, options, "knn", {{"knn_top1", top1}}, wall,
                absl::StrFormat("weighted kNN, k=%d, t=%g, on the L2-normalised encoder output (head included)%s", k,
                                t, p.checkpoint == kRandomInit ? "; random initialisation" : ""));
}

absl::StatusOr<EvalRunResult> RunLinearEval(const EvalRunOptions& options, LinearMode mode) {
  const auto started = Clock::now();
  MOCO_ASSIGN_OR_RETURN(Prepared p, Prepare(options, /*load_data=*/true));
  const std::string kind = mode == LinearMode::kFast ? "linear_fast" : "linear";
  LinearProbeOptions probe = LinearProbeOptionsFor(p.config);
  probe.device = p.context.device;
  probe.bf16 = p.context.bf16;
  probe.log = options.log;
  probe.log_prefix = Prefix(kind);
  probe.threads = p.context.loader_threads;
  MOCO_ASSIGN_OR_RETURN(EventWriter events, EventWriter::Open(EventsDir(RecordPath(p, options, kind), kind)));
  absl::Status events_status;
  probe.on_epoch = [&](int epoch, double loss, double top1, double lr) {
    for (const auto& [tag, value] : {std::pair<const char*, double>{"train/loss", loss}, {"train/top1", top1},
                                     {"train/lr", lr}}) {
      if (events_status.ok()) events_status = events.Scalar(absl::StrCat(kind, "/", tag), epoch, value);
    }
    if (events_status.ok()) events_status = events.Flush();
  };
  LogSetup(p, probe.log_prefix, options.log);
  absl::StatusOr<LinearProbeResult> result = mode == LinearMode::kFast
                                                 ? LinearProbeFast(*p.encoder, p.train, p.test, p.eval_view, probe)
                                                 : LinearProbePaper(*p.encoder, p.train, p.test, p.eval_view, probe);
  if (!result.ok()) return result.status();
  MOCO_RETURN_IF_ERROR(events_status);
  Metrics metrics = result->metrics;
  metrics["train_loss"] = result->train_loss;
  const std::string note = absl::StrFormat(
      "%s; %d epochs, lr %g, momentum %g, weight decay %g, lr x%g at epochs [%s], batch %d; last epoch's "
      "accuracy%s",
      mode == LinearMode::kFast ? "fast mode: cached pooled features of the evaluation view"
                                : "paper mode: random-resized-crop and flip views, features recomputed per step",
      probe.epochs, probe.lr, probe.momentum, probe.weight_decay, probe.lr_drop_factor,
      absl::StrJoin(probe.lr_drop_epochs, ", "), probe.batch_size,
      p.checkpoint == kRandomInit ? "; random initialisation" : "");
  return Finish(p, options, kind, metrics, SecondsSince(started), note);
}

absl::StatusOr<std::string> RunExport(const EvalRunOptions& options, const std::string& out) {
  if (out.empty()) return absl::InvalidArgumentError("--out is required: the .pth file to write");
  MOCO_ASSIGN_OR_RETURN(Prepared p, Prepare(options, /*load_data=*/false));
  const std::string path = OutputPath(out);
  MOCO_RETURN_IF_ERROR(ExportTorchvision(p.encoder, path));
  const ResNetOptions& o = p.encoder->options();
  const bool torchvision_shape = !o.cifar_stem() && o.width_multiplier() == 1.0;
  return absl::StrCat(
      "wrote the backbone of a ", Describe(*p.encoder), " to ", path, "\n",
      torchvision_shape
          ? absl::StrCat("load it with: torchvision.models.resnet", o.depth(),
                         "().load_state_dict(torch.load('", path, "'), strict=False)  # missing: fc.weight, fc.bias")
          : "torchvision has no ResNet of this stem or width: the names are torchvision's, the shapes are not");
}

namespace {

// The enum value `value` names among `choices` (the config's when empty); any other value is an
// error naming the flag and the choices.
template <typename Enum>
absl::Status Choose(const std::string& flag, const std::string& value,
                    const std::vector<std::pair<std::string, Enum>>& choices, const std::function<void(Enum)>& set) {
  if (value.empty()) return absl::OkStatus();
  std::vector<std::string> names;
  for (const auto& [name, choice] : choices) {
    if (name == value) {
      set(choice);
      return absl::OkStatus();
    }
    names.push_back("'" + name + "'");
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, " must be ", absl::StrJoin(names, " or "), ", got '", value, "'"));
}

// This process's group when the environment (the built-in launcher, torchrun or SLURM) makes it
// one of several: Gloo on the CPU, NCCL on GPUs; none alone.
absl::StatusOr<std::optional<ProcessGroupHandle>> GroupOf(const Prepared& p) {
  if (p.env.world_size == 1) return std::optional<ProcessGroupHandle>();
  MOCO_ASSIGN_OR_RETURN(ProcessGroupHandle group, ConnectRunGroup(p.env, p.context));
  return std::optional<ProcessGroupHandle>(std::move(group));
}

void LogDetectionSummary(const Prepared& p, const DetectionRunResult& result, std::ostream& log) {
  const Metrics& m = result.metrics;
  std::vector<std::string> outputs;
  for (const std::string& path : {result.record_path, result.final_model_path, result.detections_path,
                                  result.picture_path, result.checkpoint_path}) {
    if (!path.empty()) outputs.push_back(path == result.checkpoint_path ? path + " (the training state)" : path);
  }
  const int64_t trained = result.iterations - result.resumed_from;
  const std::string resumed =
      result.resumed_from > 0 ? absl::StrCat(" (resumed at iteration ", result.resumed_from, ")") : "";
  const std::string training =
      trained > 0 ? absl::StrFormat("%d iterations at %.2f s/iter (%.0f s training, %.0f s evaluation)%s", trained,
                                    result.seconds_per_iteration, result.train_seconds, result.eval_seconds, resumed)
                  : absl::StrFormat("no iteration left to train (resumed at %d); %.0f s evaluation",
                                    result.resumed_from, result.eval_seconds);
  log << absl::StrFormat("\n%s, init %s: AP %.2f  AP50 %.2f  AP75 %.2f  APs %.2f  APm %.2f  APl %.2f\n  %s\n  outputs: %s\n",
                         p.config.name(), p.checkpoint, m.at("AP"), m.at("AP50"), m.at("AP75"), m.at("APs"),
                         m.at("APm"), m.at("APl"), training, absl::StrJoin(outputs, ", "));
}

}  // namespace

absl::StatusOr<EvalRunResult> RunDetectionEval(const EvalRunOptions& options, const DetectionEvalOptions& detection) {
  if (options.config.empty()) {
    return absl::InvalidArgumentError("--config is required: its eval.detection describes the run, its model {} the "
                                      "encoder");
  }
  if (detection.max_iterations < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--max_iters must be >= 0, got ", detection.max_iterations));
  }
  using config::DetectionEvalConfig;
  MOCO_ASSIGN_OR_RETURN(Prepared p, Prepare(options, /*load_data=*/false, [&](ExperimentConfig* c) -> absl::Status {
    DetectionEvalConfig* d = c->mutable_eval()->mutable_detection();
    MOCO_RETURN_IF_ERROR(Choose<DetectionEvalConfig::BatchNorm>(
        "bn", detection.bn, {{"trained", DetectionEvalConfig::TRAINED}, {"frozen", DetectionEvalConfig::FROZEN}},
        [d](DetectionEvalConfig::BatchNorm bn) { d->set_bn(bn); }));
    return Choose<DetectionEvalConfig::Schedule>(
        "schedule", detection.schedule,
        {{"1x", DetectionEvalConfig::SCHEDULE_1X}, {"2x", DetectionEvalConfig::SCHEDULE_2X}},
        [d](DetectionEvalConfig::Schedule schedule) { d->set_schedule(schedule); });
  }));
  MOCO_ASSIGN_OR_RETURN(std::optional<ProcessGroupHandle> group, GroupOf(p));
  DetectionRunOptions run;
  run.init = p.checkpoint;
  run.output_dir = OutputPath(detection.output_dir.empty() ? p.config.run().output_dir() + "/detection"
                                                           : detection.output_dir);
  run.max_iterations = detection.max_iterations;
  run.fresh = detection.fresh;
  run.context = p.context;
  if (group.has_value()) run.group = &*group;
  MOCO_ASSIGN_OR_RETURN(const DetectionRunResult result, RunDetectionTransfer(p.config, p.encoder, run));
  if (p.env.rank == 0 && options.log) LogDetectionSummary(p, result, *options.log);
  EvalRunResult out;
  out.record_path = result.record_path;
  if (p.env.rank == 0) {
    MOCO_ASSIGN_OR_RETURN(out.record, ReadRecord(result.record_path));
  }
  return out;
}

}  // namespace moco
