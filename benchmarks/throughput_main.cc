// Training throughput: images per second of one full training step (forward, loss, backward,
// SGD step, and the mechanism's own updates) of MoCo, the end-to-end and memory-bank baselines and
// supervised training, with the batch already in memory or end to end from CIFAR-10 JPEG through
// the trainer, at the CPU tier's model and at ResNet-50 224 px; and the peak resident memory of
// each case. Prints one JSON document.
//
//   bazel run //benchmarks:throughput -- --cases=moco/memory/r18,supervised/memory/r18
//   bazel run //benchmarks:throughput -- --steps=20 --out=/tmp/throughput.json   # every case
//
// A case is <mechanism>/<source>/<model>[/nchw|/devaug|/stream][/bf16|/fp32]:
//   mechanism  moco, end_to_end, memory_bank or supervised
//   source     memory:  a fixed batch of random images already in memory, so only the step is timed
//              dataset: the trainer itself (moco/train/trainer.h) on CIFAR-10 JPEG: images decoded
//                       once, two views per image made on the loader threads while the step runs;
//                       its first step is left out, and the share of step time spent waiting for
//                       data is reported
//   model      r18:    the CPU tier's (configs/cpu/moco_cifar10.pbtxt: CIFAR ResNet-18 width x0.25,
//                      split BN over 8, batch 256, 32 px, K = 4096)
//              r18gpu: the GPU tier's (configs/gpu/moco_cifar10.pbtxt: width 1, batch 512)
//              r50:    the paper's (configs/paper/moco_v1_r50_imagenet.pbtxt: ResNet-50, 224 px,
//                      K = 65536) with batch --r50_batch; its dataset source upsamples CIFAR-10
//   /nchw      contiguous NCHW tensors instead of channels_last (memory source only: the trainer
//              always uses channels_last)
//   /devaug    data.augment_on DEVICE (dataset source only): the loader gathers decoded images and
//              the views are made on the training device by batched tensor ops, inside the step
//   /stream    data.cache STREAM (dataset source only): each image decoded from its file when its
//              batch is prepared, instead of once up front; for r50, from the ImageNet sample
//              (imagenet-sample/train: real JPEGs of every size, V2 views at 224 px)
//   /bf16 /fp32 run.precision BF16 or FP32 (default PRECISION_AUTO: bf16 on a GPU, fp32 on a CPU);
//              bf16 on a CPU without native bf16 is refused, as the trainer refuses it
// --profile_steps=N profiles N more steps of each memory case after its timed ones (the timing is
// not disturbed) and adds a "profile" object: self time per step by op class (step_profile.h),
// the step's FLOPs and FLOP/s, and the measured GEMM peak at the case's precision and threads.
// Each case runs in a process of its own (the same binary with --isolate=false), so that its peak
// resident memory (getrusage's ru_maxrss) is its own. Steps run as the trainer runs them: with
// channels_last, under bf16 autocast where the case's precision says so (moco/models/autocast.h).
#include <ATen/ATen.h>
#include <sys/resource.h>
#include <torch/cuda.h>
#include <torch/headeronly/version.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "moco/common/subprocess.h"
#include "configs/config.h"
#include "moco/common/duration.h"
#include "moco/common/paths.h"
#include "moco/common/status.h"
#include "moco/contrastive/info_nce.h"
#include "moco/contrastive/mechanism.h"
#include "moco/distributed/distributed_env.h"
#include "moco/distributed/process_group.h"
#include "moco/train/run_setup.h"
#include "moco/train/trainer.h"
#include "benchmarks/step_profile.h"

constexpr char kAllCases[] =
    "moco/memory/r18,moco/memory/r18/nchw,end_to_end/memory/r18,memory_bank/memory/r18,supervised/memory/r18,"
    "moco/dataset/r18,supervised/dataset/r18,moco/memory/r50,supervised/memory/r50";

ABSL_FLAG(std::string, cases, kAllCases,
          "Comma-separated cases (mechanism/source/model[/nchw|/devaug|/stream][/bf16|/fp32]; see the top of "
          "throughput_main.cc), or 'all'.");
