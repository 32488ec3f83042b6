#include "benchmarks/benchmark_report.h"

#include <sys/utsname.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmarks/harness/markdown.h"
#include "configs/record.h"
#include "moco/common/cpu_info.h"

namespace moco {
namespace {

using nlohmann::json;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Num(const json& object, const std::string& field, const char* format = "%.1f") {
  if (!object.is_object() || !object.contains(field) || !object[field].is_number()) return "-";
  return absl::StrFormat(format, object[field].get<double>());
}

std::string Percent(const json& object, const std::string& field) {
  if (!object.is_object() || !object.contains(field) || !object[field].is_number()) return "-";
  return absl::StrFormat("%.1f%%", 100.0 * object[field].get<double>());
}

// 3 significant digits with an SI prefix: 12.3 k, 4.56 M.
std::string Si(double x) {
  const char* prefix[] = {"", " k", " M", " G", " T"};
  int i = 0;
  while (std::fabs(x) >= 1000 && i < 4) {
    x /= 1000;
    ++i;
  }
  return absl::StrFormat("%.3g%s", x, prefix[i]);
}

// A Google Benchmark time (in `unit`) in the unit that reads best.
std::string Duration(double value, const std::string& unit) {
  double ns = value;
  if (unit == "us") ns *= 1e3;
  if (unit == "ms") ns *= 1e6;
  if (unit == "s") ns *= 1e9;
  if (ns >= 1e9) return absl::StrFormat("%.3g s", ns / 1e9);
  if (ns >= 1e6) return absl::StrFormat("%.3g ms", ns / 1e6);
  if (ns >= 1e3) return absl::StrFormat("%.3g us", ns / 1e3);
  return absl::StrFormat("%.3g ns", ns);
}

// Ratios print as "1.23x"; the fractions as percentages and the one absolute rate as "/s".
std::string FigureText(const std::string& key, double value) {
  if (absl::EndsWith(key, "_fraction")) return absl::StrFormat("%.1f%%", 100 * value);
  if (absl::EndsWith(key, "_per_second")) return absl::StrFormat("%.0f /s", value);
  return absl::StrFormat("%.2fx", value);
}

std::string RatioText(const Ratio& r) {
  if (!r.value) return "not measured";
  return FigureText(r.key, *r.value);
}

// The step profiles of the cases that have one (throughput --profile_steps): self time per step
// by op class, one column per case, and the FLOP/s against the GEMM peak.
std::string ProfileSection(const json& throughput) {
  std::vector<const json*> cases;
  if (throughput.contains("cases")) {
    for (const json& c : throughput["cases"]) {
      if (c.contains("profile") && (c.value("case", "") == kMocoMemoryCase || c.value("case", "") == kMocoMemoryBf16Case))
        cases.push_back(&c);
    }
  }
  if (cases.empty()) return "";
  std::vector<TableColumn> header = {"op class (self time per step)"};
  std::vector<std::string> classes;
  for (const json* c : cases) {
    header.push_back(c->value("case", "?"));
    for (const json& k : (*c)["profile"]["classes"]) {
      const std::string name = k.value("class", "?");
      if (std::find(classes.begin(), classes.end(), name) == classes.end()) classes.push_back(name);
    }
  }
  MarkdownTable table(header);
  for (const std::string& name : classes) {
    std::vector<std::string> row = {name};
    for (const json* c : cases) {
      std::string cell = "-";
      for (const json& k : (*c)["profile"]["classes"]) {
        if (k.value("class", "") == name) {
          cell = absl::StrFormat("%.0f ms (%.0f%%)", 1000 * k.value("seconds_per_step", 0.0),
                                 100 * k.value("share_of_ops", 0.0));
        }
      }
      row.push_back(cell);
    }
    table.AddRow(row);
  }
  std::vector<std::string> rate = {"step FLOP/s / GEMM peak"};
  std::vector<std::string> trace = {"Chrome trace"};
  for (const json* c : cases) {
    const json& p = (*c)["profile"];
    rate.push_back(absl::StrFormat("%.1f / %.1f GFLOP/s (%.0f%%)", p.value("achieved_flops_per_second", 0.0) / 1e9,
                                   p.value("gemm_peak_flops_per_second", 0.0) / 1e9,
                                   100 * p.value("achieved_flops_per_second", 0.0) /
                                       std::max(1.0, p.value("gemm_peak_flops_per_second", 0.0))));
    trace.push_back(absl::StrCat("`", p.value("trace", "?"), "`"));
  }
  table.AddRow(rate);
  table.AddRow(trace);
  return absl::StrCat(
      "\n## Step profile (`//benchmarks:throughput --profile_steps`)\n\n", table.Render(),
      "\nLibTorch's profiler around ", cases[0]->at("profile").value("steps", 0),
      " more steps of each case after its timed ones (the timing above is unprofiled). Self time: an op's time less "
      "its children's; the class comes from the op's name and the trainer's scopes (`step/optimizer`, "
      "`moco/momentum_update`, `moco/head`). Step FLOPs: the forward FLOPs the profiler counts (convolutions, "
      "matrix products), x3 where gradients flow, x1 in the key encoder; FLOP/s divides them by the unprofiled "
      "median step. The GEMM peak: ",
      cases[0]->at("profile").value("gemm_peak_how", "?"), " (the bf16 case's in bf16).\n");
}

}  // namespace

json ProbeMachine() {
  json m;
  const CpuInfo& cpu = ThisCpu();
  m["cpu"] = cpu.model;
  std::string line;
  std::istringstream meminfo(ReadText("/proc/meminfo"));
  while (std::getline(meminfo, line)) {
    if (line.rfind("MemTotal:", 0) == 0) {
      m["memory_gib"] = std::atof(line.substr(9).c_str()) / (1024.0 * 1024.0);
      break;
    }
  }
  std::vector<std::string> isa;
  for (const char* f : {"avx2", "avx512f", "avx512_bf16", "amx_tile"}) {
    if (cpu.Has(f)) isa.push_back(f);
  }
  m["isa"] = absl::StrJoin(isa, " ");
  m["logical_cores"] = std::thread::hardware_concurrency();
  utsname u{};
  if (uname(&u) == 0) {
    m["hostname"] = u.nodename;
    m["kernel"] = absl::StrCat(u.sysname, " ", u.release);
  }
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) == 3) m["load_average_at_start"] = load[0];
  m["git_commit"] = GitCommit();
  m["date_utc"] = absl::FormatTime("%Y-%m-%d %H:%M", absl::Now(), absl::UTCTimeZone());
  return m;
}

