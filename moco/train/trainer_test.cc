// The trainer on real Fashion-MNIST (the Debian package every machine of this project has):
// resume is bit-identical, a non-finite loss stops the run and keeps the last good checkpoint,
// a checkpoint from another config is refused, and every mechanism trains.
#include "moco/train/trainer.h"

#include <torch/torch.h>

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <fstream>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "configs/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "configs/record.h"
#include "moco/common/cpu_info.h"
#include "moco/train/checkpoint.h"
#include "moco/train/run_setup.h"
#include "tests/python_reference.h"

namespace moco {
namespace {

using ::testing::HasSubstr;

std::string TempDir(const std::string& name) {
  const char* root = std::getenv("TEST_TMPDIR");
  std::filesystem::path dir = std::filesystem::path(root ? root : "/tmp") / name;
  std::filesystem::remove_all(dir);
  return dir.string();
}

config::ExperimentConfig TinyConfig(const std::string& mechanism, const std::string& output_dir) {
  absl::StatusOr<config::ExperimentConfig> config = ParseConfig(
      "name: \"test/tiny\"\n"
      "data { format: FASHION_MNIST root: \"/usr/share/datasets/fashion-mnist\" image_size: 28\n"
      "       augmentation: CIFAR max_train_images: 256 max_test_images: 128 loader_threads: 2 }\n"
      "model { depth: 18 width_multiplier: 0.125 stem: CIFAR bn_splits: 2 }\n"
      "temperature: 0.1\n"
      "optim { batch_size: 32 lr_reference_batch: 32 epochs: 2 lr: 0.06 schedule: COSINE weight_decay: 5e-4 }\n"
      "eval { knn_k: 20 knn_every_epochs: 0 }\n"
      "run { threads: 1 seed: 3 output_dir: \"" +
          output_dir + "\" }\n" + mechanism,
      "tiny");
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

// Parameters and buffers of a checkpoint's model, by name.
std::map<std::string, at::Tensor> CheckpointTensors(const std::string& path) {
  absl::StatusOr<std::map<std::string, at::Tensor>> tensors = ReadCheckpointTensors(path);
  EXPECT_TRUE(tensors.ok()) << tensors.status();
  return tensors.ok() ? *tensors : std::map<std::string, at::Tensor>();
}

int64_t CheckpointStep(const std::string& path) {
  absl::StatusOr<CheckpointState> state = ReadCheckpointState(path);
  EXPECT_TRUE(state.ok()) << state.status();
  return state.ok() ? state->step : -1;
}

TrainOptions Quiet() {
  TrainOptions options;
  options.knn_at_init = false;
  return options;
}

// Trains the tiny MoCo run straight and stopped-then-resumed at `precision`, checks the two
// end bit-identical, and returns the straight run's final tensors.
std::map<std::string, at::Tensor> ExpectResumeIsBitIdentical(
    config::RunConfig::Precision precision, const std::string& name,
    config::DataConfig::AugmentOn augment_on = config::DataConfig::HOST) {
  const std::string straight_dir = TempDir(name + "_straight"), resumed_dir = TempDir(name + "_resumed");
  const std::string moco = "moco { queue_size: 64 momentum: 0.99 }";
  auto config_in = [&](const std::string& dir) {
    config::ExperimentConfig c = TinyConfig(moco, dir);
    c.mutable_run()->set_precision(precision);
    c.mutable_data()->set_augment_on(augment_on);
    return c;
  };
  absl::StatusOr<TrainResult> straight = Train(config_in(straight_dir), Quiet());
  EXPECT_TRUE(straight.ok()) << straight.status();
  if (!straight.ok()) return {};
  EXPECT_TRUE(straight->finished);
  EXPECT_EQ(straight->steps, 16);
  EXPECT_TRUE(std::isfinite(straight->last_loss));

  // Stop mid-way through the first epoch, as a killed run would after a checkpoint...
  config::ExperimentConfig stopped = config_in(resumed_dir);
  stopped.mutable_run()->set_max_steps(5);
  absl::StatusOr<TrainResult> first = Train(stopped, Quiet());
  EXPECT_TRUE(first.ok()) << first.status();
  if (!first.ok()) return {};
  EXPECT_FALSE(first->finished);
  EXPECT_EQ(CheckpointStep(resumed_dir + "/checkpoint.pt"), 5);
  // ... and resume to the end.
  absl::StatusOr<TrainResult> rest = Train(config_in(resumed_dir), Quiet());
  EXPECT_TRUE(rest.ok()) << rest.status();
  if (!rest.ok()) return {};
  EXPECT_TRUE(rest->finished);

  auto a = CheckpointTensors(straight_dir + "/checkpoint.pt");
  auto b = CheckpointTensors(resumed_dir + "/checkpoint.pt");
  EXPECT_EQ(a.size(), b.size());
  EXPECT_TRUE(a.count("encoder_q.conv1.weight") && a.count("queue.queue") && a.count("encoder_k.fc.weight"));
  for (const auto& [tensor_name, tensor] : a) {
    EXPECT_TRUE(b.count(tensor_name) && torch::equal(tensor, b.at(tensor_name))) << tensor_name << " differs after resume";
  }
  EXPECT_EQ(straight->last_loss, rest->last_loss);
  EXPECT_EQ(straight->record.precision(), precision == config::RunConfig::BF16 ? "bf16" : "fp32");
  return a;
}

// run.stop_after_epochs trains the first epochs of the longer schedule (the lr as in the whole
// run), says so in the record, and a later run told to go further continues it: the curve and
// the weights equal those of a run never stopped.
TEST(TrainerTest, StopAfterEpochsThenGoingFurtherEqualsAnUnstoppedRun) {
  const std::string straight_dir = TempDir("stop_straight"), stopped_dir = TempDir("stop_stopped");
  auto config_in = [&](const std::string& dir, int stop) {
    config::ExperimentConfig c = TinyConfig("moco { queue_size: 64 momentum: 0.99 }", dir);
    c.mutable_optim()->set_epochs(4);
    c.mutable_optim()->set_schedule(config::OptimConfig::COSINE_NOTEBOOK);
    c.mutable_eval()->set_knn_every_epochs(1);
    c.mutable_run()->set_stop_after_epochs(stop);
    return c;
  };
  absl::StatusOr<TrainResult> straight = Train(config_in(straight_dir, 3), Quiet());
  ASSERT_TRUE(straight.ok()) << straight.status();
  EXPECT_TRUE(straight->complete);
  EXPECT_FALSE(straight->finished);
  EXPECT_EQ(straight->steps, 24);  // 3 epochs of 8 steps
  EXPECT_EQ(straight->record.metrics().at("stopped_at_epoch"), 3);
  EXPECT_EQ(straight->record.metrics().at("finished"), 0);
  EXPECT_EQ(straight->record.note(), "stopped at epoch 3 of 4 by run.stop_after_epochs");
  ASSERT_EQ(straight->record.curve_size(), 3);
  for (int e = 0; e < 3; ++e) {
    const config::EpochPoint& point = straight->record.curve(e);
    EXPECT_EQ(point.epoch(), e + 1);
    EXPECT_TRUE(point.has_knn_top1());
    // The notebook's convention: epoch e of 4 at 0.06 * 0.5 * (1 + cos(pi * e / 4)).
    EXPECT_NEAR(point.lr(), 0.06 * 0.5 * (1 + std::cos(M_PI * (e + 1) / 4)), 1e-7) << "epoch " << e + 1;
  }

  absl::StatusOr<TrainResult> first = Train(config_in(stopped_dir, 1), Quiet());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->complete);
  EXPECT_EQ(first->steps, 8);
  absl::StatusOr<TrainResult> further = Train(config_in(stopped_dir, 3), Quiet());
  ASSERT_TRUE(further.ok()) << further.status();
  EXPECT_EQ(further->steps, 24);
  EXPECT_EQ(further->record.config_hash(), straight->record.config_hash());
  ASSERT_EQ(further->record.curve_size(), 3);
  for (int e = 0; e < 3; ++e) {
    EXPECT_EQ(further->record.curve(e).loss(), straight->record.curve(e).loss()) << "epoch " << e + 1;
    EXPECT_EQ(further->record.curve(e).knn_top1(), straight->record.curve(e).knn_top1()) << "epoch " << e + 1;
  }
  auto a = CheckpointTensors(straight_dir + "/checkpoint.pt");
  auto b = CheckpointTensors(stopped_dir + "/checkpoint.pt");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [tensor_name, tensor] : a) {
    EXPECT_TRUE(b.count(tensor_name) && torch::equal(tensor, b.at(tensor_name))) << tensor_name << " differs";
  }
}

// The smoke tier's ImageNet sample: real JPEGs of every size, streamed at 224 px with the V2
// recipe. Stopped after 2 steps and resumed to 4, it ends bit-identical to 4 steps straight, and
// its record says the images were streamed.
TEST(TrainerTest, StreamsRealImageNetJpegsAndResumesBitIdentically) {
  absl::StatusOr<config::ExperimentConfig> loaded = LoadConfig("configs/smoke/imagenet_sample.pbtxt");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const std::string straight_dir = TempDir("inet_straight"), resumed_dir = TempDir("inet_resumed");
  auto config_in = [&](const std::string& dir, int steps) {
    config::ExperimentConfig c = *loaded;
    c.mutable_run()->set_output_dir(dir);
    c.mutable_run()->set_threads(2);
    c.mutable_run()->set_max_steps(steps);
    return c;
  };
  absl::StatusOr<TrainResult> straight = Train(config_in(straight_dir, 4), Quiet());
  ASSERT_TRUE(straight.ok()) << straight.status();
  EXPECT_EQ(straight->steps, 4);
  EXPECT_TRUE(std::isfinite(straight->last_loss));
  EXPECT_EQ(straight->record.data_cache(), "stream");
  EXPECT_EQ(straight->record.metrics().at("train_images"), 1000);
  absl::StatusOr<TrainResult> first = Train(config_in(resumed_dir, 2), Quiet());
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<TrainResult> rest = Train(config_in(resumed_dir, 4), Quiet());
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_EQ(rest->last_loss, straight->last_loss);
  auto a = CheckpointTensors(straight_dir + "/checkpoint.pt");
  auto b = CheckpointTensors(resumed_dir + "/checkpoint.pt");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [tensor_name, tensor] : a) {
    EXPECT_TRUE(b.count(tensor_name) && torch::equal(tensor, b.at(tensor_name))) << tensor_name << " differs";
  }
}

