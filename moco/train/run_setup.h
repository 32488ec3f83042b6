// What every run of the suite sets up the same way, the pretrainer, the evaluators, the
// detection trainer and the benchmarks alike: the run's context (device, LibTorch's threads,
// the data threads, precision), channels_last weights, and the provenance every result record
// carries.
//
//   MOCO_ASSIGN_OR_RETURN(const RunContext context, SetUpRun(config, env));
//   ...
//   StampRecord(config, context.device, context.threads, env.world_size, &record);  // config, hash, versions, host
//   MOCO_RETURN_IF_ERROR(WriteRecord(path, record));
#ifndef MOCO_TRAIN_RUN_SETUP_H_
#define MOCO_TRAIN_RUN_SETUP_H_

#include <c10/core/Device.h>
#include <torch/nn/module.h>

#include "absl/status/statusor.h"
#include "configs/experiment.pb.h"
#include "configs/record.pb.h"
#include "moco/common/cpu_info.h"
#include "moco/distributed/distributed_env.h"
#include "moco/distributed/process_group.h"

namespace moco {

// The device `run.device` asks for: with AUTO or CUDA, GPU `local_rank` (modulo the GPUs there
// are) when this binary sees one, else the CPU. CUDA without a GPU is an error that says
// whether the binary lacks CUDA (built without --config=cuda) or the machine lacks a GPU.
absl::StatusOr<c10::Device> PickDevice(const config::RunConfig& run, int local_rank = 0);

// Whether the forward passes run under bf16 autocast: run.precision BF16, or PRECISION_AUTO on a
// GPU. BF16 on a CPU without native bf16 (HasNativeBf16: AVX512_BF16 or AMX-BF16) is an error
// naming the CPU, since emulated bf16 is slower than float32.
absl::StatusOr<bool> PickBf16(const config::RunConfig& run, c10::Device device, const CpuInfo& cpu = ThisCpu());

// run.threads, or one per core when it is 0: sets LibTorch's intra-op threads to it and
// returns it.
int SetUpThreads(const config::RunConfig& run);

// The data threads (decoding, views): data.loader_threads, or `threads` when it is 0.
int LoaderThreads(const config::DataConfig& data, int threads);

// The choices a run makes once, from its config's run { } and data { } and its place among the
// processes, and then passes along: every part of a run reads them here.
struct RunContext {
  c10::Device device = c10::kCPU;  // PickDevice
  bool bf16 = false;               // PickBf16: the forward passes under bf16 autocast
  int threads = 1;                 // SetUpThreads: LibTorch's intra-op threads (set)
  int loader_threads = 1;          // LoaderThreads: decoding and views
};

// Sets LibTorch's threads and picks the device (GPU `local_rank`) and the precision.
absl::StatusOr<RunContext> SetUpRun(const config::ExperimentConfig& config, int local_rank = 0);

// The processes' group of a run over `env`: NCCL when the run's device is a GPU, else Gloo;
// connecting and every collective wait at most five minutes.
absl::StatusOr<ProcessGroupHandle> ConnectRunGroup(const DistributedEnv& env, const RunContext& context);

// Puts every 4-d parameter of `module` in channels_last (oneDNN's and cuDNN's fast layout for
// convolutions, on CPUs as on GPUs).
void ToChannelsLast(torch::nn::Module& module);

// The provenance every record carries: the config in full, the hash of its identity
// (ConfigIdentity: what changes the result), seed, LibTorch version, device, precision
// ("bf16" or "fp32", as PickBf16 resolves run.precision on `device`), threads, world size, the dataset's root, commit, host and time (FillProvenance).
void StampRecord(const config::ExperimentConfig& config, c10::Device device, int threads, int world_size,
                 config::RunRecord* record);

}  // namespace moco

#endif  // MOCO_TRAIN_RUN_SETUP_H_