ABSL_FLAG(int, steps, 20, "Timed steps per case.");
ABSL_FLAG(int, warmup, 3, "Untimed steps before them (memory source; the trainer leaves out its first step).");
ABSL_FLAG(int, batch, 0, "Batch size of the r18 and r18gpu cases (0: their config's, 256 and 512).");
ABSL_FLAG(int, r50_batch, 16, "Batch size of the r50 cases.");
ABSL_FLAG(int, threads, 0, "Intra-op threads (and loader threads): 0 is one per core.");
ABSL_FLAG(int, max_train_images, 0,
          "Dataset source: decode at most this many CIFAR-10 training images (0: all 50,000; raised to what the "
          "steps need).");
ABSL_FLAG(std::string, device, "auto", "cpu, cuda, or auto (cuda when a GPU is there).");
ABSL_FLAG(std::string, configs_dir, "configs", "Where the cpu/, gpu/ and paper/ experiment files are.");
ABSL_FLAG(bool, isolate, true, "Run each case in a process of its own (for its own peak resident memory).");
ABSL_FLAG(std::string, out, "", "Also write the JSON document to this file.");
ABSL_FLAG(int, profile_steps, 0,
          "After the timed steps of each memory case, profile this many more (0: none): a Chrome trace in "
          "--profile_dir and, in the case's JSON, the time by op class and the FLOP/s against the GEMM peak.");
ABSL_FLAG(std::string, profile_dir, "runs/profile", "Where the profile's Chrome traces go (one per case).");

namespace moco {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr int64_t kCifarTrainImages = 50000;
constexpr int kCifarClasses = 10;

struct Case {
  std::string name;
  std::string mechanism;  // moco, end_to_end, memory_bank, supervised
  std::string source;     // memory, dataset
  std::string model;      // r18, r18gpu, r50
  bool channels_last = true;
  bool views_on_device = false;  // data.augment_on DEVICE (dataset source)
  bool stream = false;           // data.cache STREAM (dataset source)
  config::RunConfig::Precision precision = config::RunConfig::PRECISION_AUTO;
};

absl::StatusOr<Case> ParseCase(const std::string& name) {
  const std::vector<std::string> parts = absl::StrSplit(name, '/');
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("--cases: '", name, "': ", why));
  };
  if (parts.size() < 3 || parts.size() > 5) {
    return bad("want mechanism/source/model[/nchw|/devaug|/stream][/bf16|/fp32]");
  }
  Case c{name, parts[0], parts[1], parts[2]};
  const std::vector<std::string> mechanisms = {"moco", "end_to_end", "memory_bank", "supervised"};
  if (std::find(mechanisms.begin(), mechanisms.end(), c.mechanism) == mechanisms.end()) {
    return bad("mechanism is not one of moco, end_to_end, memory_bank, supervised");
  }
  if (c.source != "memory" && c.source != "dataset") return bad("source is not memory or dataset");
  if (c.model != "r18" && c.model != "r18gpu" && c.model != "r50") return bad("model is not r18, r18gpu or r50");
  for (size_t i = 3; i < parts.size(); ++i) {
    const bool precision_set = c.precision != config::RunConfig::PRECISION_AUTO;
    if (parts[i] == "nchw" && i == 3) {
      if (c.source == "dataset") return bad("the trainer always uses channels_last; nchw is for the memory source");
      c.channels_last = false;
    } else if (parts[i] == "devaug" && i == 3) {
      if (c.source != "dataset") return bad("devaug makes the trainer's views on the device: dataset source only");
      c.views_on_device = true;
    } else if (parts[i] == "stream" && i == 3) {
      if (c.source != "dataset") return bad("stream decodes the trainer's images from their files: dataset source only");
      c.stream = true;
    } else if ((parts[i] == "bf16" || parts[i] == "fp32") && !precision_set) {
      c.precision = parts[i] == "bf16" ? config::RunConfig::BF16 : config::RunConfig::FP32;
    } else {
      return bad(absl::StrCat("'", parts[i], "': after the model come nchw, devaug or stream, then bf16 or fp32"));
    }
  }
  return c;
}