TEST(TrainerTest, ResumeAfterAStopGivesBitIdenticalWeights) {
  ExpectResumeIsBitIdentical(config::RunConfig::PRECISION_AUTO, "fp32");
}

// bf16 autocast: resume is bit-exact within the precision, the weights, queue and BN statistics
// stay float32, and the run differs from the float32 one (bf16 did run).
TEST(TrainerTest, Bf16RunsResumeBitIdenticallyAndKeepFloat32State) {
  if (!HasNativeBf16(ThisCpu())) GTEST_SKIP() << ThisCpu().model << " has no native bf16";
  const std::map<std::string, at::Tensor> bf16 = ExpectResumeIsBitIdentical(config::RunConfig::BF16, "bf16");
  ASSERT_TRUE(bf16.count("queue.queue") && bf16.count("encoder_q.bn1.running_mean"));
  for (const auto& [name, tensor] : bf16) {
    if (tensor.is_floating_point()) {
      EXPECT_EQ(tensor.scalar_type(), at::kFloat) << name;
    }
  }
  const std::map<std::string, at::Tensor> fp32 = ExpectResumeIsBitIdentical(config::RunConfig::FP32, "fp32_again");
  ASSERT_TRUE(fp32.count("encoder_q.conv1.weight"));
  EXPECT_FALSE(torch::equal(bf16.at("encoder_q.conv1.weight"), fp32.at("encoder_q.conv1.weight")));
  // Close, though: the same run at a coarser precision, not another run.
  EXPECT_LT((bf16.at("encoder_q.fc.weight") - fp32.at("encoder_q.fc.weight")).abs().max().item<double>(), 0.05);
}

