#include "moco/train/trainer.h"

#include <ATen/record_function.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "configs/config.h"
#include "configs/record.h"
#include "moco/augment/image_batches.h"
#include "moco/common/duration.h"
#include "moco/common/status.h"
#include "moco/contrastive/info_nce.h"
#include "moco/contrastive/mechanism.h"
#include "moco/models/autocast.h"
#include "moco/data/dataset.h"
#include "moco/distributed/distributed_env.h"
#include "moco/distributed/process_group.h"
#include "moco/train/checkpoint.h"
#include "moco/train/metrics_log.h"
#include "moco/train/knn_monitor.h"
#include "moco/train/lr_schedule.h"
#include "moco/train/run_log.h"
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

namespace {

// This session's pace, for the progress line (the checkpoint's timing covers every session).
struct SessionPace {
  double train_seconds = 0;  // of the timed steps
  double data_wait_seconds = 0;
  int64_t steps_timed = 0;
  Clock::time_point start;      // the end of the session's first step, which is not timed
  double knn_seconds = 0;       // in kNN passes since `start`
  double last_knn_seconds = -1;  // the last pass's, the one at initialisation included; -1: none yet
};

// A pretraining run between its phases (set up, create or resume, the epochs, finish).
struct Run {
  config::ExperimentConfig config;  // resolved and validated
  DistributedEnv env;
  RunContext context;
  std::optional<ProcessGroupHandle> group;
  std::unique_ptr<RunLog> log;
  Clock::time_point started;

  LabeledImages train, test;
  bool monitor = false;  // the data is labelled: the kNN monitor runs
  AugmentOptions augment;
  std::unique_ptr<TwoViewLoader> loader;
  int64_t steps_per_epoch = 0;
  int64_t stop_epochs = 0;  // run.stop_after_epochs, else the schedule's epochs
  int64_t total_steps = 0;  // where this run stops (run.max_steps, stop_epochs)

  std::unique_ptr<Mechanism> mechanism;
  std::unique_ptr<torch::optim::SGD> sgd;
  std::string checkpoint_path;
  CheckpointState state;  // what the next checkpoint holds
  bool resumed = false;
  double earlier_wall_seconds = 0;  // of the sessions before a resume
  int64_t step = 0;                 // optimizer steps done
  int64_t first_step_of_session = 0;
  SessionPace pace;
  TrainResult result;