// CPU seconds (user + system) this process has used, all its threads.
double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + 1e-6 * (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

int Threads() {
  const int threads = absl::GetFlag(FLAGS_threads);
  return threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

bool UseCuda() {
  const std::string device = absl::GetFlag(FLAGS_device);
  return device == "cuda" || (device == "auto" && torch::cuda::is_available());
}

// The case's experiment: its model's tier config with the case's mechanism, batch and threads.
absl::StatusOr<config::ExperimentConfig> CaseConfig(const Case& c) {
  const std::string file = c.model == "r18"      ? "cpu/moco_cifar10.pbtxt"
                           : c.model == "r18gpu" ? "gpu/moco_cifar10.pbtxt"
                                                 : "paper/moco_v1_r50_imagenet.pbtxt";
  absl::StatusOr<config::ExperimentConfig> config = LoadExperiment(
      UserPath((fs::path(absl::GetFlag(FLAGS_configs_dir)) / file).string()), "", [&](config::ExperimentConfig* e) {
        if (c.model == "r50") {
          e->mutable_optim()->set_batch_size(absl::GetFlag(FLAGS_r50_batch));
          // No ImageNet here: the dataset source makes 224 px views of CIFAR-10 images.
          e->mutable_data()->set_root("cifar10-jpeg");
          e->mutable_data()->set_test_split("test");
        } else if (absl::GetFlag(FLAGS_batch) > 0) {
          e->mutable_optim()->set_batch_size(absl::GetFlag(FLAGS_batch));
        }
        if (c.mechanism == "end_to_end") e->mutable_end_to_end();
        if (c.mechanism == "memory_bank") e->mutable_memory_bank();
        if (c.mechanism == "supervised") e->mutable_supervised();
        e->mutable_run()->set_threads(Threads());
        e->mutable_run()->set_device(UseCuda() ? config::RunConfig::CUDA : config::RunConfig::CPU_ONLY);
        e->mutable_run()->set_precision(c.precision);
        e->mutable_eval()->set_knn_every_epochs(0);
        e->mutable_data()->set_loader_threads(Threads());
        if (c.views_on_device) e->mutable_data()->set_augment_on(config::DataConfig::DEVICE);
        if (c.stream) {
          e->mutable_data()->set_cache(config::DataConfig::STREAM);
          if (c.model == "r50") {  // real ImageNet JPEGs of every size, the paper's V2 views
            e->mutable_data()->set_root("imagenet-sample");
            e->mutable_data()->set_test_split("train");
            e->mutable_data()->set_augmentation(config::DataConfig::V2);
          }
        }
        return absl::OkStatus();
      });
  if (!config.ok()) return absl::Status(config.status().code(), absl::StrCat(c.name, ": ", config.status().message()));
  return config;
}

json StepStatistics(std::vector<double> seconds, int64_t batch) {
  json out;
  const double total = std::accumulate(seconds.begin(), seconds.end(), 0.0);
  std::sort(seconds.begin(), seconds.end());
  const double median = seconds[seconds.size() / 2];
  out["images_per_second"] = seconds.size() * batch / total;
  out["images_per_second_median_step"] = batch / median;
  out["step_seconds_median"] = median;
  out["step_seconds_min"] = seconds.front();
  out["step_seconds_max"] = seconds.back();
  return out;
}

// The step as the trainer runs it, on a fixed batch of random images already on the device.
absl::StatusOr<json> RunFromMemory(const Case& c, const config::ExperimentConfig& config, const RunContext& context) {
  const int64_t batch = config.optim().batch_size();
  const int size = config.data().image_size();
  const c10::Device device = context.device;
  const bool bf16 = context.bf16;
  MOCO_ASSIGN_OR_RETURN(DistributedEnv env, DistributedEnvFromVariables({}));
  MOCO_ASSIGN_OR_RETURN(ProcessGroupHandle group, ConnectProcessGroup(env, Backend::kGloo, absl::Minutes(1)));
  torch::manual_seed(0);
  MOCO_ASSIGN_OR_RETURN(std::unique_ptr<Mechanism> mechanism,
                        CreateMechanism(config, kCifarTrainImages, kCifarClasses, group));
  mechanism->to(device);
  if (c.channels_last) ToChannelsLast(*mechanism);
  std::unique_ptr<torch::optim::SGD> optimizer = MakeSgd(config, *mechanism);
  torch::optim::SGD& sgd = *optimizer;
  const auto format = c.channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  TrainBatch data;
  data.view_q = at::randn({batch, 3, size, size}).contiguous(format).to(device);  // N x 3 x S x S
  data.view_k = at::randn({batch, 3, size, size}).contiguous(format).to(device);
  data.indices = at::randint(kCifarTrainImages, {batch}, at::kLong);
  data.labels = at::randint(kCifarClasses, {batch}, at::kLong);
  mechanism->train();

  const int warmup = absl::GetFlag(FLAGS_warmup), steps = absl::GetFlag(FLAGS_steps);
  std::vector<double> seconds;
  double cpu_seconds = 0;
  for (int step = 0; step < warmup + steps; ++step) {
    const auto start = Clock::now();
    const double cpu_start = CpuSeconds();
    // The trainer's step (moco/train/trainer.h), with its non-finite check between the halves.
    absl::StatusOr<StepOutput> out = StepForward(*mechanism, data, step, device, bf16);
    if (!out.ok()) return out.status();
    const double loss = out->loss.item<double>();  // the trainer's non-finite check syncs here too
    if (!std::isfinite(loss)) return absl::DataLossError(absl::StrCat(c.name, ": loss is ", loss, " at step ", step));
    MOCO_RETURN_IF_ERROR(StepBackward(*out, sgd, group));
    TopOneAccuracy(out->logits, out->targets);
    if (device.is_cuda()) torch::cuda::synchronize();
    if (step >= warmup) {
      seconds.push_back(SecondsSince(start));
      cpu_seconds += CpuSeconds() - cpu_start;
    }
  }
  json out = StepStatistics(seconds, batch);
  if (const int profile_steps = absl::GetFlag(FLAGS_profile_steps); profile_steps > 0) {
    std::string file = c.name;
    std::replace(file.begin(), file.end(), '/', '_');
    const std::string trace = (fs::path(OutputPath(absl::GetFlag(FLAGS_profile_dir))) / (file + ".trace.json")).string();
    const auto start = Clock::now();
    StepProfiler profiler;
    for (int step = 0; step < profile_steps; ++step) {
      MOCO_ASSIGN_OR_RETURN(StepOutput step_out, StepForward(*mechanism, data, warmup + steps + step, device, bf16));
      MOCO_RETURN_IF_ERROR(StepBackward(step_out, sgd, group));
    }
    const double profiled_seconds = SecondsSince(start);
    MOCO_ASSIGN_OR_RETURN(std::vector<ProfiledOp> ops, profiler.Stop(trace));
    const StepProfile profile = SummariseOps(std::move(ops));
    const double step_seconds = out["step_seconds_median"].get<double>();  // unprofiled
    const double flops_per_step = profile.step_flops / profile_steps;
    const double peak = MeasureGemmFlops(bf16, 1024, 1.0);
    json classes = json::array();
    for (const OpClassTime& k : profile.classes) {
      classes.push_back({{"class", k.op_class},
                         {"seconds_per_step", k.seconds / profile_steps},
                         {"share_of_ops", k.seconds / profile.op_seconds},
                         {"calls_per_step", static_cast<double>(k.calls) / profile_steps}});
    }
    out["profile"] = {{"steps", profile_steps},
                      {"trace", trace},
                      {"profiled_seconds_per_step", profiled_seconds / profile_steps},
                      {"op_seconds_per_step", profile.op_seconds / profile_steps},
                      {"classes", classes},
                      {"flops_per_step", flops_per_step},
                      {"achieved_flops_per_second", flops_per_step / step_seconds},
                      {"gemm_peak_flops_per_second", peak},
                      {"gemm_peak_how", absl::StrCat("best of repeated 1024 x 1024 x 1024 ", bf16 ? "bf16" : "fp32",
                                                     " at::mm at ", at::get_num_threads(), " threads")}};
  }
  // Per CPU second of this process: at one thread, a figure that other work on the machine barely
  // moves (the CI regression's); with more threads it also counts OpenMP's spin-waiting.
  out["images_per_cpu_second"] = steps * batch / cpu_seconds;
  return out;
}

// The trainer, stopped by run.max_steps: its own rate (first step left out) and data-wait share.
absl::StatusOr<json> RunFromDataset(const Case& c, config::ExperimentConfig config) {
  const int steps = absl::GetFlag(FLAGS_steps);
  const int64_t batch = config.optim().batch_size();
  int64_t images = absl::GetFlag(FLAGS_max_train_images);
  // One epoch must hold every step: an epoch boundary restarts the prefetch.
  if (images > 0) images = std::max<int64_t>(images, batch * (steps + 2));
  config.mutable_data()->set_max_train_images(static_cast<int>(images));
  config.mutable_data()->set_max_test_images(64);
  config.mutable_optim()->set_epochs(std::max(2, config.optim().epochs()));
  config.mutable_run()->set_max_steps(steps + 1);
  config.mutable_run()->set_log_every_steps(1 << 30);
  const fs::path dir = fs::temp_directory_path() / absl::StrCat("moco_throughput_", getpid());
  config.mutable_run()->set_output_dir(dir.string());
  TrainOptions options;
  options.resume = false;
  options.knn_at_init = false;
  const auto start = Clock::now();
  absl::StatusOr<TrainResult> result = Train(config, options);
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!result.ok()) return absl::Status(result.status().code(), absl::StrCat(c.name, ": ", result.status().message()));
  json out;
  out["images_per_second"] = result->images_per_second;
  out["data_wait_fraction"] = result->data_wait_fraction;
  out["train_images"] = result->record.metrics().at("train_images");
  out["wall_seconds_with_decoding"] = SecondsSince(start);
  return out;
}

absl::StatusOr<json> RunCase(const Case& c) {
  MOCO_ASSIGN_OR_RETURN(config::ExperimentConfig config, CaseConfig(c));
  // run.threads is Threads(); the precision the step runs at, as the trainer resolves it.
  MOCO_ASSIGN_OR_RETURN(const RunContext context, SetUpRun(config));
  const bool bf16 = context.bf16;
  const auto start = Clock::now();
  absl::StatusOr<json> figures =
      c.source == "memory" ? RunFromMemory(c, config, context) : RunFromDataset(c, config);
  if (!figures.ok()) return figures.status();
  json out = {{"case", c.name},
              {"mechanism", c.mechanism},
              {"source", c.source},
              {"model", c.model},
              {"depth", config.model().depth()},
              {"width_multiplier", config.model().width_multiplier()},
              {"bn_splits", config.model().bn_splits()},
              {"batch", config.optim().batch_size()},
              {"image_size", config.data().image_size()},
              {"channels_last", c.channels_last},
              {"views_made_on", c.views_on_device ? "device" : "host"},
              {"precision", bf16 ? "bf16" : "fp32"},
              {"steps", absl::GetFlag(FLAGS_steps)},
              {"warmup", c.source == "memory" ? absl::GetFlag(FLAGS_warmup) : 1},
              {"threads", Threads()},
              {"device", UseCuda() ? "cuda" : "cpu"}};
  out.update(*figures);
  out["wall_seconds"] = SecondsSince(start);
  out["peak_rss_mib"] = PeakRssMib();
  return out;
}

json Header() {
  return {{"torch_version", TORCH_VERSION},
          {"threads", Threads()},
          {"hardware_threads", std::thread::hardware_concurrency()},
          {"device", UseCuda() ? "cuda" : "cpu"},
          {"cuda_devices", torch::cuda::is_available() ? torch::cuda::device_count() : 0},
          {"steps", absl::GetFlag(FLAGS_steps)},
          {"warmup", absl::GetFlag(FLAGS_warmup)}};
}

// Runs `c` as a child process (this binary, --isolate=false) and returns its case object.
json RunIsolated(const Case& c, const std::vector<std::string>& forwarded) {
  std::vector<std::string> argv = {fs::read_symlink("/proc/self/exe").string()};
  argv.insert(argv.end(), forwarded.begin(), forwarded.end());
  argv.push_back("--cases=" + c.name);
  argv.push_back("--isolate=false");
  absl::StatusOr<ProcessResult> run = RunProcess(argv);
  std::string error;
  if (!run.ok()) {
    error = std::string(run.status().message());
  } else if (run->exit_code != 0) {
    error = absl::StrCat("exited with status ", run->exit_code);
  } else {
    try {
      const json doc = json::parse(run->stdout_text);
      if (doc.contains("cases") && doc["cases"].size() == 1) return doc["cases"][0];
      error = "printed no case";
    } catch (const json::exception& e) {
      error = absl::StrCat("printed no JSON: ", e.what());
    }
  }
  return {{"case", c.name}, {"error", error}};
}

int Main(int argc, char** argv) {
  std::string cases_flag = absl::GetFlag(FLAGS_cases);
  if (cases_flag == "all") cases_flag = kAllCases;
  std::vector<Case> cases;
  for (absl::string_view name : absl::StrSplit(cases_flag, ',', absl::SkipEmpty())) {
    absl::StatusOr<Case> c = ParseCase(std::string(name));
    if (!c.ok()) {
      std::cerr << "throughput: error: " << c.status().message() << "\n";
      return 1;
    }
    cases.push_back(*c);
  }
  if (absl::GetFlag(FLAGS_steps) < 1 || absl::GetFlag(FLAGS_warmup) < 0) {
    std::cerr << "throughput: error: --steps must be >= 1 and --warmup >= 0\n";
    return 1;
  }
  json doc = Header();
  doc["cases"] = json::array();
  int failed = 0;
  const bool isolate = absl::GetFlag(FLAGS_isolate) && cases.size() > 1;
  std::vector<std::string> forwarded;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--cases", 0) != 0 && arg.rfind("--isolate", 0) != 0 && arg.rfind("--out", 0) != 0) {
      forwarded.push_back(arg);
    }
  }
  for (const Case& c : cases) {
    json result;
    if (isolate) {
      result = RunIsolated(c, forwarded);  // the child prints its own progress
    } else {
      std::cerr << "throughput: " << c.name << " ..." << std::endl;
      absl::StatusOr<json> run = RunCase(c);
      result = run.ok() ? *run : json{{"case", c.name}, {"error", std::string(run.status().message())}};
      if (run.ok()) {
        std::cerr << absl::StrFormat("throughput: %s: %.1f images/s, peak RSS %.0f MiB\n", c.name,
                                     result["images_per_second"].get<double>(), result["peak_rss_mib"].get<double>());
      }
    }
    if (result.contains("error")) {
      ++failed;
      std::cerr << "throughput: " << c.name << ": error: " << result["error"].get<std::string>() << "\n";
    }
    doc["cases"].push_back(result);
  }
  const std::string text = doc.dump(2);
  std::cout << text << std::endl;
  if (!absl::GetFlag(FLAGS_out).empty()) {
    const std::string path = OutputPath(absl::GetFlag(FLAGS_out));
    std::ofstream out(path, std::ios::trunc);
    out << text << "\n";
    if (!out) {
      std::cerr << "throughput: error: cannot write " << path << "\n";
      return 1;
    }
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace moco

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Training throughput (images/s) and peak resident memory of MoCo, end-to-end, memory bank and\n"
      "supervised steps, with tensors in memory or end to end from CIFAR-10 JPEG. JSON on stdout.\n"
      "Usage: throughput [--cases=moco/memory/r18,...] [--steps=N] [--warmup=N] [--threads=N]\n"
      "                  [--device=cpu|cuda|auto] [--out=FILE]");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::cerr << "throughput: error: unexpected argument '" << rest[1] << "'\n";
    return 1;
  }
  return moco::Main(argc, argv);
}
