// Decoding throughput of ReadImageFolder on CIFAR-10's 50000 training JPEGs, by thread count.
//
//   bazel run //moco/data:image_folder_benchmark -- --benchmark_out=decode.json
#include <string>
#include <thread>

#include "benchmark/benchmark.h"
#include "moco/common/paths.h"
#include "moco/data/image_folder.h"

namespace moco {
namespace {

void BM_ReadImageFolder(benchmark::State& state) {
  const std::string root = DataPath("cifar10-jpeg/train");
  ImageFolderOptions options;
  options.threads = static_cast<int>(state.range(0));
  int64_t images = 0;
  for (auto _ : state) {
    absl::StatusOr<LabeledImages> data = ReadImageFolder(root, options);
    if (!data.ok()) {
      state.SkipWithError(data.status().ToString().c_str());
      return;
    }
    images += data->size();
  }
  state.counters["images/s"] = benchmark::Counter(images, benchmark::Counter::kIsRate);
}
// Real time, not the main thread's CPU time: the decoding runs on the worker threads.
BENCHMARK(BM_ReadImageFolder)
    ->ArgNames({"threads"})
    ->Arg(1)
    ->Arg(2)
    ->Arg(0)
    ->Iterations(2)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace moco

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext("hardware_threads",
                              std::to_string(std::thread::hardware_concurrency()));
  benchmark::AddCustomContext("data", moco::DataPath("cifar10-jpeg/train"));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