// Views made by the batched tensor ops (data.augment_on DEVICE, here on the CPU): the run trains,
// resumes bit-exactly (the views' draws are seeded per batch), and is another run than the host
// views' (it did use them).
TEST(TrainerTest, DeviceMadeViewsTrainAndResumeBitIdentically) {
  const std::map<std::string, at::Tensor> device =
      ExpectResumeIsBitIdentical(config::RunConfig::FP32, "device_views", config::DataConfig::DEVICE);
  const std::map<std::string, at::Tensor> host = ExpectResumeIsBitIdentical(config::RunConfig::FP32, "host_views");
  ASSERT_TRUE(device.count("encoder_q.conv1.weight") && host.count("encoder_q.conv1.weight"));
  EXPECT_FALSE(torch::equal(device.at("encoder_q.conv1.weight"), host.at("encoder_q.conv1.weight")));
}

TEST(TrainerTest, RefusesToResumeACheckpointOfTheOtherPrecision) {
  if (!HasNativeBf16(ThisCpu())) GTEST_SKIP() << ThisCpu().model << " has no native bf16";
  const std::string dir = TempDir("other_precision");
  config::ExperimentConfig config = TinyConfig("moco { queue_size: 64 }", dir);
  config.mutable_run()->set_max_steps(2);
  ASSERT_TRUE(Train(config, Quiet()).ok());
  config.mutable_run()->set_precision(config::RunConfig::BF16);
  absl::StatusOr<TrainResult> result = Train(config, Quiet());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(), HasSubstr("precision: BF16"));
}

