// Micro-benchmarks of the LibTorch pieces of a training step, one translation unit for all of
// them (each torch-including file costs about a minute to compile here): batch assembly by the
// two-view loader, the key queue's enqueue, the momentum update, logits + InfoNCE (forward and
// backward), shuffle BN in one process and across two Gloo processes, and the memory bank's
// sampling + logits and update.
//
//   bazel run //benchmarks:micro_train -- --benchmark_format=json > train.json
//   bazel run //benchmarks:micro_train -- --benchmark_filter=ShuffleBn
//
// Intra-op threads: LibTorch's default (one per core) unless OMP_NUM_THREADS says otherwise; the
// JSON context records them. Counters are rates over wall-clock time (the tensor ops run on
// several threads, which the main thread's CPU time would not count): images/s (training images,
// each with two views), keys/s, queries/s, parameters/s, and bytes_per_second where memory traffic
// is the point. Run them on a quiet machine.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/headeronly/version.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "moco/common/subprocess.h"
#include "moco/augment/augment.h"
#include "moco/common/paths.h"
#include "moco/contrastive/info_nce.h"
#include "moco/contrastive/key_queue.h"
#include "moco/contrastive/memory_bank.h"
#include "moco/contrastive/momentum_update.h"
#include "moco/contrastive/shuffle_bn.h"
#include "moco/data/image_folder.h"
#include "moco/distributed/process_group.h"
#include "moco/distributed/worker_launcher.h"
#include "moco/models/resnet.h"
#include "moco/augment/image_batches.h"

