#include "moco/train/run_setup.h"

#include <torch/cuda.h>
#include <torch/utils.h>
#include <torch/version.h>

#include <algorithm>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "configs/config.h"
#include "configs/record.h"
#include "moco/common/status.h"
#include "moco/data/dataset.h"

namespace moco {

absl::StatusOr<c10::Device> PickDevice(const config::RunConfig& run, int local_rank) {
  const bool cuda = torch::cuda::is_available();
  if (run.device() == config::RunConfig::CUDA && !cuda) {
#ifdef MOCO_WITH_CUDA
    return absl::FailedPreconditionError("run.device: CUDA requested, but no GPU is available");
#else
    return absl::FailedPreconditionError(
        "run.device: CUDA requested, but this binary was built without CUDA (build with --config=cuda)");
#endif
  }
  if (run.device() != config::RunConfig::CPU_ONLY && cuda) {
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(local_rank % torch::cuda::device_count()));
  }
  return c10::Device(c10::kCPU);
}

namespace {

bool Bf16On(const config::RunConfig& run, c10::Device device) {
  return run.precision() == config::RunConfig::BF16 ||
         (run.precision() == config::RunConfig::PRECISION_AUTO && device.is_cuda());
}

}  // namespace

absl::StatusOr<bool> PickBf16(const config::RunConfig& run, c10::Device device, const CpuInfo& cpu) {
  const bool bf16 = Bf16On(run, device);
  if (bf16 && device.is_cpu() && !HasNativeBf16(cpu)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "run.precision: BF16 on this CPU (", cpu.model,
        ") would be emulated, slower than FP32: it has neither avx512_bf16 nor amx_bf16 in /proc/cpuinfo's flags. "
        "Use run { precision: FP32 } (or PRECISION_AUTO, FP32 on a CPU)"));
  }
  return bf16;
}

int SetUpThreads(const config::RunConfig& run) {
  const int threads = run.threads() > 0 ? run.threads() : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  return threads;
}

int LoaderThreads(const config::DataConfig& data, int threads) {
  return data.loader_threads() > 0 ? data.loader_threads() : threads;
}

absl::StatusOr<RunContext> SetUpRun(const config::ExperimentConfig& config, int local_rank) {
  RunContext context;
  context.threads = SetUpThreads(config.run());
  context.loader_threads = LoaderThreads(config.data(), context.threads);
  MOCO_ASSIGN_OR_RETURN(context.device, PickDevice(config.run(), local_rank));
  MOCO_ASSIGN_OR_RETURN(context.bf16, PickBf16(config.run(), context.device));
  return context;
}

absl::StatusOr<ProcessGroupHandle> ConnectRunGroup(const DistributedEnv& env, const RunContext& context) {
  return ConnectProcessGroup(env, context.device.is_cuda() ? Backend::kNccl : Backend::kGloo, absl::Minutes(5));
}

void ToChannelsLast(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) {
    if (p.dim() == 4) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
  }
}

void StampRecord(const config::ExperimentConfig& config, c10::Device device, int threads, int world_size,
                 config::RunRecord* record) {
  record->set_config(ToText(config));
  record->set_config_hash(ConfigHash(ConfigIdentity(config)));
  record->set_seed(static_cast<int64_t>(config.run().seed()));
  record->set_torch_version(TORCH_VERSION);
  record->set_device(device.str());
  record->set_precision(Bf16On(config.run(), device) ? "bf16" : "fp32");
  record->set_threads(threads);
  record->set_world_size(world_size);
  record->set_data(DatasetRoot(config.data()));
  FillProvenance(record);
}

}  // namespace moco