TEST(PrecisionTest, Bf16OnACpuWithoutNativeBf16IsRefusedNamingTheCpu) {
  const c10::Device cpu(c10::kCPU), gpu(c10::kCUDA, 0);
  const CpuInfo emulated = ParseCpuInfo("model name\t: Old Xeon E5\nflags\t: avx2 avx512f avx512bw\n");
  const CpuInfo native = ParseCpuInfo("model name\t: New Xeon\nflags\t: avx2 avx512f avx512_bf16\n");
  config::RunConfig run;
  run.set_precision(config::RunConfig::BF16);
  absl::StatusOr<bool> refused = PickBf16(run, cpu, emulated);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("run.precision"));
  EXPECT_THAT(refused.status().message(), HasSubstr("Old Xeon E5"));
  EXPECT_THAT(refused.status().message(), HasSubstr("precision: FP32"));
  EXPECT_EQ(PickBf16(run, cpu, native).value_or(false), true);
  EXPECT_EQ(PickBf16(run, gpu, emulated).value_or(false), true);  // the CPU's flags do not matter on a GPU
  run.set_precision(config::RunConfig::PRECISION_AUTO);
  EXPECT_EQ(PickBf16(run, cpu, native).value_or(true), false);
  EXPECT_EQ(PickBf16(run, gpu, native).value_or(false), true);
  run.set_precision(config::RunConfig::FP32);
  EXPECT_EQ(PickBf16(run, gpu, native).value_or(true), false);
}

// The identity config in a checkpoint leaves eval { } out; the evaluators' settings are kept
// beside it, so an evaluation of the checkpoint uses the config's linear lr, not the default 30.
TEST(TrainerTest, TheCheckpointKeepsTheEvaluatorsSettings) {
  const std::string dir = TempDir("eval_settings");
  config::ExperimentConfig config = TinyConfig("moco { queue_size: 64 }", dir);
  config.mutable_eval()->set_linear_lr(0.25);
  config.mutable_eval()->mutable_detection()->set_iterations(123);
  config.mutable_run()->set_max_steps(2);
  ASSERT_TRUE(Train(config, Quiet()).ok());
  absl::StatusOr<config::ExperimentConfig> saved = ReadCheckpointExperiment(dir + "/checkpoint.pt");
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_FLOAT_EQ(saved->eval().linear_lr(), 0.25f);
  EXPECT_EQ(saved->eval().detection().iterations(), 123);
  EXPECT_EQ(saved->eval().knn_k(), 20);
  EXPECT_EQ(saved->moco().queue_size(), 64);
  EXPECT_EQ(saved->model().width_multiplier(), config.model().width_multiplier());

  // Evaluation settings may change between sessions without changing the run: a resume keeps
  // the new ones.
  config.mutable_eval()->set_linear_lr(0.5);
  config.mutable_run()->set_max_steps(3);
  ASSERT_TRUE(Train(config, Quiet()).ok());
  saved = ReadCheckpointExperiment(dir + "/checkpoint.pt");
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_FLOAT_EQ(saved->eval().linear_lr(), 0.5f);
}