namespace moco {
namespace {

constexpr int kDim = 128;  // MoCo's feature dimension

at::Tensor UnitRows(int64_t n, int64_t dim) {
  at::Tensor x = at::randn({n, dim});
  return x / x.norm(2, 1, /*keepdim=*/true);
}

at::Generator Generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

// The two-view loader making batches of training pairs (decoding happened before, once).
// size 32: 4,096 CIFAR-10 training images, CIFAR recipe, batch 256; size 224: 64 random 500x375
// images, v2 recipe, batch 32. Real time, since the work runs on the loader's threads.
void BM_BatchAssembly(benchmark::State& state) {
  const int size = static_cast<int>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  LabeledImages data;
  LoaderOptions options;
  options.threads = threads;
  options.augment.out_size = size;
  if (size == 32) {
    ImageFolderOptions read;
    read.max_images = 4096;
    absl::StatusOr<LabeledImages> cifar = ReadImageFolder(DataPath("cifar10-jpeg/train"), read);
    if (!cifar.ok()) {
      state.SkipWithError(cifar.status().ToString().c_str());
      return;
    }
    data = *std::move(cifar);
    options.batch_size = 256;
    options.augment.recipe = AugmentRecipe::kCifar;
    options.augment.mean = kCifar10Mean;
    options.augment.stddev = kCifar10Stddev;
  } else {
    data.height = 375;
    data.width = 500;
    data.channels = 3;
    data.class_names = {"a"};
    data.labels.assign(64, 0);
    at::Tensor pixels = at::randint(256, {64, 375, 500, 3}, at::kByte);
    data.pixels.assign(pixels.data_ptr<uint8_t>(), pixels.data_ptr<uint8_t>() + pixels.numel());
    options.batch_size = 32;
    options.augment.recipe = AugmentRecipe::kV2;
  }
  TwoViewLoader loader(&data, options);
  int64_t epoch = 0, batch = 0;
  loader.Start(epoch, 0);
  for (auto _ : state) {
    TrainBatch b = *loader.Next();
    benchmark::DoNotOptimize(b.view_q.data_ptr());
    if (++batch == loader.batches_per_epoch()) {
      batch = 0;
      loader.Start(++epoch, 0);
    }
  }
  state.counters["images/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * options.batch_size), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_BatchAssembly)
    ->ArgNames({"size", "threads"})
    ->ArgsProduct({{32}, {1, 2}})
    ->Args({224, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Writing a batch of 256 keys into a queue of K x 128.
void BM_QueueEnqueue(benchmark::State& state) {
  const int64_t size = state.range(0);
  constexpr int64_t kBatch = 256;
  KeyQueue queue(size, kDim);
  const at::Tensor keys = UnitRows(kBatch, kDim);
  for (auto _ : state) {
    queue->Enqueue(keys);
    benchmark::DoNotOptimize(queue->keys().data_ptr());
  }
  state.counters["keys/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBatch), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(state.iterations() * kBatch * kDim * static_cast<int64_t>(sizeof(float)));
}
BENCHMARK(BM_QueueEnqueue)->ArgNames({"K"})->Arg(4096)->Arg(65536)->UseRealTime();

// theta_k <- m theta_k + (1 - m) theta_q over every parameter of the encoder: the CPU tier's
// CIFAR ResNet-18 width x0.25 (arg 18) or a ResNet-50 (arg 50). Bytes: read q, read and write k.
void BM_MomentumUpdate(benchmark::State& state) {
  const int depth = static_cast<int>(state.range(0));
  ResNetOptions options(depth);
  if (depth == 18) options.width_multiplier(0.25).cifar_stem(true).bn_splits(8);
  ResNet query(options), key(options);
  CopyEncoderWeights(*key, *query);
  int64_t params = 0;
  for (const auto& p : query->parameters()) params += p.numel();
  for (auto _ : state) {
    MomentumEncoderUpdate(*key, *query, 0.99);
    benchmark::ClobberMemory();
  }
  state.counters["parameters"] = static_cast<double>(params);
  state.counters["parameters/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * params), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(state.iterations() * params * 3 * static_cast<int64_t>(sizeof(float)));
}
BENCHMARK(BM_MomentumUpdate)->ArgNames({"depth"})->Arg(18)->Arg(50)->UseRealTime()->Unit(benchmark::kMicrosecond);

// Logits of 256 queries against their keys and a queue of K (the queue cloned into the graph, as
// MoCo does), InfoNCE, and the backward pass to the queries.
void BM_InfoNceLogitsLoss(benchmark::State& state) {
  const int64_t size = state.range(0);
  constexpr int64_t kBatch = 256;
  const at::Tensor q = UnitRows(kBatch, kDim).requires_grad_(true);
  const at::Tensor k = UnitRows(kBatch, kDim);
  const at::Tensor queue = UnitRows(size, kDim);
  for (auto _ : state) {
    at::Tensor logits = InfoNceLogits(q, k, queue.clone(), 0.1);  // 256 x (1 + K)
    at::Tensor loss = InfoNceLoss(logits);
    loss.backward();
    benchmark::DoNotOptimize(q.grad().data_ptr());
  }
  state.counters["queries/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBatch), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_InfoNceLogitsLoss)
    ->ArgNames({"K"})
    ->Arg(4096)
    ->Arg(16384)
    ->Arg(65536)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// What shuffle BN adds around the key encoder: with a stand-in encoder that costs nothing (the
// first 128 values of each image as its key), the permutation, the shuffled copy of the images,
// and the unshuffle of the keys.
at::Tensor FreeEncoder(const at::Tensor& images) { return images.flatten(1).narrow(1, 0, kDim).contiguous(); }

// One process: batch 256 of 3 x 32 x 32.
void BM_ShuffleBn(benchmark::State& state) {
  constexpr int64_t kBatch = 256;
  absl::StatusOr<DistributedEnv> env = DistributedEnvFromVariables({});
  absl::StatusOr<ProcessGroupHandle> group =
      env.ok() ? ConnectProcessGroup(*env, Backend::kGloo, absl::Minutes(1)) : env.status();
  if (!group.ok()) {
    state.SkipWithError(group.status().ToString().c_str());
    return;
  }
  const at::Tensor images = at::randn({kBatch, 3, 32, 32});
  int64_t step = 0;
  for (auto _ : state) {
    absl::StatusOr<at::Tensor> keys = ShuffledEncode(FreeEncoder, images, *group, Generator(++step));
    benchmark::DoNotOptimize(keys->data_ptr());
  }
  state.counters["images/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBatch), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ShuffleBn)->UseRealTime();

constexpr char kPeerFlag[] = "--shuffle_bn_peer=";  // PORT:CALLS, see ShuffleBnPeer
constexpr int64_t kGlooBatch = 128;                 // per process: global batch 256
constexpr int kGlooIterations = 40;
constexpr int kGlooWarmup = 3;

absl::StatusOr<ProcessGroupHandle> ConnectGloo(int rank, int port) {
  DistributedEnv env;
  env.rank = rank;
  env.world_size = 2;
  env.local_rank = rank;
  env.master_port = port;
  return ConnectProcessGroup(env, Backend::kGloo, absl::Minutes(2));
}

// Two processes over Gloo (this one is rank 0; rank 1 is this binary started with kPeerFlag):
// all-gather of the images, broadcast of the permutation, the local slice encoded, all-gather of
// the keys, unshuffle. A fixed number of iterations, since both processes must make the same calls.
// Real time: the collectives wait on the other process.
void BM_ShuffleBnGloo(benchmark::State& state) {
  absl::StatusOr<int> port = FindFreeLoopbackPort();
  if (!port.ok()) {
    state.SkipWithError(port.status().ToString().c_str());
    return;
  }
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  absl::StatusOr<int> peer = StartProcess({self, absl::StrCat(kPeerFlag, *port, ":", kGlooWarmup + kGlooIterations)});
  if (!peer.ok()) {
    state.SkipWithError(peer.status().ToString().c_str());
    return;
  }
  absl::StatusOr<ProcessGroupHandle> group = ConnectGloo(0, *port);
  if (!group.ok()) {
    WaitProcess(*peer).IgnoreError();
    state.SkipWithError(group.status().ToString().c_str());
    return;
  }
  const at::Tensor images = at::randn({kGlooBatch, 3, 32, 32});
  int64_t step = 0;
  bool failed = false;
  for (int i = 0; i < kGlooWarmup && !failed; ++i) {
    failed = !ShuffledEncode(FreeEncoder, images, *group, Generator(++step)).ok();
  }
  for (auto _ : state) {
    if (failed) continue;
    absl::StatusOr<at::Tensor> keys = ShuffledEncode(FreeEncoder, images, *group, Generator(++step));
    failed = !keys.ok();
  }
  absl::StatusOr<int> code = WaitProcess(*peer);
  if (failed || !code.ok() || *code != 0) {
    state.SkipWithError("the Gloo peer process or a collective failed");
    return;
  }
  state.counters["images/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * 2 * kGlooBatch), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ShuffleBnGloo)->Name("BM_ShuffleBnGloo/processes:2")->Iterations(kGlooIterations)->UseRealTime();

// Rank 1 of BM_ShuffleBnGloo: makes `calls` ShuffledEncode calls with rank 0, then exits.
int ShuffleBnPeer(const std::string& spec) {
  const size_t colon = spec.find(':');
  const int port = std::atoi(spec.substr(0, colon).c_str());
  const int calls = colon == std::string::npos ? 0 : std::atoi(spec.substr(colon + 1).c_str());
  absl::StatusOr<ProcessGroupHandle> group = ConnectGloo(1, port);
  if (!group.ok()) {
    fprintf(stderr, "shuffle_bn peer: %s\n", std::string(group.status().message()).c_str());
    return 1;
  }
  const at::Tensor images = at::randn({kGlooBatch, 3, 32, 32});
  for (int i = 0; i < calls; ++i) {
    if (!ShuffledEncode(FreeEncoder, images, *group, Generator(i)).ok()) return 1;
  }
  return 0;
}

// The memory bank of CIFAR-10's 50,000 entries: K entries drawn for each of 256 queries and their
// logits (forward only), as the memory-bank mechanism does each step.
void BM_MemoryBankSampleLogits(benchmark::State& state) {
  const int64_t negatives = state.range(0);
  constexpr int64_t kBatch = 256;
  MemoryBank bank(50000, kDim, 0.5);
  const at::Tensor q = UnitRows(kBatch, kDim);
  const at::Tensor indices = at::randint(50000, {kBatch}, at::kLong);
  int64_t step = 0;
  for (auto _ : state) {
    at::Tensor picks = bank->SampleIndices(kBatch, negatives, Generator(++step));  // 256 x K
    at::Tensor logits = bank->Logits(q, indices, picks, 0.07);                     // 256 x (1 + K)
    benchmark::DoNotOptimize(logits.data_ptr());
  }
  state.counters["queries/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBatch), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MemoryBankSampleLogits)
    ->ArgNames({"K"})
    ->Arg(4096)
    ->Arg(16384)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// bank[i] <- normalize(0.5 bank[i] + 0.5 q) for a batch of 256.
void BM_MemoryBankUpdate(benchmark::State& state) {
  constexpr int64_t kBatch = 256;
  MemoryBank bank(50000, kDim, 0.5);
  const at::Tensor q = UnitRows(kBatch, kDim);
  int64_t step = 0;
  for (auto _ : state) {
    const at::Tensor indices = at::arange((step * kBatch) % 49920, (step * kBatch) % 49920 + kBatch, at::kLong);
    ++step;
    bank->Update(indices, q);
    benchmark::DoNotOptimize(bank->entries().data_ptr());
  }
  state.counters["queries/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBatch), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MemoryBankUpdate)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace moco

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], moco::kPeerFlag, std::strlen(moco::kPeerFlag)) == 0) {
      return moco::ShuffleBnPeer(argv[i] + std::strlen(moco::kPeerFlag));
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("torch_version", TORCH_VERSION);
  benchmark::AddCustomContext("torch_threads", std::to_string(at::get_num_threads()));
  benchmark::AddCustomContext("hardware_threads", std::to_string(std::thread::hardware_concurrency()));
  benchmark::AddCustomContext("data", moco::DataDir());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