  bool lead() const { return env.rank == 0; }
  int64_t epochs() const { return config.optim().epochs(); }
};

// The context, the processes' group, a fresh start, the data and the loader.
absl::Status SetUp(Run& run, const config::ExperimentConfig& input, const TrainOptions& options) {
  run.started = Clock::now();
  run.config = Resolve(input);
  const config::ExperimentConfig& config = run.config;
  MOCO_ASSIGN_OR_RETURN(run.env, DistributedEnvFromEnvironment());
  MOCO_RETURN_IF_ERROR(Validate(config, run.env.world_size));
  MOCO_ASSIGN_OR_RETURN(run.context, SetUpRun(config, run.env.local_rank));
  const RunContext& context = run.context;
  MOCO_ASSIGN_OR_RETURN(ProcessGroupHandle group, ConnectRunGroup(run.env, context));
  run.group.emplace(std::move(group));
  run.log = std::make_unique<RunLog>(config.name(), config.run().output_dir(), run.lead(), options.log);
  if (options.fresh) {
    if (run.lead()) ClearRunOutputs(config.run().output_dir());
    MOCO_RETURN_IF_ERROR(run.group->Barrier());
  }

  MOCO_ASSIGN_OR_RETURN(run.train, LoadDataset(config.data(), Split::kTrain, context.loader_threads));
  // An unlabeled folder (no class folders) pretrains without the kNN monitor, which needs labels.
  run.monitor = run.train.labeled;
  if (run.monitor) {
    MOCO_ASSIGN_OR_RETURN(run.test, LoadDataset(config.data(), Split::kTest, context.loader_threads));
  }
  run.augment = AugmentOptionsFor(config.data());
  MOCO_RETURN_IF_ERROR(run.train.streamed()
                           ? CheckAugmentOptions(run.augment)
                           : CheckAugmentArgs(run.train.height, run.train.width, run.train.channels, run.augment));
  LoaderOptions loader;
  loader.batch_size = config.optim().batch_size() / run.env.world_size;
  loader.rank = run.env.rank;
  loader.world_size = run.env.world_size;
  loader.seed = config.run().seed();
  loader.threads = context.loader_threads;
  loader.augment = run.augment;
  loader.device = context.device;
  loader.views_on_device = config.data().augment_on() == config::DataConfig::DEVICE;
  run.loader = std::make_unique<TwoViewLoader>(&run.train, loader);
  run.steps_per_epoch = run.loader->batches_per_epoch();
  if (run.steps_per_epoch == 0) {
    return absl::FailedPreconditionError(absl::StrCat("the training split holds ", run.train.size(),
                                                      " images, fewer than one global batch (optim.batch_size ",
                                                      config.optim().batch_size(), ")"));
  }
  const config::RunConfig& r = config.run();
  run.stop_epochs = r.stop_after_epochs() > 0 ? r.stop_after_epochs() : run.epochs();
  run.total_steps = run.stop_epochs * run.steps_per_epoch;
  if (r.max_steps() > 0) run.total_steps = std::min<int64_t>(r.max_steps(), run.total_steps);
  run.log->Say(absl::StrFormat(
      "%s: %d train / %d test images %s, %s; %lld steps/epoch; %s %s, views made on the %s, %d threads, "
      "%d process(es)",
      DatasetRoot(config.data()), run.train.size(), run.test.size(), DescribeImages(run.train),
      run.monitor ? absl::StrCat(run.train.class_names.size(), " classes")
                  : std::string("unlabeled (no class folders): no kNN monitor"),
      static_cast<long long>(run.steps_per_epoch), context.device.str(), context.bf16 ? "bf16" : "fp32",
      loader.views_on_device ? "device" : "host", context.threads, run.env.world_size));
  return absl::OkStatus();
}

// The weighted kNN top-1 (%) of the query encoder, the training split as memory.
absl::StatusOr<double> Knn(Run& run) {
  EncodeOptions encode;  // the embedding: the encoder's output, head included, L2-normalised
  encode.device = run.context.device;
  encode.threads = run.context.loader_threads;
  encode.bf16 = run.context.bf16;
  const auto start = Clock::now();
  ResNetImpl& encoder = *run.mechanism->query_encoder();
  MOCO_ASSIGN_OR_RETURN(const at::Tensor memory, EncodeImages(encoder, run.train, run.augment, encode));
  MOCO_ASSIGN_OR_RETURN(const at::Tensor queries, EncodeImages(encoder, run.test, run.augment, encode));
  const auto& eval = run.config.eval();
  const double top1 = 100.0 * KnnTopOne(memory, LabelTensor(run.train), queries, LabelTensor(run.test), eval.knn_k(),
                                        eval.knn_t(), static_cast<int>(run.train.class_names.size()));
  run.pace.last_knn_seconds = SecondsSince(start);
  run.pace.knn_seconds += run.pace.last_knn_seconds;
  return top1;
}

// The model and optimizer, from the checkpoint when there is one to resume (of the same config
// only), the kNN monitor at initialisation, and the run's log files.
absl::Status CreateOrResume(Run& run, const TrainOptions& options) {
  const config::ExperimentConfig& config = run.config;
  // Every rank seeds identically, so the encoders start equal.
  torch::manual_seed(config.run().seed());
  MOCO_ASSIGN_OR_RETURN(run.mechanism, CreateMechanism(config, run.train.size(),
                                                       static_cast<int>(run.train.class_names.size()), *run.group));
  run.mechanism->to(run.context.device);
  ToChannelsLast(*run.mechanism);
  run.sgd = MakeSgd(config, *run.mechanism);

  run.checkpoint_path = (std::filesystem::path(config.run().output_dir()) / "checkpoint.pt").string();
  const std::string config_text = ConfigIdentity(config);
  // The evaluators' settings travel beside the identity (which leaves them out), so that an
  // evaluation of the checkpoint uses this config's linear probe lr and detection settings.
  config::ExperimentConfig eval_only;
  *eval_only.mutable_eval() = config.eval();
  run.state.config = config_text;
  run.state.eval_config = ToText(eval_only);
  if (options.resume && std::filesystem::exists(run.checkpoint_path)) {
    // The config comes first: another config's tensors would not even fit the model.
    MOCO_ASSIGN_OR_RETURN(std::string saved_config, ReadCheckpointConfig(run.checkpoint_path));
    if (saved_config != config_text) {
      return absl::FailedPreconditionError(absl::StrCat(
          run.checkpoint_path, " was written by a different config (", FirstDifference(saved_config, config_text),
          "); pass --fresh to start over, or another --output_dir"));
    }
    const std::string eval_config = run.state.eval_config;
    MOCO_ASSIGN_OR_RETURN(run.state, LoadCheckpoint(run.checkpoint_path, *run.mechanism, *run.sgd));
    run.state.eval_config = eval_config;  // this session's: evaluation settings may change between sessions
    run.resumed = true;
    run.log->Say(absl::StrFormat("resumed from %s at epoch %d, step %d", run.checkpoint_path, run.state.epoch,
                                 run.state.step));
  }
  if (!run.resumed && options.knn_at_init && run.monitor) {
    MOCO_ASSIGN_OR_RETURN(run.state.random_init_knn, Knn(run));
    run.log->Say(absl::StrFormat("kNN top-1 at initialisation: %.2f%%", run.state.random_init_knn));
  }
  run.result.mechanism = run.mechanism->name();
  run.result.random_init_knn = run.state.random_init_knn;
  run.step = run.first_step_of_session = run.state.step;
  run.earlier_wall_seconds = run.state.wall_seconds;
  MOCO_RETURN_IF_ERROR(run.log->Begin(run.resumed ? run.state.epoch : 0));
  if (!run.resumed && run.state.random_init_knn >= 0) MOCO_RETURN_IF_ERROR(run.log->KnnAtInit(run.state.random_init_knn));
  return absl::OkStatus();
}

// Rank 0 writes the checkpoint of `epochs_done` epochs and the steps so far.
absl::Status Save(Run& run, int64_t epochs_done) {
  if (!run.lead()) return absl::OkStatus();
  run.state.epoch = epochs_done;
  run.state.step = run.step;
  run.state.wall_seconds = run.earlier_wall_seconds + SecondsSince(run.started);
  absl::Status saved = SaveCheckpoint(run.checkpoint_path, run.state, *run.mechanism, *run.sgd);
  if (!saved.ok()) {
    // The message says whether the previous checkpoint is kept (WriteFileAtomic).
    return absl::Status(saved.code(), absl::StrFormat("%s. Training stopped at epoch %d, step %d", saved.message(),
                                                      epochs_done + 1, run.step));
  }
  return absl::OkStatus();
}

// Divergence is an outcome of the run, not an error: it stops here (the checkpoint on disk is the
// last good one) and the result and the record say so.
void Diverged(Run& run, int64_t epoch, double loss) {
  const std::string kept =
      std::filesystem::exists(run.checkpoint_path)
          ? absl::StrFormat("The last good checkpoint (epoch %d, step %d) is kept at %s", run.state.epoch,
                            run.state.step, run.checkpoint_path)
          : absl::StrCat("No checkpoint had been written yet (", run.checkpoint_path, ")");
  run.result.diverged = true;
  run.result.diverged_at_step = run.step;
  run.result.divergence = absl::StrFormat(
      "loss is %f at epoch %d, step %d: training stopped. %s; lower optim.lr or check the data", loss, epoch + 1,
      run.step, kept);
}

// Step `b` of `epoch` at learning rate `lr`: the batch, forward, the non-finite check, backward
// and update, the epoch's sums and timing, a checkpoint every run.checkpoint_every_steps, and the
// log. Stops the run (result.diverged) at a non-finite loss, before the update.
absl::Status TrainStep(Run& run, int64_t epoch, int64_t b, double lr, const TrainOptions& options) {
  for (auto& group_options : run.sgd->param_groups()) {
    static_cast<torch::optim::SGDOptions&>(group_options.options()).lr(lr);
  }
  const auto step_start = Clock::now();
  // Waits only if the batch prepared ahead is not ready; an image that cannot be decoded stops
  // the run with an error naming its file.
  MOCO_ASSIGN_OR_RETURN(TrainBatch batch, run.loader->Next());
  const double waited = SecondsSince(step_start);
  MOCO_ASSIGN_OR_RETURN(StepOutput out, StepForward(*run.mechanism, batch, run.step, run.context.device,
                                                    run.context.bf16));
  if (options.on_loss) options.on_loss(run.step, out.loss);
  const double loss = out.loss.item<double>();
  if (!std::isfinite(loss)) {
    Diverged(run, epoch, loss);
    return absl::OkStatus();
  }
  MOCO_RETURN_IF_ERROR(StepBackward(out, *run.sgd, *run.group));
  const int64_t step = ++run.step;
  const double accuracy = 100.0 * TopOneAccuracy(out.logits, out.targets);
  CheckpointState& state = run.state;
  state.epoch_loss_sum += loss;
  state.epoch_accuracy_sum += accuracy;
  ++state.epoch_steps;
  run.result.last_loss = loss;
  run.result.last_pretext_top1 = accuracy;
  // The first step of each session warms caches and allocators; leave it out of the rate.
  if (step > run.first_step_of_session + 1) {
    const double seconds = SecondsSince(step_start);
    state.train_seconds += seconds;
    state.data_wait_seconds += waited;
    ++state.steps_timed;
    run.pace.train_seconds += seconds;
    run.pace.data_wait_seconds += waited;
    ++run.pace.steps_timed;
  } else {
    run.pace.start = Clock::now();
    run.pace.knn_seconds = 0;
  }
  const bool epoch_end = b + 1 == run.steps_per_epoch;
  const int every_steps = run.config.run().checkpoint_every_steps();
  if (every_steps > 0 && step % every_steps == 0 && !epoch_end && step < run.total_steps) {
    MOCO_RETURN_IF_ERROR(Save(run, epoch));
  }
  StepReport report;
  report.epoch = epoch;
  report.epochs = run.epochs();
  report.batch = b;
  report.batches = run.steps_per_epoch;
  report.step = step;
  report.total_steps = run.total_steps;
  report.global_batch = run.config.optim().batch_size();
  report.loss = loss;
  report.pretext_top1 = accuracy;
  report.lr = lr;
  report.report = step % run.config.run().log_every_steps() == 0 || epoch_end || step == run.total_steps;
  const SessionPace& pace = run.pace;
  if (report.report && pace.steps_timed > 0) {  // the figures of a line that is written
    report.images_per_second = pace.steps_timed * report.global_batch / pace.train_seconds;
    report.data_wait_percent = 100.0 * pace.data_wait_seconds / pace.train_seconds;
    // The steps left at the session's pace (checkpoints included), then the kNN passes left.
    const double seconds_per_step = (SecondsSince(pace.start) - pace.knn_seconds) / pace.steps_timed;
    const int64_t passes = run.monitor ? KnnPassesLeft(run.config, step, run.steps_per_epoch, run.total_steps) : 0;
    report.eta_seconds = (run.total_steps - step) * seconds_per_step + passes * std::max(0.0, pace.last_knn_seconds);
    report.eta_lacks_knn = passes > 0 && pace.last_knn_seconds < 0;
  }
  return run.log->StepDone(report);
}

// One epoch (or what is left of it, resumed or stopped by run.max_steps), then its kNN monitor,
// its metrics line and its checkpoint.
absl::Status TrainEpoch(Run& run, int64_t epoch, const TrainOptions& options) {
  const int64_t first_batch = run.step - epoch * run.steps_per_epoch;
  run.loader->Start(epoch, first_batch);
  if (first_batch == 0) {  // else resumed mid-epoch: the sums so far came with the checkpoint
    run.state.epoch_loss_sum = run.state.epoch_accuracy_sum = 0;
    run.state.epoch_steps = 0;
  }
  const auto epoch_start = Clock::now();
  double lr = 0;
  for (int64_t b = first_batch; b < run.steps_per_epoch && run.step < run.total_steps; ++b) {
    lr = LearningRate(run.config, static_cast<int>(epoch), b, run.steps_per_epoch);
    MOCO_RETURN_IF_ERROR(TrainStep(run, epoch, b, lr, options));
    if (run.result.diverged) return absl::OkStatus();
  }
  const bool epoch_done = run.step == (epoch + 1) * run.steps_per_epoch;
  if (!epoch_done) return Save(run, epoch);  // stopped mid-epoch by run.max_steps
  const bool last = epoch + 1 == run.epochs() || run.step >= run.total_steps;
  EpochMetrics metrics;
  metrics.epoch = epoch + 1;
  metrics.step = run.step;
  metrics.loss = run.state.epoch_loss_sum / std::max<int64_t>(1, run.state.epoch_steps);
  metrics.pretext_top1 = run.state.epoch_accuracy_sum / std::max<int64_t>(1, run.state.epoch_steps);
  metrics.lr = lr;
  const auto& eval = run.config.eval();
  if (run.monitor && KnnAfterEpoch(run.config, epoch, run.steps_per_epoch, run.total_steps)) {
    MOCO_ASSIGN_OR_RETURN(metrics.knn_top1, Knn(run));
    run.result.knn_top1 = metrics.knn_top1;
    run.log->Say(absl::StrFormat("epoch %d: kNN top-1 %.2f%% (k=%d, t=%g; at initialisation %.2f%%)", epoch + 1,
                                 metrics.knn_top1, eval.knn_k(), eval.knn_t(), run.state.random_init_knn));
  }
  metrics.epoch_seconds = SecondsSince(epoch_start);
  MOCO_RETURN_IF_ERROR(run.log->EpochDone(metrics));
  if ((epoch + 1) % run.config.run().checkpoint_every_epochs() == 0 || last) MOCO_RETURN_IF_ERROR(Save(run, epoch + 1));
  return absl::OkStatus();
}

// The run's record (kind "pretrain"): final numbers, the curve of every epoch, provenance.
config::RunRecord PretrainRecord(const Run& run, const absl::StatusOr<std::vector<EpochMetrics>>& epochs) {
  const TrainResult& result = run.result;
  config::RunRecord record;
  record.set_kind("pretrain");
  record.set_name(run.config.name());
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
  if (run.config.run().stop_after_epochs() > 0 && result.complete) {
    metrics["stopped_at_epoch"] = static_cast<double>(run.stop_epochs);
  }
  metrics["train_images"] = static_cast<double>(run.train.size());
  metrics["test_images"] = static_cast<double>(run.test.size());
  record.set_data_cache(run.train.streamed() ? "stream" : "in_memory");
  for (const LabeledImages* split : {&run.train, &run.test}) {
    for (const std::string& path : split->skipped->Paths()) record.add_skipped_images(path);
  }
  StampRecord(run.config, run.context.device, run.context.threads, run.env.world_size, &record);
  record.set_wall_seconds(result.total_wall_seconds);
  record.set_checkpoint(run.checkpoint_path);
  if (epochs.ok()) {
    for (const EpochMetrics& m : *epochs) {
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
    record.set_note(
        absl::StrFormat("stopped at epoch %d of %d by run.stop_after_epochs", run.stop_epochs, run.epochs()));
  }
  return record;
}

// The result and the record (rank 0 writes it), curves.png, and the kNN of a resumed run that
// completed without measuring it.
absl::Status Finish(Run& run) {
  const absl::StatusOr<std::vector<EpochMetrics>> epochs = run.log->Finish(run.state.random_init_knn);
  TrainResult& result = run.result;
  const CheckpointState& state = run.state;
  result.steps = run.step;
  result.epochs_completed = run.step / run.steps_per_epoch;
  result.finished = run.step == run.epochs() * run.steps_per_epoch;
  result.complete = run.step == run.stop_epochs * run.steps_per_epoch;
  if (state.epoch_steps > 0) {  // the epoch trained last, over every session that worked on it
    result.last_epoch_loss = state.epoch_loss_sum / state.epoch_steps;
    result.last_epoch_pretext_top1 = state.epoch_accuracy_sum / state.epoch_steps;
  }
  const int64_t global_batch = run.config.optim().batch_size();
  result.images_per_second = state.train_seconds > 0 ? state.steps_timed * global_batch / state.train_seconds : 0;
  result.data_wait_fraction = state.train_seconds > 0 ? state.data_wait_seconds / state.train_seconds : 0;
  result.wall_seconds = SecondsSince(run.started);
  if (run.monitor && run.resumed && result.knn_top1 < 0 && result.complete && !result.diverged) {  // re-reported
    MOCO_ASSIGN_OR_RETURN(result.knn_top1, Knn(run));
  }
  result.total_wall_seconds = run.earlier_wall_seconds + result.wall_seconds;
  result.record = PretrainRecord(run, epochs);
  if (result.record.skipped_images_size() > 0) {
    run.log->Say(absl::StrFormat("%d image(s) could not be decoded and were replaced (data.on_bad_image SKIP): %s",
                                 result.record.skipped_images_size(), absl::StrJoin(result.record.skipped_images(), ", ")));
  }
  if (!run.lead()) return absl::OkStatus();
  return WriteRecord((std::filesystem::path(run.config.run().output_dir()) / "record.json").string(), result.record);
}

}  // namespace

absl::StatusOr<TrainResult> Train(const config::ExperimentConfig& config, const TrainOptions& options) {
  auto run = std::make_unique<Run>();  // on the heap: the loader keeps a pointer to run->train
  MOCO_RETURN_IF_ERROR(SetUp(*run, config, options));
  MOCO_RETURN_IF_ERROR(CreateOrResume(*run, options));
  run->mechanism->train();
  for (int64_t epoch = run->state.epoch;
       epoch < run->epochs() && run->step < run->total_steps && !run->result.diverged; ++epoch) {
    MOCO_RETURN_IF_ERROR(TrainEpoch(*run, epoch, options));
  }
  MOCO_RETURN_IF_ERROR(Finish(*run));
  return std::move(run->result);
}

}  // namespace moco