TEST(TrainerTest, NonFiniteLossStopsAndKeepsTheLastGoodCheckpoint) {
  const std::string dir = TempDir("nan");
  TrainOptions options = Quiet();
  options.on_loss = [](int64_t step, at::Tensor& loss) {
    if (step == 10) loss = loss * std::numeric_limits<double>::quiet_NaN();
  };
  absl::StatusOr<TrainResult> result = Train(TinyConfig("moco { queue_size: 64 }", dir), options);
  // Divergence is the run's outcome, with its record, not an error.
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->diverged);
  EXPECT_EQ(result->diverged_at_step, 10);
  EXPECT_THAT(result->divergence, HasSubstr("loss is nan"));
  EXPECT_THAT(result->divergence, HasSubstr(dir + "/checkpoint.pt"));
  EXPECT_EQ(result->record.metrics().at("diverged"), 1);
  EXPECT_EQ(result->record.metrics().at("diverged_at_step"), 10);
  EXPECT_TRUE(std::isnan(result->record.metrics().at("loss")));
  EXPECT_TRUE(std::isfinite(result->record.metrics().at("last_finite_loss")));
  EXPECT_EQ(result->record.note(), result->divergence);
  EXPECT_FALSE(result->record.git_commit().empty());  // the same provenance as any record
  // The checkpoint of epoch 1 (step 8) is intact and finite.
  EXPECT_EQ(CheckpointStep(dir + "/checkpoint.pt"), 8);
  for (const auto& [name, tensor] : CheckpointTensors(dir + "/checkpoint.pt")) {
    if (tensor.is_floating_point()) {
      ASSERT_TRUE(tensor.isfinite().all().item<bool>()) << name;
    }
  }
  // And the run resumes from it.
  absl::StatusOr<TrainResult> resumed = Train(TinyConfig("moco { queue_size: 64 }", dir), Quiet());
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_TRUE(resumed->finished);
}

TEST(TrainerTest, RefusesACheckpointOfAnotherConfig) {
  const std::string dir = TempDir("other");
  config::ExperimentConfig config = TinyConfig("moco { queue_size: 64 }", dir);
  config.mutable_run()->set_max_steps(2);
  ASSERT_TRUE(Train(config, Quiet()).ok());
  config.mutable_moco()->set_queue_size(128);
  absl::StatusOr<TrainResult> result = Train(config, Quiet());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result.status().message(), HasSubstr("queue_size"));
}

