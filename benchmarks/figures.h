// The figures the benchmarks print, and the ratios the targets are stated in, each taken
// from programs that ran one after the other on the same machine (never an absolute time compared
// with one from another day). Shared by the report and the CI regression; no LibTorch.
//
//   BenchmarkOutputs outputs;
//   outputs.throughput = nlohmann::json::parse(throughput_stdout);  // benchmarks/throughput_main.cc
//   outputs.python.push_back(nlohmann::json::parse(python_stdout)); // benchmarks/python/moco_reference.py
//   outputs.micro.push_back(nlohmann::json::parse(micro_stdout));   // a micro-benchmark, --benchmark_format=json
//   for (const Ratio& r : TargetRatios(outputs)) ...;
//   Measurements m = ThroughputMeasurements(outputs);  // "throughput/<ratio key>" -> value
#ifndef MOCO_BENCHMARKS_FIGURES_H_
#define MOCO_BENCHMARKS_FIGURES_H_

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "benchmarks/regression.h"

namespace moco {

// Case names of the throughput binary (mechanism/source/model[/nchw][/bf16]) that the ratios use.
inline constexpr char kMocoMemoryCase[] = "moco/memory/r18";
inline constexpr char kSupervisedMemoryCase[] = "supervised/memory/r18";
inline constexpr char kMocoDatasetCase[] = "moco/dataset/r18";
inline constexpr char kMocoMemoryBf16Case[] = "moco/memory/r18/bf16";
inline constexpr char kMocoDatasetBf16Case[] = "moco/dataset/r18/bf16";
inline constexpr char kMocoStreamCase[] = "moco/dataset/r18/stream";
// The micro-benchmark of decoding a CIFAR-10 JPEG and making its two views on one thread.
inline constexpr char kDecodeAugmentBenchmark[] = "BM_DecodeAugmentPair/cifar";
// The same for a real ImageNet JPEG (the sample), V2 views at 224 px: full decode, and the DCT-scaled
// decode of data.decode FAST.
inline constexpr char kDecodeAugmentImageNetExact[] = "BM_DecodeAugmentPair/imagenet/fast:0";
inline constexpr char kDecodeAugmentImageNetFast[] = "BM_DecodeAugmentPair/imagenet/fast:1";

struct BenchmarkOutputs {
  nlohmann::json throughput = nlohmann::json::object();  // {"cases": [{"case": ..., ...}], ...}
  nlohmann::json python = nlohmann::json::array();       // one object per Python reference run
  nlohmann::json micro = nlohmann::json::array();        // Google Benchmark JSON documents
  // benchmarks/stream_memory's document: {"runs": [{"files": N, "peak_rss_mib": M, ...}, ...]}
  nlohmann::json stream_memory = nlohmann::json::object();
};

// `field` of the throughput case named `case_name`, if it ran and has that (numeric) field. Of a case
// that ran several times (repeated in the cases list), the run with the highest images_per_second.
std::optional<double> ThroughputFigure(const nlohmann::json& throughput, const std::string& case_name,
                                       const std::string& field);

// The Python runs of `mode` ("memory", "dataloader", "augment") at `precision` ("fp32" or "bf16";
// a run without the field ran fp32), optionally only those with the given channels_last setting.
std::vector<nlohmann::json> PythonRuns(const nlohmann::json& python, const std::string& mode,
                                       std::optional<bool> channels_last = std::nullopt,
                                       const std::string& precision = "fp32");

// The Python run of `mode` with the highest images_per_second (nullopt when none ran): of repeated
// runs, the one least slowed by other work.
std::optional<nlohmann::json> BestPythonRun(const nlohmann::json& python, const std::string& mode,
                                            std::optional<bool> channels_last = std::nullopt,
                                            const std::string& precision = "fp32");

// The user counter `counter` (e.g. "images/s") of the first iteration entry named `name` in any of
// the Google Benchmark documents.
std::optional<double> MicroCounter(const nlohmann::json& micro, const std::string& name, const std::string& counter);

// A ratio of two figures measured in the same run, with the target for it (if any).
struct Ratio {
  std::string key;    // e.g. "moco_over_supervised_step_time"
  std::string label;  // what it is, in words
  std::optional<double> value;
  std::optional<double> target;  // the bound the issue sets
  bool higher_is_better = true;  // target is a minimum (else a maximum)
  std::string how;               // which figures it divides
  // Whether value meets target (true when there is no target; false when there is no value).
  bool Met() const;
};

// The ratios, in a fixed order:
//   moco_dataset_over_python_best   ours end to end / the best Python DataLoader configuration   (>= 2)
//   moco_memory_over_python_memory  ours / Python, tensors in memory, both channels_last
//   decode_augment_over_torchvision decode + two views, ours / PIL + torchvision, one core each    (>= 10)
//   moco_data_wait_fraction         the share of our end-to-end step spent waiting for data       (<= 0.05)
//   moco_over_supervised_step_time  MoCo step time / supervised step time, tensors in memory       (<= 1.45)
//   moco_dataset_over_memory        ours end to end / ours with tensors in memory
//   moco_over_supervised_cpu_time   as moco_over_supervised_step_time, per CPU second of each process
//   moco_memory_over_python_memory_cpu  as moco_memory_over_python_memory, per CPU second
//   moco_bf16_over_fp32_dataset     ours end to end, bf16 / fp32                                  (>= 1.6)
//   moco_bf16_dataset_over_python_bf16_best  as moco_dataset_over_python_best, both in bf16       (>= 2)
//   moco_bf16_memory_over_python_bf16_memory as moco_memory_over_python_memory, both in bf16
//   imagenet_decode_augment_per_second     decode + two V2 views at 224 px of a real ImageNet JPEG,
//                                          ours, one core (image pairs per CPU second)  (>= 300)
//   imagenet_decode_augment_over_torchvision  the same, ours / PIL + torchvision         (>= 4)
//   imagenet_fast_decode_augment_over_torchvision  as above with data.decode FAST
//   moco_stream_over_in_memory_dataset     ours end to end, CIFAR-10 streamed from its JPEGs / decoded
//                                          up front                                     (>= 0.9)
//   moco_stream_data_wait_fraction         the share of the streamed step spent waiting (<= 0.05)
//   stream_rss_10k_over_1k                 peak RSS of a streamed epoch over 10,000 files / over
//                                          1,000                                        (<= 1.1)
std::vector<Ratio> TargetRatios(const BenchmarkOutputs& outputs);

// "throughput/<key>" -> value for every ratio that could be computed.
Measurements ThroughputMeasurements(const BenchmarkOutputs& outputs);

}  // namespace moco

#endif  // MOCO_BENCHMARKS_FIGURES_H_