BenchmarkOutputs OutputsOf(const json& doc) {
  BenchmarkOutputs outputs;
  outputs.throughput = doc["throughput"];
  outputs.python = doc["python"];
  outputs.micro = doc["micro"];
  if (doc.contains("stream_memory")) outputs.stream_memory = doc["stream_memory"];
  return outputs;
}

json RatiosJson(const BenchmarkOutputs& outputs) {
  json ratios = json::array();
  for (const Ratio& r : TargetRatios(outputs)) {
    json j = {{"key", r.key}, {"label", r.label}, {"how", r.how}, {"higher_is_better", r.higher_is_better}};
    j["value"] = r.value ? json(*r.value) : json(nullptr);
    j["target"] = r.target ? json(*r.target) : json(nullptr);
    j["met"] = r.Met();
    ratios.push_back(j);
  }
  return ratios;
}

std::string RenderBenchmarksMarkdown(const json& doc) {
  const json& m = doc["machine"];
  const json& t = doc["throughput"];
  const BenchmarkOutputs outputs = OutputsOf(doc);
  std::string md = "# Benchmarks: training throughput and micro-benchmarks, beside a PyTorch-Python reference\n\n";
  absl::StrAppend(&md, "Generated by `bazel run //benchmarks:report", doc.value("quick", false) ? " -- --quick" : "",
                  "` on ", m.value("date_utc", "?"), " UTC, commit `", m.value("git_commit", "?"),
                  "`. Every number below comes from this run; ratios divide figures taken minutes apart on the same "
                  "machine, never figures from different days. Nothing here is typed in by hand.\n\n");
  if (doc.value("quick", false)) {
    absl::StrAppend(&md,
                    "**Quick mode**: a few steps per run, so the figures only show that every program runs; "
                    "rerun without `--quick` for figures worth quoting.\n\n");
  }
  const std::vector<std::string> failures = doc.value("failures", std::vector<std::string>());
  if (!failures.empty()) {
    absl::StrAppend(&md, "**Failed:**\n\n");
    for (const std::string& f : failures) absl::StrAppend(&md, "- ", f, "\n");
    absl::StrAppend(&md, "\n");
  }

  std::string python_torch = "not run";
  if (doc["python"].is_array() && !doc["python"].empty() && doc["python"][0].contains("torch_version")) {
    python_torch = absl::StrCat(doc["python"][0].value("torch_version", "?"), ", Python ",
                                doc["python"][0].value("python_version", "?"));
  }
  MarkdownTable machine({"", ""});
  machine.AddRow({"CPU", absl::StrCat(m.value("cpu", "?"), " (", m.value("isa", ""), ")")});
  machine.AddRow({"logical cores", absl::StrCat(m.value("logical_cores", 0))});
  machine.AddRow({"memory", absl::StrCat(Num(m, "memory_gib"), " GiB")});
  machine.AddRow({"kernel", m.value("kernel", "?")});
  const std::string load = Num(m, "load_average_at_start", "%.2f");
  machine.AddRow({"load average when the report started",
                  absl::StrCat(load, " (other work on the machine slows every figure)")});
  machine.AddRow({"LibTorch (ours)", t.value("torch_version", "?")});
  machine.AddRow({"PyTorch (reference)", python_torch});
  machine.AddRow({"intra-op threads, ours and Python", absl::StrCat(doc.value("threads", 0))});
  absl::StrAppend(&md, "## Machine\n\n", machine.Render(), "\n");

  MarkdownTable targets({"figure", "target", "measured", "met"});
  for (const Ratio& r : TargetRatios(outputs)) {
    std::string target = "-";
    if (r.target) {
      target = absl::StrCat(r.higher_is_better ? ">= " : "<= ",
                            absl::EndsWith(r.key, "_fraction") ? absl::StrFormat("%.0f%%", 100 * *r.target)
                                                               : FigureText(r.key, *r.target));
    }
    targets.AddRow({r.label, target, RatioText(r), !r.target ? "-" : (r.Met() ? "yes" : "**no**")});
  }
  absl::StrAppend(&md, "## The targets, measured in this run\n\n", targets.Render());
  absl::StrAppend(&md, "\nHow each ratio is formed:\n\n");
  for (const Ratio& r : TargetRatios(outputs)) absl::StrAppend(&md, "- `", r.key, "`: ", r.how, ".\n");

  MarkdownTable ours({"case", "batch", "size", "channels_last", "precision", "images/s", "images/s (median step)",
                      "data wait", "peak RSS (MiB)"});
  if (t.contains("cases")) {
    for (const json& c : t["cases"]) {
      if (c.contains("error")) {
        ours.AddRow({c.value("case", "?"), absl::StrCat("failed: ", c.value("error", ""))});
        continue;
      }
      ours.AddRow({c.value("case", "?"), absl::StrCat(c.value("batch", 0)), absl::StrCat(c.value("image_size", 0)),
                   c.value("channels_last", false) ? "yes" : "no", c.value("precision", std::string("fp32")),
                   Num(c, "images_per_second"),
                   Num(c, "images_per_second_median_step"), Percent(c, "data_wait_fraction"),
                   Num(c, "peak_rss_mib", "%.0f")});
    }
  }
  absl::StrAppend(&md, "\n## Training throughput, ours (`//benchmarks:throughput`)\n\n", ours.Render());
  absl::StrAppend(
      &md,
      "\nCases are mechanism/source/model. *memory*: a fixed batch of random images already in memory, so only "
      "the step is timed (forward, loss, backward, SGD, and the mechanism's own updates: momentum update, shuffle "
      "BN, enqueue, bank update), over the timed steps after the warm-up ones. *dataset*: the trainer itself "
      "(`moco/train/trainer.h`) on CIFAR-10 JPEG, stopped by `run.max_steps`: images decoded once, two views "
      "per image made on the loader threads while the step runs; its rate leaves out the first step, and *data "
      "wait* is the share of step time spent waiting for the next batch. *r18*: the CPU tier's model "
      "(`configs/cpu/moco_cifar10.pbtxt`: CIFAR ResNet-18 width x0.25 = 16, BN split over 8, K = 4096, 32 px). "
      "*r50*: the paper's ResNet-50 at 224 px (`configs/paper/moco_v1_r50_imagenet.pbtxt`, K = 65536) at a "
      "small batch. */bf16*: `run.precision: BF16`, bf16 autocast of the encoders (convolutions and matrix "
      "products in bfloat16; weights, BN statistics, queue, logits and loss in float32), run only where the CPU "
      "has native bf16 (avx512_bf16 or amx_bf16). Peak RSS: `getrusage` of the case's own process.\n");

  absl::StrAppend(&md, ProfileSection(t));

  MarkdownTable python({"mode", "workers", "channels_last", "precision", "images/s", "images/s (median step)",
                        "data wait", "peak RSS (MiB)", "workers' peak RSS (MiB)"});
  for (const json& run : doc["python"]) {
    if (run.contains("error")) {
      python.AddRow({run.value("mode", "?"), absl::StrCat("failed: ", run.value("error", ""))});
      continue;
    }
    const bool aug = run.value("mode", "") == "augment";
    const std::string mode = aug && run.value("dataset", std::string("cifar")) == "imagenet" ? "augment (ImageNet)"
                                                                                             : run.value("mode", "?");
    python.AddRow({mode, aug ? "-" : std::to_string(run.value("workers", 0)),
                   aug ? "-" : (run.value("channels_last", false) ? "yes" : "no"),
                   aug ? "-" : run.value("precision", std::string("fp32")), Num(run, "images_per_second"),
                   Num(run, "images_per_second_median_step"), Percent(run, "data_wait_fraction"),
                   Num(run, "peak_rss_mib", "%.0f"), Num(run, "peak_rss_workers_mib", "%.0f")});
  }
  absl::StrAppend(&md, "\n## PyTorch-Python reference (`benchmarks/python/moco_reference.py`)\n\n",
                  python.Render());
  absl::StrAppend(
      &md,
      "\nThe official implementation's MoCo step (encoder_q / encoder_k, a per-parameter momentum update, "
      "shuffled keys through BN split over 8 groups as the official CIFAR-10 notebook does, a queue of 4096, "
      "einsum logits, cross-entropy, SGD lr 0.06 momentum 0.9 weight decay 5e-4) on the same width-16 CIFAR "
      "ResNet-18, batch ",
      doc.value("batch", 256),
      ", with the same threads. *memory*: a fixed batch of random tensors. *dataloader*: a torchvision"
      " DataLoader over `ImageFolder(cifar10-jpeg/train)` with our CIFAR recipe (RandomResizedCrop(32), "
      "flip, ColorJitter(0.4, 0.4, 0.4, 0.1) p = 0.8, grayscale p = 0.2, ToTensor, Normalize), shuffled, with "
      "0, 1 or 2 worker processes (which compete with the step for the same cores). *augment*: one core, PIL "
      "decode + two views per image, what one worker does (its images/s is the per-core figure set beside our "
      "`BM_DecodeAugmentPair/cifar`; *augment (ImageNet)*: the same over the 1,000-image ImageNet sample with "
      "MoCo v2's views at 224 px, set beside `BM_DecodeAugmentPair/imagenet`). *bf16*: the forward pass under `torch.autocast('cpu', "
      "dtype=torch.bfloat16)`, the loss in float32.\n");

  MarkdownTable micro({"benchmark", "time per iteration", "rates"});
  for (const json& document : doc["micro"]) {
    if (!document.contains("benchmarks")) continue;
    for (const json& b : document["benchmarks"]) {
      if (b.value("run_type", "iteration") != "iteration") continue;
      std::string rate;
      if (b.value("error_occurred", false)) {
        rate = absl::StrCat("error: ", b.value("error_message", ""));
      } else {
        std::vector<std::string> rates;
        for (const char* counter : {"images/s", "keys/s", "queries/s", "parameters/s"}) {
          if (b.contains(counter)) rates.push_back(absl::StrCat(Si(b[counter].get<double>()), " ", counter));
        }
        if (b.contains("bytes_per_second")) {
          rates.push_back(absl::StrCat(Si(b["bytes_per_second"].get<double>()), "B/s"));
        }
        rate = absl::StrJoin(rates, ", ");
      }
      // The time the rates are per: wall clock for /real_time benchmarks, else this thread's CPU time.
      const std::string name = b.value("name", "?");
      const char* clock = absl::StrContains(name, "/real_time") ? "real_time" : "cpu_time";
      const std::string label = b.value("label", "");
      micro.AddRow({label.empty() ? name : absl::StrCat(name, " (", label, ")"),
                    b.contains(clock) ? Duration(b[clock].get<double>(), b.value("time_unit", "ns")) : "-", rate});
    }
  }
  absl::StrAppend(&md, "\n## Micro-benchmarks (`//benchmarks:micro_data`, `//benchmarks:micro_train`)\n\n",
                  micro.Render());
  absl::StrAppend(
      &md,
      "\nOne thread unless the name says otherwise (`threads:` arguments, the Gloo benchmark's two processes), "
      "LibTorch's intra-op threads for the tensor pieces. Times and rates are per wall-clock second for the "
      "`/real_time` benchmarks, per CPU second of the benchmark's own thread for the others. Decoding reads real "
      "files: CIFAR-10 JPEGs (32x32) and "
      "Penn-Fudan PNGs (about 550x450); bytes/s counts encoded bytes. `BM_AugmentPair` counts source images, each "
      "giving two views; `BM_ShuffleBn*` use an encoder that costs nothing, so they time only the shuffle, the "
      "gathers and the unshuffle.\n");

  MarkdownTable stream({"files in the epoch", "batches", "images/s", "peak RSS (MiB)"});
  if (doc.contains("stream_memory") && doc["stream_memory"].contains("runs")) {
    for (const json& run : doc["stream_memory"]["runs"]) {
      if (run.contains("error")) {
        stream.AddRow({std::to_string(run.value("files", 0)), absl::StrCat("failed: ", run.value("error", ""))});
        continue;
      }
      stream.AddRow({std::to_string(run.value("files", 0)), std::to_string(run.value("batches", 0)),
                     Num(run, "images_per_second"), Num(run, "peak_rss_mib", "%.0f")});
    }
  }
  absl::StrAppend(&md, "\n## Streaming memory (`//benchmarks:stream_memory`)\n\n", stream.Render(),
                  "\nOne epoch of the streaming loader (data.cache STREAM: two V2 views at 224 px per image, batch 32, "
                  "2 batches prefetched) over the 1,000 ImageNet sample JPEGs linked in turn into a flat folder, each "
                  "epoch in a process of its own; peak RSS by `getrusage`. Memory is bounded by the batches in "
                  "flight, not by the number of files.\n");

  absl::StrAppend(&md,
                  "\n## How to reproduce\n\nThe report ran these commands, one at a time, from the "
                  "workspace root (after `bazel build //benchmarks:all`):\n\n```sh\n");
  for (const std::string& c : doc.value("commands", std::vector<std::string>())) absl::StrAppend(&md, c, "\n");
  absl::StrAppend(&md,
                  "```\n\nThe whole report again: `bazel run //benchmarks:report` (add `-- --threads=N` for "
                  "another thread count). The CI regression (`bazel run //benchmarks:regression`) checks a "
                  "few of these ratios against `configs/regression/smoke.pbtxt`.\n");
  return md;
}

}  // namespace moco