TEST(TrainerTest, CorruptCheckpointIsAnErrorNamingTheFile) {
  const std::string dir = TempDir("corrupt");
  config::ExperimentConfig config = TinyConfig("moco { queue_size: 64 }", dir);
  config.mutable_run()->set_max_steps(1);
  ASSERT_TRUE(Train(config, Quiet()).ok());
  const std::string path = dir + "/checkpoint.pt";
  const auto size = std::filesystem::file_size(path);
  {
    // One flipped bit in the middle: the checksum catches it before LibTorch reads anything.
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(static_cast<std::streamoff>(size / 2));
    char byte = 0;
    file.read(&byte, 1);
    byte ^= 0x10;
    file.seekp(static_cast<std::streamoff>(size / 2));
    file.write(&byte, 1);
  }
  absl::StatusOr<TrainResult> flipped = Train(config, Quiet());
  ASSERT_FALSE(flipped.ok());
  EXPECT_EQ(flipped.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(flipped.status().message(), HasSubstr(path + " is corrupt: checksum"));

  std::filesystem::resize_file(path, size / 2);
  absl::StatusOr<TrainResult> truncated = Train(config, Quiet());
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(truncated.status().message(), HasSubstr(path));
  EXPECT_THAT(truncated.status().message(), HasSubstr("truncated"));
}

// A full disk while checkpointing, simulated with a file-size limit below the checkpoint's size
// (writes past it fail with EFBIG, as they would with ENOSPC): the run stops, says so, and the
// previous checkpoint is intact and resumable.
TEST(TrainerTest, FailedCheckpointWriteStopsAndKeepsThePreviousOne) {
  const std::string dir = TempDir("full");
  config::ExperimentConfig config = TinyConfig("moco { queue_size: 64 }", dir);
  config.mutable_run()->set_max_steps(3);
  ASSERT_TRUE(Train(config, Quiet()).ok());
  const std::string path = dir + "/checkpoint.pt";
  const auto size = std::filesystem::file_size(path);

  config.mutable_run()->set_max_steps(6);
  struct rlimit old_limit;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit limit = old_limit;
  limit.rlim_cur = size / 2;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  absl::StatusOr<TrainResult> result = Train(config, Quiet());
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("checkpoint not saved: cannot write " + path));
  EXPECT_THAT(result.status().message(), HasSubstr("; the previous file is kept. Training stopped at epoch "));
  EXPECT_EQ(CheckpointStep(path), 3);
  EXPECT_EQ(std::filesystem::file_size(path), size);
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_THAT(entry.path().filename().string(), ::testing::Not(HasSubstr(".tmp."))) << "temporary file left";
  }
  absl::StatusOr<TrainResult> resumed = Train(config, Quiet());
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(CheckpointStep(path), 6);
}

// The progress line's rate and ETA are the session's own: a resumed run's slow first session
// (each step held 1 s by on_loss) leaves the second session's rate alone, while the record's
// rate counts every session. The ETA counts the kNN passes left once the session has timed one.
TEST(TrainerTest, TheProgressLinesRateIsThisSessionsAfterAResume) {
  const std::string dir = TempDir("session_pace");
  config::ExperimentConfig config = TinyConfig("moco { queue_size: 64 }", dir);
  config.mutable_run()->set_log_every_steps(1);
  config.mutable_run()->set_max_steps(8);  // epoch 1 of 2
  TrainOptions slow = Quiet();
  slow.on_loss = [](int64_t, at::Tensor&) { std::this_thread::sleep_for(std::chrono::seconds(1)); };
  std::ostringstream first_progress;
  slow.log = &first_progress;
  slow.knn_at_init = true;  // a timed kNN pass: the ETA counts the one left after epoch 1, where this session stops
  ASSERT_TRUE(Train(config, slow).ok());
  EXPECT_THAT(first_progress.str(), HasSubstr("epoch 1/2 step 8/8"));
  EXPECT_THAT(first_progress.str(), ::testing::Not(HasSubstr("+ kNN passes"))) << first_progress.str();

  config.mutable_run()->set_max_steps(0);
  std::ostringstream progress;
  TrainOptions fast = Quiet();
  fast.log = &progress;
  absl::StatusOr<TrainResult> resumed = Train(config, fast);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  const std::string lines = progress.str();
  const size_t unit = lines.rfind(" img/s");
  ASSERT_NE(unit, std::string::npos) << lines;
  const double session_rate = std::stod(lines.substr(lines.rfind(' ', unit - 1) + 1));
  // 14 timed steps: 7 of over 1 s, 7 of the tiny model's tens of milliseconds.
  EXPECT_LT(resumed->images_per_second, 14 * 32 / 7.0);
  EXPECT_GT(session_rate, 2 * resumed->images_per_second) << lines;
  EXPECT_THAT(lines, HasSubstr("epoch 2/2 step 8/8")) << lines;
  // This session has timed no kNN pass yet, and the last epoch's is ahead: the ETA says so.
  EXPECT_THAT(lines, HasSubstr("ETA 0:00 + kNN passes")) << lines;
}

