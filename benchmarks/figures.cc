#include "benchmarks/figures.h"

#include <cmath>

namespace moco {
namespace {

using nlohmann::json;

std::optional<double> Number(const json& object, const std::string& field) {
  if (!object.is_object()) return std::nullopt;
  const auto it = object.find(field);
  if (it == object.end() || !it->is_number()) return std::nullopt;
  const double value = it->get<double>();
  if (!std::isfinite(value)) return std::nullopt;
  return value;
}

std::optional<double> Divide(std::optional<double> a, std::optional<double> b) {
  if (!a || !b || *b == 0) return std::nullopt;
  return *a / *b;
}

}  // namespace

std::optional<double> ThroughputFigure(const json& throughput, const std::string& case_name, const std::string& field) {
  if (!throughput.is_object() || !throughput.contains("cases") || !throughput["cases"].is_array()) return std::nullopt;
  // A case run several times: the run least slowed by other work, i.e. the fastest.
  const json* best = nullptr;
  for (const json& c : throughput["cases"]) {
    if (!c.is_object() || c.value("case", "") != case_name || c.contains("error")) continue;
    if (best == nullptr || c.value("images_per_second", 0.0) > best->value("images_per_second", 0.0)) best = &c;
  }
  if (best == nullptr) return std::nullopt;
  return Number(*best, field);
}

std::vector<json> PythonRuns(const json& python, const std::string& mode, std::optional<bool> channels_last,
                             const std::string& precision) {
  std::vector<json> runs;
  if (!python.is_array()) return runs;
  for (const json& run : python) {
    if (!run.is_object() || run.value("mode", "") != mode || run.contains("error")) continue;
    if (channels_last && run.value("channels_last", false) != *channels_last) continue;
    if (run.value("precision", std::string("fp32")) != precision) continue;
    runs.push_back(run);
  }
  return runs;
}

std::optional<json> BestPythonRun(const json& python, const std::string& mode, std::optional<bool> channels_last,
                                  const std::string& precision) {
  std::optional<json> best;
  for (const json& run : PythonRuns(python, mode, channels_last, precision)) {
    const std::optional<double> rate = Number(run, "images_per_second");
    if (rate && (!best || *rate > best->value("images_per_second", 0.0))) best = run;
  }
  return best;
}

std::optional<double> MicroCounter(const json& micro, const std::string& name, const std::string& counter) {
  if (!micro.is_array()) return std::nullopt;
  for (const json& document : micro) {
    if (!document.is_object() || !document.contains("benchmarks")) continue;
    for (const json& entry : document["benchmarks"]) {
      if (entry.value("name", "") != name || entry.value("run_type", "iteration") != "iteration") continue;
      if (entry.contains("error_occurred") && entry["error_occurred"].is_boolean() &&
          entry["error_occurred"].get<bool>()) {
        continue;
      }
      return Number(entry, counter);
    }
  }
  return std::nullopt;
}

bool Ratio::Met() const {
  if (!target) return true;
  if (!value) return false;
  return higher_is_better ? *value >= *target : *value <= *target;
}

std::vector<Ratio> TargetRatios(const BenchmarkOutputs& outputs) {
  const json& t = outputs.throughput;
  // Steps on tensors in memory compare by their median step (robust to a step slowed by other work
  // on the machine); end-to-end runs by their mean, since waiting for data is part of their cost.
  auto median_rate = [](const json& run) {
    std::optional<double> rate = Number(run, "images_per_second_median_step");
    return rate ? rate : Number(run, "images_per_second");
  };
  auto case_median_rate = [&](const char* name) {
    std::optional<double> rate = ThroughputFigure(t, name, "images_per_second_median_step");
    return rate ? rate : ThroughputFigure(t, name, "images_per_second");
  };
  const std::optional<double> moco_memory = case_median_rate(kMocoMemoryCase);
  const std::optional<double> supervised_memory = case_median_rate(kSupervisedMemoryCase);
  const std::optional<double> moco_memory_mean = ThroughputFigure(t, kMocoMemoryCase, "images_per_second");
  const std::optional<double> moco_dataset = ThroughputFigure(t, kMocoDatasetCase, "images_per_second");
  std::optional<double> python_best;
  if (auto best = BestPythonRun(outputs.python, "dataloader")) python_best = Number(*best, "images_per_second");
  std::optional<double> python_memory;
  if (auto run = BestPythonRun(outputs.python, "memory", /*channels_last=*/true)) python_memory = median_rate(*run);
  // The Python augment runs of one dataset ("cifar" for runs written before the field).
  auto best_augment = [&](const std::string& dataset) -> std::optional<double> {
    std::optional<double> best;
    for (const json& run : PythonRuns(outputs.python, "augment")) {
      if (run.value("dataset", std::string("cifar")) != dataset) continue;
      const std::optional<double> rate = Number(run, "images_per_second");
      if (rate && (!best || *rate > *best)) best = rate;
    }
    return best;
  };
  const std::optional<double> torchvision = best_augment("cifar");

  const std::optional<double> moco_cpu = ThroughputFigure(t, kMocoMemoryCase, "images_per_cpu_second");
  const std::optional<double> supervised_cpu = ThroughputFigure(t, kSupervisedMemoryCase, "images_per_cpu_second");
  std::optional<double> python_cpu;
  if (auto run = BestPythonRun(outputs.python, "memory", /*channels_last=*/true)) {
    python_cpu = Number(*run, "images_per_cpu_second");
  }

  std::vector<Ratio> ratios;
  ratios.push_back({"moco_dataset_over_python_best",
                    "MoCo end to end from CIFAR-10 JPEG: ours / the best PyTorch-Python configuration",
                    Divide(moco_dataset, python_best), 2.0, true,
                    "images/s of moco/dataset/r18 over the best of the Python DataLoader runs (workers 0/1/2, "
                    "channels_last on/off), means over their steps"});
  ratios.push_back({"moco_memory_over_python_memory", "MoCo step, tensors in memory: ours / PyTorch-Python",
                    Divide(moco_memory, python_memory), std::nullopt, true,
                    "median-step images/s of moco/memory/r18 over that of the Python memory run with "
                    "channels_last"});
  ratios.push_back({"decode_augment_over_torchvision",
                    "JPEG decode + two-view augmentation, one core: ours / PIL + torchvision",
                    Divide(MicroCounter(outputs.micro, kDecodeAugmentBenchmark, "images/s"), torchvision), 10.0, true,
                    "images per CPU second of BM_DecodeAugmentPair/cifar over those of the Python augment run "
                    "(PIL open + convert, two torchvision views, ToTensor, Normalize), one thread each"});
  ratios.push_back({"moco_data_wait_fraction", "Share of our end-to-end MoCo step spent waiting for data",
                    ThroughputFigure(t, kMocoDatasetCase, "data_wait_fraction"), 0.05, false,
                    "data_wait_fraction of moco/dataset/r18 (the trainer's own measure)"});
  ratios.push_back({"moco_over_supervised_step_time", "MoCo step time / supervised step time",
                    Divide(supervised_memory, moco_memory), 1.45, false,
                    "median-step images/s of supervised/memory/r18 over that of moco/memory/r18"});
  ratios.push_back({"moco_dataset_over_memory", "Ours end to end / ours with tensors in memory",
                    Divide(moco_dataset, moco_memory_mean), std::nullopt, true,
                    "images/s of moco/dataset/r18 over moco/memory/r18 (means over their steps)"});
  ratios.push_back({"moco_over_supervised_cpu_time", "MoCo step CPU time / supervised step CPU time",
                    Divide(supervised_cpu, moco_cpu), std::nullopt, false,
                    "images per CPU second of supervised/memory/r18 over those of moco/memory/r18 (at one thread: "
                    "what the CI regression checks, since other work on a shared machine barely moves it)"});
  ratios.push_back({"moco_memory_over_python_memory_cpu",
                    "MoCo step, tensors in memory, per CPU second: ours / PyTorch-Python", Divide(moco_cpu, python_cpu),
                    std::nullopt, true,
                    "images per CPU second of moco/memory/r18 over those of the Python memory run with channels_last"});

  // bf16 autocast (run.precision BF16; Python's torch.autocast), where the CPU has native bf16.
  const std::optional<double> moco_dataset_bf16 = ThroughputFigure(t, kMocoDatasetBf16Case, "images_per_second");
  const std::optional<double> moco_memory_bf16 = case_median_rate(kMocoMemoryBf16Case);
  std::optional<double> python_best_bf16, python_memory_bf16;
  if (auto best = BestPythonRun(outputs.python, "dataloader", std::nullopt, "bf16")) {
    python_best_bf16 = Number(*best, "images_per_second");
  }
  if (auto run = BestPythonRun(outputs.python, "memory", /*channels_last=*/true, "bf16")) {
    python_memory_bf16 = median_rate(*run);
  }
  ratios.push_back({"moco_bf16_over_fp32_dataset", "MoCo end to end from CIFAR-10 JPEG: ours in bf16 / ours in fp32",
                    Divide(moco_dataset_bf16, moco_dataset), 1.6, true,
                    "images/s of moco/dataset/r18/bf16 over moco/dataset/r18 (means over their steps)"});
  ratios.push_back({"moco_bf16_dataset_over_python_bf16_best",
                    "MoCo end to end, both in bf16: ours / the best PyTorch-Python configuration",
                    Divide(moco_dataset_bf16, python_best_bf16), 2.0, true,
                    "images/s of moco/dataset/r18/bf16 over the best of the Python DataLoader runs with --bf16 "
                    "(workers 0/1/2, channels_last)"});
  ratios.push_back({"moco_bf16_memory_over_python_bf16_memory",
                    "MoCo step, tensors in memory, both in bf16: ours / PyTorch-Python",
                    Divide(moco_memory_bf16, python_memory_bf16), std::nullopt, true,
                    "median-step images/s of moco/memory/r18/bf16 over that of the Python memory run with "
                    "channels_last and --bf16"});

  // Streaming (data.cache STREAM) and real ImageNet JPEGs.
  const std::optional<double> imagenet_exact = MicroCounter(outputs.micro, kDecodeAugmentImageNetExact, "images/s");
  const std::optional<double> imagenet_fast = MicroCounter(outputs.micro, kDecodeAugmentImageNetFast, "images/s");
  const std::optional<double> torchvision_imagenet = best_augment("imagenet");
  ratios.push_back({"imagenet_decode_augment_per_second",
                    "ImageNet JPEG decode + two V2 views at 224 px, one core: ours, image pairs per CPU second",
                    imagenet_exact, 300.0, true,
                    "images/s of BM_DecodeAugmentPair/imagenet/fast:0 (full decode, as PIL), over the 1,000 "
                    "sample JPEGs"});
  ratios.push_back({"imagenet_decode_augment_over_torchvision",
                    "ImageNet JPEG decode + two V2 views at 224 px, one core: ours / PIL + torchvision",
                    Divide(imagenet_exact, torchvision_imagenet), 4.0, true,
                    "images per CPU second of BM_DecodeAugmentPair/imagenet/fast:0 over those of the Python "
                    "augment run --dataset=imagenet (PIL open + convert, two MoCo v2 views), one thread each"});
  ratios.push_back({"imagenet_fast_decode_augment_over_torchvision",
                    "The same with data.decode FAST (DCT-scaled decode where the crops allow): ours / PIL",
                    Divide(imagenet_fast, torchvision_imagenet), std::nullopt, true,
                    "images per CPU second of BM_DecodeAugmentPair/imagenet/fast:1 over the same Python run"});
  const std::optional<double> moco_stream = ThroughputFigure(t, kMocoStreamCase, "images_per_second");
  ratios.push_back({"moco_stream_over_in_memory_dataset",
                    "MoCo end to end, CIFAR-10 streamed from its JPEGs / decoded up front", Divide(moco_stream, moco_dataset),
                    0.9, true, "images/s of moco/dataset/r18/stream over moco/dataset/r18 (means over their steps)"});
  ratios.push_back({"moco_stream_data_wait_fraction", "Share of the streamed end-to-end MoCo step spent waiting for data",
                    ThroughputFigure(t, kMocoStreamCase, "data_wait_fraction"), 0.05, false,
                    "data_wait_fraction of moco/dataset/r18/stream"});
  std::optional<double> rss_1k, rss_10k;
  if (outputs.stream_memory.is_object() && outputs.stream_memory.contains("runs")) {
    for (const json& run : outputs.stream_memory["runs"]) {
      if (run.value("files", 0) == 1000) rss_1k = Number(run, "peak_rss_mib");
      if (run.value("files", 0) == 10000) rss_10k = Number(run, "peak_rss_mib");
    }
  }
  ratios.push_back({"stream_rss_10k_over_1k", "Peak RSS of a streamed epoch over 10,000 files / over 1,000",
                    Divide(rss_10k, rss_1k), 1.1, false,
                    "peak_rss_mib of benchmarks/stream_memory's 10,000-file epoch over its 1,000-file one (the "
                    "sample's files linked ten times; each epoch in a process of its own)"});
  return ratios;
}

Measurements ThroughputMeasurements(const BenchmarkOutputs& outputs) {
  Measurements measured;
  for (const Ratio& ratio : TargetRatios(outputs)) {
    if (ratio.value) measured["throughput/" + ratio.key] = *ratio.value;
  }
  return measured;
}

}  // namespace moco
