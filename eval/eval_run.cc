#include "eval/eval_run.h"

#include <torch/cuda.h>
#include <torch/utils.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <ostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "configs/config.h"
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
  c10::Device device{c10::kCPU};
  bool bf16 = false;  // the feature passes' precision (PickBf16)
  int threads = 1;
  LabeledImages train, test;
  AugmentOptions eval_view;
};

std::string Describe(const ResNetImpl& encoder) {
  const ResNetOptions& o = encoder.options();
  return absl::StrFormat("ResNet-%d (width %g, %s stem, %d-d features)", o.depth(), o.width_multiplier(),
                         o.cifar_stem() ? "CIFAR" : "ImageNet", encoder.feature_dim());
}

absl::StatusOr<Prepared> Prepare(const EvalRunOptions& options, bool load_data) {
  Prepared p;
  if (options.checkpoint.empty()) {
    return absl::InvalidArgumentError("--checkpoint is required: a checkpoint file, or 'random' for the config's "
                                      "encoder at initialisation");
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
    return absl::InvalidArgumentError("--checkpoint=random needs --config: the config names the encoder to "
                                      "initialise and the data to evaluate on");
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
        return absl::OkStatus();
      }));
  p.config = Resolve(p.config);
  const config::RunConfig& run = p.config.run();
  p.threads = SetUpThreads(run);
  MOCO_ASSIGN_OR_RETURN(p.device, PickDevice(run));
  MOCO_ASSIGN_OR_RETURN(p.bf16, PickBf16(run, p.device));

  MOCO_ASSIGN_OR_RETURN(p.encoder, EncoderFromInit(p.checkpoint, p.config));
  p.encoder->eval();
  if (!load_data) return p;

  p.encoder->to(p.device);
  ToChannelsLast(*p.encoder);  // oneDNN's fast layout on CPUs as on GPUs
  const int loader_threads = LoaderThreads(p.config.data(), p.threads);
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
                          p.device.str(), p.bf16 ? "bf16" : "fp32", p.threads);
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
  StampRecord(p.config, p.device, p.threads, /*world_size=*/1, &record);
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
  const int loader_threads = LoaderThreads(p.config.data(), p.threads);
  // The monitor's embedding (moco/train/knn_monitor.h): the encoder's output, head included, L2-normalised.
  auto embed_start = Clock::now();
  MOCO_ASSIGN_OR_RETURN(const at::Tensor memory,
                        EmbedImages(*p.encoder, p.train, p.eval_view, 512, p.device, loader_threads, p.bf16));
  const double rate = p.train.size() / std::max(1e-9, SecondsSince(embed_start));
  if (log) {
    *log << absl::StrFormat("%s embedded %d train images in %.1f s (%.0f img/s); test: ETA %.0f s\n", prefix,
                            p.train.size(), SecondsSince(embed_start), rate, p.test.size() / rate);
    log->flush();
  }
  MOCO_ASSIGN_OR_RETURN(const at::Tensor queries,
                        EmbedImages(*p.encoder, p.test, p.eval_view, 512, p.device, loader_threads, p.bf16));
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
  probe.device = p.device;
  probe.bf16 = p.bf16;
  probe.log = options.log;
  probe.log_prefix = Prefix(kind);
  if (probe.threads <= 0) probe.threads = p.threads;
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

}  // namespace moco