// Mid-epoch checkpoints (run.checkpoint_every_steps) and a resume from one: the same weights,
// optimizer state, RNG and epoch sums as a run never stopped, and the same record metrics.
TEST(TrainerTest, ResumeFromAMidEpochCheckpointIsBitIdentical) {
  const std::string straight_dir = TempDir("steps_straight"), resumed_dir = TempDir("steps_resumed");
  const std::string bank = "memory_bank { num_negatives: 64 }";
  config::ExperimentConfig straight = TinyConfig(bank, straight_dir);
  straight.mutable_run()->set_checkpoint_every_steps(3);
  absl::StatusOr<TrainResult> a = Train(straight, Quiet());
  ASSERT_TRUE(a.ok()) << a.status();

  config::ExperimentConfig stopped = TinyConfig(bank, resumed_dir);
  stopped.mutable_run()->set_checkpoint_every_steps(3);
  stopped.mutable_run()->set_max_steps(13);  // epoch 2, step 5 of 8
  ASSERT_TRUE(Train(stopped, Quiet()).ok());
  stopped.mutable_run()->set_max_steps(0);
  absl::StatusOr<TrainResult> b = Train(stopped, Quiet());
  ASSERT_TRUE(b.ok()) << b.status();

  absl::StatusOr<std::vector<std::string>> differences =
      CheckpointDifferences(straight_dir + "/checkpoint.pt", resumed_dir + "/checkpoint.pt");
  ASSERT_TRUE(differences.ok()) << differences.status();
  EXPECT_THAT(*differences, ::testing::IsEmpty());
  EXPECT_EQ(a->last_epoch_loss, b->last_epoch_loss);
  EXPECT_EQ(a->last_epoch_pretext_top1, b->last_epoch_pretext_top1);
  std::ifstream la(straight_dir + "/metrics.jsonl"), lb(resumed_dir + "/metrics.jsonl");
  std::string line_a, line_b;
  int lines = 0;
  while (std::getline(la, line_a)) {
    ASSERT_TRUE(std::getline(lb, line_b));
    EXPECT_EQ(line_a.substr(0, line_a.find("\"epoch_seconds\"")), line_b.substr(0, line_b.find("\"epoch_seconds\"")));
    ++lines;
  }
  EXPECT_EQ(lines, 2);
  EXPECT_FALSE(std::getline(lb, line_b)) << "extra line: " << line_b;
}

TEST(TrainerTest, EveryMechanismTrainsAndReportsKnn) {
  for (const std::string mechanism : {"end_to_end {}", "memory_bank { num_negatives: 64 }", "supervised {}"}) {
    SCOPED_TRACE(mechanism);
    config::ExperimentConfig config = TinyConfig(mechanism, TempDir("mechanism"));
    config.mutable_optim()->set_epochs(1);
    TrainOptions options;  // with the kNN at initialisation
    absl::StatusOr<TrainResult> result = Train(config, options);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_TRUE(result->finished);
    EXPECT_TRUE(std::isfinite(result->last_loss));
    EXPECT_GT(result->knn_top1, 10.0);  // 10 classes: above chance
    EXPECT_GT(result->random_init_knn, 0.0);
    absl::StatusOr<config::RunRecord> record = ReadRecord(config.run().output_dir() + "/record.json");
    ASSERT_TRUE(record.ok()) << record.status();
    EXPECT_EQ(record->kind(), "pretrain");
    EXPECT_DOUBLE_EQ(record->metrics().at("knn_top1"), result->knn_top1);
    EXPECT_EQ(record->config_hash(), ConfigHash(ConfigIdentity(config)));
    EXPECT_TRUE(std::filesystem::exists(config.run().output_dir() + "/metrics.jsonl"));
  }
}

TEST(TrainerTest, WritesTensorBoardScalarsThatTensorBoardReads) {
  config::ExperimentConfig config = TinyConfig("moco { queue_size: 64 }", TempDir("events"));
  config.mutable_run()->set_log_every_steps(3);
  absl::StatusOr<TrainResult> result = Train(config, TrainOptions());  // kNN at initialisation too
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->steps, 16);  // 2 epochs of 256 / 32
  // steps 3, 6, ..., 15 and the epoch ends 8 and 16; kNN at step 0 and 16.
  ASSERT_NO_FATAL_FAILURE(RunPython("moco/train/trainer_events_test.py",
                                    config.run().output_dir() + " 16 2 3"));
}

}  // namespace
}  // namespace moco
