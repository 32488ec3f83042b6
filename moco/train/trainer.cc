#include "moco/train/trainer.h"

#include <ATen/record_function.h>
#include <torch/cuda.h>
#include <torch/headeronly/version.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "configs/config.h"
#include "configs/record.h"
#include "moco/augment/image_batches.h"
#include "moco/augment/tensor_augment.h"
#include "moco/common/duration.h"
#include "moco/common/event_writer.h"
#include "moco/common/files.h"
#include "moco/common/status.h"
#include "moco/contrastive/info_nce.h"
#include "moco/contrastive/mechanism.h"
#include "moco/models/autocast.h"
#include "moco/data/dataset.h"
#include "moco/distributed/distributed_env.h"
#include "moco/distributed/process_group.h"
#include "moco/train/checkpoint.h"
#include "moco/train/curves.h"
#include "moco/train/knn_monitor.h"
#include "moco/train/lr_schedule.h"
#include "moco/train/run_setup.h"

namespace moco {
namespace {

using Clock = std::chrono::steady_clock;

// Sums every gradient over the processes and divides by their number: one flat buffer,
// one collective.
absl::Status AverageGradients(const std::vector<at::Tensor>& params, const ProcessGroupHandle& group) {
  if (group.world_size() == 1) return absl::OkStatus();
  std::vector<at::Tensor> grads;
  for (const auto& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad().reshape(-1));
  }
  at::Tensor flat = at::cat(grads);
  MOCO_RETURN_IF_ERROR(group.AllReduceSum(flat));
  flat.div_(group.world_size());
  int64_t offset = 0;
  for (const auto& p : params) {
    if (!p.grad().defined()) continue;
    const int64_t n = p.grad().numel();
    p.grad().copy_(flat.narrow(0, offset, n).view_as(p.grad()));
    offset += n;
  }
  return absl::OkStatus();
}

absl::Status AppendLine(const std::string& path, const std::string& line) {
  std::ofstream out(path, std::ios::app);
  out << line << "\n";
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

// Drops the lines of metrics.jsonl for epochs after `max_epoch` (and any torn last line), so a
// resumed run does not repeat them.
absl::Status KeepMetricsUpToEpoch(const std::string& path, int64_t max_epoch) {
  if (!std::filesystem::exists(path)) return absl::OkStatus();
  MOCO_ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  std::string kept;
  std::istringstream lines(text);
  std::string line;
  constexpr absl::string_view kPrefix = "{\"epoch\": ";
  while (std::getline(lines, line)) {
    int64_t epoch = 0;
    const size_t comma = line.find(',');
    if (absl::StartsWith(line, kPrefix) && comma != std::string::npos && line.back() == '}' &&
        absl::SimpleAtoi(line.substr(kPrefix.size(), comma - kPrefix.size()), &epoch) && epoch <= max_epoch) {
      kept += line + "\n";
    }
  }
  return kept == text ? absl::OkStatus() : WriteFileAtomic(path, kept);
}

// What a fresh start deletes from a run's folder: its checkpoint, metrics, record, curves and
// TensorBoard event files (other files are the user's).
void ClearRunOutputs(const std::string& output_dir) {
  std::error_code ignored;
  for (const char* name : {"checkpoint.pt", "metrics.jsonl", "record.json", "curves.png"}) {
    std::filesystem::remove(std::filesystem::path(output_dir) / name, ignored);
  }
  for (const auto& entry : std::filesystem::directory_iterator(output_dir, ignored)) {
    if (entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0) {
      std::filesystem::remove(entry.path(), ignored);
    }
  }
}

// The first line where two config texts differ, for the resume error.
std::string FirstDifference(const std::string& a, const std::string& b) {
  std::istringstream sa(a), sb(b);
  std::string la, lb;
  while (true) {
    const bool ga = static_cast<bool>(std::getline(sa, la));
    const bool gb = static_cast<bool>(std::getline(sb, lb));
    if (!ga && !gb) return "";
    if (!ga || !gb || la != lb) return absl::StrCat("checkpoint has '", ga ? la : "<end>", "', config has '",
                                                    gb ? lb : "<end>", "'");
  }
}

}  // namespace

std::unique_ptr<torch::optim::SGD> MakeSgd(const config::ExperimentConfig& config, torch::nn::Module& model) {
  std::vector<at::Tensor> trainable;
  for (const auto& p : model.parameters()) {
    if (p.requires_grad()) trainable.push_back(p);
  }
  return std::make_unique<torch::optim::SGD>(trainable, torch::optim::SGDOptions(ScaledLearningRate(config))
                                                            .momentum(config.optim().momentum())
                                                            .weight_decay(config.optim().weight_decay()));
}

absl::StatusOr<StepOutput> StepForward(Mechanism& mechanism, const TrainBatch& batch, int64_t step,
                                       c10::Device device, bool bf16) {
  RECORD_USER_SCOPE("step/forward");  // the phases, for //benchmarks:throughput --profile_steps
  Bf16Autocast autocast(device, bf16);
  return mechanism.Forward(batch, step);
}

absl::Status StepBackward(const StepOutput& out, torch::optim::SGD& sgd, const ProcessGroupHandle& group) {
  {
    RECORD_USER_SCOPE("step/backward");
    sgd.zero_grad();
    out.loss.backward();
  }
  RECORD_USER_SCOPE("step/optimizer");
  MOCO_RETURN_IF_ERROR(AverageGradients(sgd.param_groups()[0].params(), group));
  sgd.step();
  return absl::OkStatus();
}

absl::StatusOr<TrainResult> Train(const config::ExperimentConfig& input, const TrainOptions& options) {
  const auto started = Clock::now();
  const config::ExperimentConfig config = Resolve(input);
  MOCO_ASSIGN_OR_RETURN(DistributedEnv env, DistributedEnvFromEnvironment());
  MOCO_RETURN_IF_ERROR(Validate(config, env.world_size));
  const bool lead = env.rank == 0;
  std::ostream* log = lead ? options.log : nullptr;
  const auto& run = config.run();

  const int threads = SetUpThreads(run);
  MOCO_ASSIGN_OR_RETURN(c10::Device device, PickDevice(run, env.local_rank));
  MOCO_ASSIGN_OR_RETURN(const bool bf16, PickBf16(run, device));
  MOCO_ASSIGN_OR_RETURN(ProcessGroupHandle group,
                        ConnectProcessGroup(env, device.is_cuda() ? Backend::kNccl : Backend::kGloo,
                                            absl::Minutes(5)));

  if (options.fresh) {
    if (lead) ClearRunOutputs(run.output_dir());
    MOCO_RETURN_IF_ERROR(group.Barrier());
  }

  // Data.
  const int loader_threads = LoaderThreads(config.data(), threads);
  MOCO_ASSIGN_OR_RETURN(LabeledImages train, LoadDataset(config.data(), Split::kTrain, loader_threads));
  // An unlabeled folder (no class folders) pretrains without the kNN monitor, which needs labels.
  const bool monitor = train.labeled;
  LabeledImages test;
  if (monitor) {
    MOCO_ASSIGN_OR_RETURN(test, LoadDataset(config.data(), Split::kTest, loader_threads));
  }
  const AugmentOptions augment = AugmentOptionsFor(config.data());
  MOCO_RETURN_IF_ERROR(train.streamed() ? CheckAugmentOptions(augment)
                                        : CheckAugmentArgs(train.height, train.width, train.channels, augment));
  const int num_classes = static_cast<int>(train.class_names.size());
  LoaderOptions loader_options;
  loader_options.batch_size = config.optim().batch_size() / env.world_size;
  loader_options.rank = env.rank;
  loader_options.world_size = env.world_size;
  loader_options.seed = run.seed();
  loader_options.threads = loader_threads;
  loader_options.augment = augment;
  loader_options.views_on_device = config.data().augment_on() == config::DataConfig::DEVICE;
  TwoViewLoader loader(&train, loader_options);
  const int64_t steps_per_epoch = loader.batches_per_epoch();
  if (steps_per_epoch == 0) {
    return absl::FailedPreconditionError(absl::StrCat("the training split holds ", train.size(),
                                                      " images, fewer than one global batch (optim.batch_size ",
                                                      config.optim().batch_size(), ")"));
  }
  if (log) {
    *log << absl::StrFormat("[%s] %s: %d train / %d test images %s, %s; %lld steps/epoch; "
                            "%s %s, views made on the %s, %d threads, %d process(es)\n",
                            config.name(), DatasetRoot(config.data()), train.size(), test.size(),
                            DescribeImages(train),
                            monitor ? absl::StrCat(num_classes, " classes")
                                    : std::string("unlabeled (no class folders): no kNN monitor"),
                            static_cast<long long>(steps_per_epoch),
                            device.str(), bf16 ? "bf16" : "fp32",
                            loader_options.views_on_device ? "device" : "host", threads, env.world_size);
  }

  // Model and optimizer. Every rank seeds identically, so the encoders start equal.
  torch::manual_seed(run.seed());
  MOCO_ASSIGN_OR_RETURN(std::unique_ptr<Mechanism> mechanism,
                        CreateMechanism(config, train.size(), num_classes, group));
  mechanism->to(device);
  ToChannelsLast(*mechanism);
  std::unique_ptr<torch::optim::SGD> optimizer = MakeSgd(config, *mechanism);
  torch::optim::SGD& sgd = *optimizer;

  const std::filesystem::path out_dir(run.output_dir());
  const std::string checkpoint_path = (out_dir / "checkpoint.pt").string();
  const std::string config_text = ConfigIdentity(config);
  // The evaluators' settings travel beside the identity (which leaves them out), so that an
  // evaluation of the checkpoint uses this config's linear probe lr and detection settings.
  config::ExperimentConfig eval_only;
  *eval_only.mutable_eval() = config.eval();
  const std::string eval_text = ToText(eval_only);
  CheckpointState state;
  state.config = config_text;
  state.eval_config = eval_text;
  bool resumed = false;
  if (options.resume && std::filesystem::exists(checkpoint_path)) {
    // The config comes first: another config's tensors would not even fit the model.
    MOCO_ASSIGN_OR_RETURN(std::string saved_config, ReadCheckpointConfig(checkpoint_path));
    if (saved_config != config_text) {
      return absl::FailedPreconditionError(absl::StrCat(
          checkpoint_path, " was written by a different config (", FirstDifference(saved_config, config_text),
          "); pass --fresh to start over, or another --output_dir"));
    }
    MOCO_ASSIGN_OR_RETURN(state, LoadCheckpoint(checkpoint_path, *mechanism, sgd));
    state.eval_config = eval_text;  // this session's: evaluation settings may change between sessions
    resumed = true;
    if (log) *log << absl::StrFormat("[%s] resumed from %s at epoch %d, step %d\n", config.name(), checkpoint_path,
                                     state.epoch, state.step);
  }

  auto knn = [&]() -> absl::StatusOr<double> {
    MOCO_ASSIGN_OR_RETURN(const at::Tensor memory, EmbedImages(*mechanism->query_encoder(), train, augment, 512,
                                                               device, loader_threads, bf16));
    MOCO_ASSIGN_OR_RETURN(const at::Tensor queries, EmbedImages(*mechanism->query_encoder(), test, augment, 512,
                                                                device, loader_threads, bf16));
    return 100.0 * KnnTopOne(memory, LabelTensor(train), queries, LabelTensor(test), config.eval().knn_k(),
                             config.eval().knn_t(), num_classes);
  };
  if (!resumed && options.knn_at_init && monitor) {
    MOCO_ASSIGN_OR_RETURN(state.random_init_knn, knn());
    if (log) *log << absl::StrFormat("[%s] kNN top-1 at initialisation: %.2f%%\n", config.name(),
                                     state.random_init_knn);
  }

  TrainResult result;
  result.mechanism = mechanism->name();
  result.random_init_knn = state.random_init_knn;
  const int64_t epochs = config.optim().epochs();
  // run.stop_after_epochs ends this run early on the schedule of all `epochs`.
  const int64_t stop_epochs = run.stop_after_epochs() > 0 ? run.stop_after_epochs() : epochs;
  const int64_t total_steps = run.max_steps() > 0 ? std::min<int64_t>(run.max_steps(), stop_epochs * steps_per_epoch)
                                                  : stop_epochs * steps_per_epoch;
  const int64_t global_batch = config.optim().batch_size();
  int64_t step = state.step;
  const std::string metrics_path = (out_dir / "metrics.jsonl").string();
  std::error_code dir_error;
  std::filesystem::create_directories(out_dir, dir_error);
  if (dir_error) return absl::InternalError(absl::StrCat("cannot create ", out_dir.string(), ": ", dir_error.message()));
  if (lead) {
    // Temporary files of a run killed while writing (WriteFileAtomic's), which no one will finish.
    for (const auto& entry : std::filesystem::directory_iterator(out_dir, dir_error)) {
      const std::string name = entry.path().filename().string();
      for (const char* file : {"checkpoint.pt.tmp.", "metrics.jsonl.tmp.", "record.json.tmp."}) {
        if (absl::StartsWith(name, file)) std::filesystem::remove(entry.path(), dir_error);
      }
    }
    // A run killed after writing an epoch's line but before its checkpoint redoes that epoch:
    // keep only the lines of the epochs the checkpoint holds.
    MOCO_RETURN_IF_ERROR(KeepMetricsUpToEpoch(metrics_path, resumed ? state.epoch : 0));
  }
  // TensorBoard scalars beside metrics.jsonl (rank 0; each session of a run adds a file).
  std::optional<EventWriter> events;
  if (lead) {
    MOCO_ASSIGN_OR_RETURN(EventWriter opened, EventWriter::Open(out_dir.string()));
    events.emplace(std::move(opened));
    if (!resumed && state.random_init_knn >= 0) {
      MOCO_RETURN_IF_ERROR(events->Scalar("knn/top1", 0, state.random_init_knn));
    }
  }

  const double earlier_wall_seconds = state.wall_seconds;  // of the sessions before a resume
  auto save = [&](int64_t epochs_done) -> absl::Status {
    if (!lead) return absl::OkStatus();
    state.epoch = epochs_done;
    state.step = step;
    state.wall_seconds = earlier_wall_seconds + SecondsSince(started);
    absl::Status saved = SaveCheckpoint(checkpoint_path, state, *mechanism, sgd);
    if (!saved.ok()) {
      // The message says whether the previous checkpoint is kept (WriteFileAtomic).
      return absl::Status(saved.code(), absl::StrFormat("%s. Training stopped at epoch %d, step %d", saved.message(),
                                                        epochs_done + 1, step));
    }
    return absl::OkStatus();
  };

  const int64_t first_step_of_session = step;
  mechanism->train();
  for (int64_t epoch = state.epoch; epoch < epochs && step < total_steps && !result.diverged; ++epoch) {
    const int64_t first_batch = step - epoch * steps_per_epoch;
    loader.Start(epoch, first_batch);
    if (first_batch == 0) {  // else resumed mid-epoch: the sums so far came with the checkpoint
      state.epoch_loss_sum = state.epoch_accuracy_sum = 0;
      state.epoch_steps = 0;
    }
    const auto epoch_start = Clock::now();
    double lr = 0;
    for (int64_t b = first_batch; b < steps_per_epoch && step < total_steps; ++b) {
      lr = LearningRate(config, static_cast<int>(epoch), b, steps_per_epoch);
      for (auto& group_options : sgd.param_groups()) {
        static_cast<torch::optim::SGDOptions&>(group_options.options()).lr(lr);
      }
      const auto step_start = Clock::now();
      // Waits only if the batch prepared ahead is not ready; an image that cannot be decoded stops
      // the run with an error naming its file.
      MOCO_ASSIGN_OR_RETURN(TrainBatch batch, loader.Next());
      const double waited = SecondsSince(step_start);
      if (loader_options.views_on_device) {
        MOCO_RETURN_IF_ERROR(MakeViewsOnDevice(device, augment, &batch));
      } else {
        batch.view_q = batch.view_q.to(device, /*non_blocking=*/true);
        batch.view_k = batch.view_k.to(device, /*non_blocking=*/true);
      }
      absl::StatusOr<StepOutput> out = StepForward(*mechanism, batch, step, device, bf16);
      if (!out.ok()) return out.status();
      if (options.on_loss) options.on_loss(step, out->loss);
      const double loss = out->loss.item<double>();
      if (!std::isfinite(loss)) {
        // Divergence is an outcome of the run, not an error: stop here (the checkpoint on disk is
        // the last good one) and report it in the result and the record.
        const std::string kept =
            std::filesystem::exists(checkpoint_path)
                ? absl::StrFormat("The last good checkpoint (epoch %d, step %d) is kept at %s", state.epoch,
                                  state.step, checkpoint_path)
                : absl::StrCat("No checkpoint had been written yet (", checkpoint_path, ")");
        result.diverged = true;
        result.diverged_at_step = step;
        result.divergence = absl::StrFormat(
            "loss is %f at epoch %d, step %d: training stopped. %s; lower optim.lr or check the data", loss,
            epoch + 1, step, kept);
        break;
      }
      MOCO_RETURN_IF_ERROR(StepBackward(*out, sgd, group));
      ++step;
      const double accuracy = 100.0 * TopOneAccuracy(out->logits, out->targets);
      state.epoch_loss_sum += loss;
      state.epoch_accuracy_sum += accuracy;
      ++state.epoch_steps;
      result.last_loss = loss;
      result.last_pretext_top1 = accuracy;
      // The first step of each session warms caches and allocators; leave it out of the rate.
      if (step > first_step_of_session + 1) {
        state.train_seconds += SecondsSince(step_start);
        state.data_wait_seconds += waited;
        ++state.steps_timed;
      }
      const int every_steps = run.checkpoint_every_steps();
      if (every_steps > 0 && step % every_steps == 0 && b + 1 < steps_per_epoch && step < total_steps) {
        MOCO_RETURN_IF_ERROR(save(epoch));
      }
      const bool report = step % run.log_every_steps() == 0 || b + 1 == steps_per_epoch || step == total_steps;
      const double rate = state.steps_timed > 0 ? state.steps_timed * global_batch / state.train_seconds : 0;
      const double waiting = state.train_seconds > 0 ? 100.0 * state.data_wait_seconds / state.train_seconds : 0;
      if (events && report) {
        MOCO_RETURN_IF_ERROR(events->Scalar("train/loss", step, loss));
        MOCO_RETURN_IF_ERROR(events->Scalar("train/pretext_top1", step, accuracy));
        MOCO_RETURN_IF_ERROR(events->Scalar("train/lr", step, lr));
        if (rate > 0) MOCO_RETURN_IF_ERROR(events->Scalar("train/images_per_second", step, rate));
        MOCO_RETURN_IF_ERROR(events->Scalar("train/data_wait_percent", step, waiting));
        MOCO_RETURN_IF_ERROR(events->Flush());
      }
      if (log && report) {
        const double eta = rate > 0 ? (total_steps - step) * global_batch / rate : 0;
        *log << absl::StrFormat("[%s] epoch %d/%d step %d/%d  loss %.4f  pretext top-1 %5.1f%%  lr %.4g  "
                                "%.0f img/s (data wait %.1f%%)  ETA %s\n",
                                config.name(), epoch + 1, epochs, b + 1, steps_per_epoch, loss, accuracy, lr, rate,
                                waiting, ClockText(eta));
        log->flush();
      }
    }
    if (result.diverged) break;
    const bool epoch_done = step == (epoch + 1) * steps_per_epoch;
    const bool last = epoch + 1 == epochs || step >= total_steps;
    double knn_top1 = -1;
    const int every = config.eval().knn_every_epochs();
    if (monitor && epoch_done && (last || (every > 0 && (epoch + 1) % every == 0))) {
      MOCO_ASSIGN_OR_RETURN(knn_top1, knn());
      result.knn_top1 = knn_top1;
      if (log) *log << absl::StrFormat("[%s] epoch %d: kNN top-1 %.2f%% (k=%d, t=%g; at initialisation %.2f%%)\n",
                                       config.name(), epoch + 1, knn_top1, config.eval().knn_k(),
                                       config.eval().knn_t(), state.random_init_knn);
    }
    const double loss_mean = state.epoch_loss_sum / std::max<int64_t>(1, state.epoch_steps);
    const double accuracy_mean = state.epoch_accuracy_sum / std::max<int64_t>(1, state.epoch_steps);
    if (events && epoch_done) {
      MOCO_RETURN_IF_ERROR(events->Scalar("epoch/loss", step, loss_mean));
      MOCO_RETURN_IF_ERROR(events->Scalar("epoch/pretext_top1", step, accuracy_mean));
      if (knn_top1 >= 0) MOCO_RETURN_IF_ERROR(events->Scalar("knn/top1", step, knn_top1));
      MOCO_RETURN_IF_ERROR(events->Flush());
    }
    if (lead && epoch_done) {
      MOCO_RETURN_IF_ERROR(AppendLine(
          metrics_path,
          absl::StrFormat("{\"epoch\": %d, \"step\": %d, \"loss\": %.6f, \"pretext_top1\": %.4f, \"knn_top1\": %s, "
                          "\"epoch_seconds\": %.2f, \"lr\": %.8g}",
                          epoch + 1, step, loss_mean, accuracy_mean,
                          knn_top1 >= 0 ? absl::StrFormat("%.4f", knn_top1) : "null", SecondsSince(epoch_start), lr)));
    }
    if (epoch_done && ((epoch + 1) % run.checkpoint_every_epochs() == 0 || last)) {
      MOCO_RETURN_IF_ERROR(save(epoch + 1));
    } else if (!epoch_done) {
      MOCO_RETURN_IF_ERROR(save(epoch));  // stopped mid-epoch by run.max_steps
    }
  }

  absl::StatusOr<std::vector<EpochMetrics>> epochs_done = absl::NotFoundError("not rank 0");
  if (lead) {
    // curves.png beside metrics.jsonl; a plot that cannot be drawn costs the run nothing.
    epochs_done = ReadEpochMetrics(metrics_path);
    absl::Status drawn = epochs_done.ok()
                             ? WriteCurves(*epochs_done, state.random_init_knn, (out_dir / "curves.png").string())
                             : epochs_done.status();
    if (!drawn.ok() && log) *log << "[" << config.name() << "] no curves.png: " << drawn.message() << "\n";
  }

  result.steps = step;
  result.epochs_completed = step / steps_per_epoch;
  result.finished = step == epochs * steps_per_epoch;
  result.complete = step == stop_epochs * steps_per_epoch;
  if (state.epoch_steps > 0) {  // the epoch trained last, over every session that worked on it
    result.last_epoch_loss = state.epoch_loss_sum / state.epoch_steps;
    result.last_epoch_pretext_top1 = state.epoch_accuracy_sum / state.epoch_steps;
  }
  result.images_per_second = state.train_seconds > 0 ? state.steps_timed * global_batch / state.train_seconds : 0;
  result.data_wait_fraction = state.train_seconds > 0 ? state.data_wait_seconds / state.train_seconds : 0;
  result.wall_seconds = SecondsSince(started);
  if (monitor && resumed && result.knn_top1 < 0 && result.complete && !result.diverged) {  // re-reported
    MOCO_ASSIGN_OR_RETURN(result.knn_top1, knn());
  }
  result.total_wall_seconds = earlier_wall_seconds + result.wall_seconds;

  config::RunRecord& record = result.record;
  record.set_kind("pretrain");
  record.set_name(config.name());
  auto& metrics = *record.mutable_metrics();
  if (result.knn_top1 >= 0) metrics["knn_top1"] = result.knn_top1;
  if (result.random_init_knn >= 0) metrics["random_init_knn_top1"] = result.random_init_knn;
  metrics["loss"] = result.last_epoch_loss;  // means over the last epoch trained
  metrics["pretext_top1"] = result.last_epoch_pretext_top1;
  metrics["images_per_second"] = result.images_per_second;
  metrics["data_wait_fraction"] = result.data_wait_fraction;
  metrics["epochs"] = static_cast<double>(result.epochs_completed);
  metrics["steps"] = static_cast<double>(result.steps);
  metrics["finished"] = result.finished ? 1 : 0;
  if (result.diverged) {
    metrics["diverged"] = 1;
    metrics["diverged_at_step"] = static_cast<double>(result.diverged_at_step);
    metrics["last_finite_loss"] = result.last_loss;
    metrics["loss"] = std::numeric_limits<double>::quiet_NaN();
  }
  if (run.stop_after_epochs() > 0 && result.complete) metrics["stopped_at_epoch"] = static_cast<double>(stop_epochs);
  metrics["train_images"] = static_cast<double>(train.size());
  metrics["test_images"] = static_cast<double>(test.size());
  record.set_data_cache(train.streamed() ? "stream" : "in_memory");
  for (const LabeledImages* split : {&train, &test}) {
    for (const std::string& path : split->skipped->Paths()) record.add_skipped_images(path);
  }
  if (log && record.skipped_images_size() > 0) {
    *log << absl::StrFormat("[%s] %d image(s) could not be decoded and were replaced (data.on_bad_image SKIP): %s\n",
                            config.name(), record.skipped_images_size(), absl::StrJoin(record.skipped_images(), ", "));
  }
  StampRecord(config, device, threads, env.world_size, &record);
  record.set_wall_seconds(result.total_wall_seconds);
  record.set_checkpoint(checkpoint_path);
  if (epochs_done.ok()) {
    for (const EpochMetrics& m : *epochs_done) {
      config::EpochPoint& point = *record.add_curve();
      point.set_epoch(static_cast<int32_t>(m.epoch));
      point.set_loss(m.loss);
      point.set_pretext_top1(m.pretext_top1);
      if (m.knn_top1 >= 0) point.set_knn_top1(m.knn_top1);
      if (m.lr > 0) point.set_lr(m.lr);
    }
  }
  if (result.diverged) {
    record.set_note(result.divergence);
  } else if (!result.complete) {
    record.set_note("stopped by run.max_steps before the last epoch");
  } else if (!result.finished) {
    record.set_note(absl::StrFormat("stopped at epoch %d of %d by run.stop_after_epochs", stop_epochs, epochs));
  }
  if (lead) MOCO_RETURN_IF_ERROR(WriteRecord((out_dir / "record.json").string(), record));
  return result;
}

}  // namespace moco
