// Writes reports/benchmarks.md and reports/benchmarks.json: the machine, LibTorch and Python
// torch versions, threads, every figure of the training-throughput binary, the micro-benchmarks
// and the PyTorch-Python reference, the ratios of ours to Python measured in the same run, the
// issue's targets checked against them, and the exact command behind each figure.
//
//   bazel run //benchmarks:report                  # the full report, about 15 minutes on 2 cores
//   bazel run //benchmarks:report -- --quick       # a few steps of everything (tests use it)
//   bazel run //benchmarks:report -- --from_json=reports/benchmarks.json   # re-render only
//
// It runs each program as a child process, one after the other (never two at once), so each has
// the machine to itself and its own peak resident memory: //benchmarks:throughput,
// //benchmarks:micro_data and //benchmarks:micro_train (found in this binary's runfiles) and
// benchmarks/python/moco_reference.py under the set-up's Python. Any program that fails is
// reported as such, and the report exits non-zero.
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmarks/figures.h"
#include "benchmarks/subprocess.h"
#include "configs/record.h"

ABSL_FLAG(bool, quick, false,
          "A few steps of everything and short micro-benchmarks (for tests): the figures are "
          "not meaningful, the report's shape is.");
ABSL_FLAG(std::string, out_dir, "", "Where benchmarks.md and benchmarks.json go (default: <workspace>/reports).");
ABSL_FLAG(int, threads, 2, "Intra-op threads of every training run, ours and Python's (0: one per core).");
ABSL_FLAG(int, batch, 0,
          "Batch of the CIFAR ResNet-18 runs, ours and Python's (0: 256, the CPU tier's; 64 with --quick).");
ABSL_FLAG(int, steps, 0, "Timed training steps per run (0: 20, or 1 with --quick).");
ABSL_FLAG(int, r50_steps, 0, "Timed steps of the ResNet-50 224 px cases (0: 5, or 1 with --quick).");
ABSL_FLAG(int, r50_batch, 0, "Batch of the ResNet-50 224 px cases (0: 16, or 2 with --quick).");
ABSL_FLAG(double, micro_min_time, 0, "--benchmark_min_time of the micro-benchmarks (0: 0.5 s, or 0.01 with --quick).");
ABSL_FLAG(bool, skip_python, false, "Leave out the Python reference (its figures and the ratios show as missing).");
ABSL_FLAG(bool, skip_micro, false, "Leave out the micro-benchmarks.");
ABSL_FLAG(std::string, from_json, "", "Render benchmarks.md from this benchmarks.json instead of running anything.");

namespace moco {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Ours at the CPU tier's model (batch 256, 32 px) and at ResNet-50 224 px.
constexpr char kR18Cases[] =
    "moco/memory/r18,moco/memory/r18/nchw,end_to_end/memory/r18,memory_bank/memory/r18,supervised/memory/r18,"
    "moco/dataset/r18,supervised/dataset/r18";
constexpr char kR50Cases[] = "moco/memory/r50,supervised/memory/r50";

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

json Machine() {
  json m;
  std::istringstream cpuinfo(ReadText("/proc/cpuinfo"));
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      m["cpu"] = line.substr(line.find(':') + 2);
      break;
    }
  }
  std::istringstream meminfo(ReadText("/proc/meminfo"));
  while (std::getline(meminfo, line)) {
    if (line.rfind("MemTotal:", 0) == 0) {
      m["memory_gib"] = std::atof(line.substr(9).c_str()) / (1024.0 * 1024.0);
      break;
    }
  }
  std::istringstream flags(ReadText("/proc/cpuinfo"));
  std::vector<std::string> isa;
  while (std::getline(flags, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    for (const char* f : {"avx2", "avx512f", "avx512_bf16", "amx_tile"}) {
      if (line.find(absl::StrCat(" ", f)) != std::string::npos) isa.push_back(f);
    }
    break;
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

std::string Quote(const std::string& arg) {
  if (arg.find_first_of(" '\"$") == std::string::npos) return arg;
  return absl::StrCat("'", absl::StrReplaceAll(arg, {{"'", "'\\''"}}), "'");
}

// The command as a reader would type it from the workspace root.
std::string Shown(std::vector<std::string> argv) {
  const std::string name = fs::path(argv[0]).filename().string();
  if (name == "throughput" || name == "micro_data" || name == "micro_train") {
    argv[0] = absl::StrCat("bazel-bin/benchmarks/", name);
  } else if (name.rfind("python", 0) == 0) {
    argv[0] = "~/.cache/moco-cpp/torch-2.11.0/bin/python";
    argv[1] = "benchmarks/python/moco_reference.py";
  }
  std::vector<std::string> quoted;
  for (const std::string& a : argv) quoted.push_back(Quote(a));
  return absl::StrJoin(quoted, " ");
}

struct Runner {
  std::vector<std::string> commands;  // shown in the report
  std::vector<std::string> failures;  // one line per program that failed

  // Runs argv and parses its stdout as JSON; a failure is recorded and gives nullopt.
  std::optional<json> Json(const std::vector<std::string>& argv, const std::string& what) {
    commands.push_back(Shown(argv));
    std::cerr << "report: " << what << ": " << Shown(argv) << std::endl;
    absl::StatusOr<ProcessResult> run = RunProcess(argv);
    std::string error;
    if (!run.ok()) {
      error = std::string(run.status().message());
    } else {
      try {
        json doc = json::parse(run->stdout_text);
        if (run->exit_code == 0) return doc;
        error = absl::StrCat("exited with status ", run->exit_code);
        failures.push_back(absl::StrCat(what, ": ", error));
        return doc;  // partial results (e.g. the cases that did run) still count
      } catch (const json::exception& e) {
        error = absl::StrCat("exited with status ", run->exit_code, ", printed no JSON (", e.what(), ")");
      }
    }
    failures.push_back(absl::StrCat(what, ": ", error));
    std::cerr << "report: " << what << " failed: " << error << std::endl;
    return std::nullopt;
  }
};

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

std::string RatioText(const Ratio& r) {
  if (!r.value) return "not measured";
  return r.key == "moco_data_wait_fraction" ? absl::StrFormat("%.1f%%", 100 * *r.value)
                                            : absl::StrFormat("%.2fx", *r.value);
}

std::string Markdown(const json& doc) {
  const json& m = doc["machine"];
  const json& t = doc["throughput"];
  BenchmarkOutputs outputs;
  outputs.throughput = t;
  outputs.python = doc["python"];
  outputs.micro = doc["micro"];
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

  absl::StrAppend(&md, "## Machine\n\n| | |\n| --- | --- |\n");
  absl::StrAppend(&md, "| CPU | ", m.value("cpu", "?"), " (", m.value("isa", ""), ") |\n");
  absl::StrAppend(&md, "| logical cores | ", m.value("logical_cores", 0), " |\n");
  absl::StrAppend(&md, "| memory | ", Num(m, "memory_gib"), " GiB |\n");
  absl::StrAppend(&md, "| kernel | ", m.value("kernel", "?"), " |\n");
  absl::StrAppend(&md, "| load average when the report started | ", Num(m, "load_average_at_start", "%.2f"),
                  " (other work on the machine slows every figure) |\n");
  absl::StrAppend(&md, "| LibTorch (ours) | ", t.value("torch_version", "?"), " |\n");
  std::string python_torch = "not run";
  if (doc["python"].is_array() && !doc["python"].empty() && doc["python"][0].contains("torch_version")) {
    python_torch = absl::StrCat(doc["python"][0].value("torch_version", "?"), ", Python ",
                                doc["python"][0].value("python_version", "?"));
  }
  absl::StrAppend(&md, "| PyTorch (reference) | ", python_torch, " |\n");
  absl::StrAppend(&md, "| intra-op threads, ours and Python | ", doc.value("threads", 0), " |\n\n");

  absl::StrAppend(&md,
                  "## The targets, measured in this run\n\n| figure | target | measured | met |\n"
                  "| --- | --- | --- | --- |\n");
  for (const Ratio& r : TargetRatios(outputs)) {
    std::string target = "-";
    if (r.target) {
      target = r.key == "moco_data_wait_fraction"
                   ? absl::StrFormat("<= %.0f%%", 100 * *r.target)
                   : absl::StrFormat("%s %.2fx", r.higher_is_better ? ">=" : "<=", *r.target);
    }
    absl::StrAppend(&md, "| ", r.label, " | ", target, " | ", RatioText(r), " | ",
                    !r.target ? "-" : (r.Met() ? "yes" : "**no**"), " |\n");
  }
  absl::StrAppend(&md, "\nHow each ratio is formed:\n\n");
  for (const Ratio& r : TargetRatios(outputs)) absl::StrAppend(&md, "- `", r.key, "`: ", r.how, ".\n");

  absl::StrAppend(&md,
                  "\n## Training throughput, ours (`//benchmarks:throughput`)\n\n"
                  "| case | batch | size | channels_last | images/s | images/s (median step) | data wait | "
                  "peak RSS (MiB) |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
  if (t.contains("cases")) {
    for (const json& c : t["cases"]) {
      if (c.contains("error")) {
        absl::StrAppend(&md, "| ", c.value("case", "?"), " | failed: ", c.value("error", ""), " | | | | | | |\n");
        continue;
      }
      absl::StrAppend(&md, "| ", c.value("case", "?"), " | ", c.value("batch", 0), " | ", c.value("image_size", 0),
                      " | ", c.value("channels_last", false) ? "yes" : "no", " | ", Num(c, "images_per_second"), " | ",
                      Num(c, "images_per_second_median_step"), " | ", Percent(c, "data_wait_fraction"), " | ",
                      Num(c, "peak_rss_mib", "%.0f"), " |\n");
    }
  }
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
      "small batch. Peak RSS: `getrusage` of the case's own process.\n");

  absl::StrAppend(&md,
                  "\n## PyTorch-Python reference (`benchmarks/python/moco_reference.py`)\n\n"
                  "| mode | workers | channels_last | images/s | images/s (median step) | data wait | "
                  "peak RSS (MiB) | workers' peak RSS (MiB) |\n"
                  "| --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (const json& run : doc["python"]) {
    if (run.contains("error")) {
      absl::StrAppend(&md, "| ", run.value("mode", "?"), " | failed: ", run.value("error", ""), " | | | | | | |\n");
      continue;
    }
    const bool aug = run.value("mode", "") == "augment";
    absl::StrAppend(&md, "| ", run.value("mode", "?"), " | ", aug ? "-" : std::to_string(run.value("workers", 0)),
                    " | ", aug ? "-" : (run.value("channels_last", false) ? "yes" : "no"), " | ",
                    Num(run, "images_per_second"), " | ", Num(run, "images_per_second_median_step"), " | ",
                    Percent(run, "data_wait_fraction"), " | ", Num(run, "peak_rss_mib", "%.0f"), " | ",
                    Num(run, "peak_rss_workers_mib", "%.0f"), " |\n");
  }
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
      "`BM_DecodeAugmentPair/cifar`).\n");

  absl::StrAppend(&md,
                  "\n## Micro-benchmarks (`//benchmarks:micro_data`, `//benchmarks:micro_train`)\n\n"
                  "| benchmark | time per iteration | rates |\n| --- | --- | --- |\n");
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
      absl::StrAppend(&md, "| ", name, label.empty() ? "" : absl::StrCat(" (", label, ")"), " | ",
                      b.contains(clock) ? Duration(b[clock].get<double>(), b.value("time_unit", "ns")) : "-", " | ",
                      rate, " |\n");
    }
  }
  absl::StrAppend(
      &md,
      "\nOne thread unless the name says otherwise (`threads:` arguments, the Gloo benchmark's two processes), "
      "LibTorch's intra-op threads for the tensor pieces. Times and rates are per wall-clock second for the "
      "`/real_time` benchmarks, per CPU second of the benchmark's own thread for the others. Decoding reads real "
      "files: CIFAR-10 JPEGs (32x32) and "
      "Penn-Fudan PNGs (about 550x450); bytes/s counts encoded bytes. `BM_AugmentPair` counts source images, each "
      "giving two views; `BM_ShuffleBn*` use an encoder that costs nothing, so they time only the shuffle, the "
      "gathers and the unshuffle.\n");

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

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.flush();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

int Main(const std::string& argv0) {
  const std::string out_dir = absl::GetFlag(FLAGS_out_dir).empty() ? (fs::path(WorkspaceDir()) / "reports").string()
                                                                   : absl::GetFlag(FLAGS_out_dir);
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  json doc;
  Runner runner;
  if (!absl::GetFlag(FLAGS_from_json).empty()) {
    try {
      doc = json::parse(ReadText(absl::GetFlag(FLAGS_from_json)));
    } catch (const json::exception& e) {
      std::cerr << "report: error: " << absl::GetFlag(FLAGS_from_json) << ": " << e.what() << "\n";
      return 1;
    }
  } else {
    const bool quick = absl::GetFlag(FLAGS_quick);
    const int threads = absl::GetFlag(FLAGS_threads) > 0 ? absl::GetFlag(FLAGS_threads)
                                                         : static_cast<int>(std::thread::hardware_concurrency());
    const int steps = absl::GetFlag(FLAGS_steps) > 0 ? absl::GetFlag(FLAGS_steps) : (quick ? 1 : 20);
    const int warmup = quick ? 1 : 3;
    const int batch = absl::GetFlag(FLAGS_batch) > 0 ? absl::GetFlag(FLAGS_batch) : (quick ? 64 : 256);
    const int r50_steps = absl::GetFlag(FLAGS_r50_steps) > 0 ? absl::GetFlag(FLAGS_r50_steps) : (quick ? 1 : 5);
    const int r50_batch = absl::GetFlag(FLAGS_r50_batch) > 0 ? absl::GetFlag(FLAGS_r50_batch) : (quick ? 2 : 16);
    const double min_time =
        absl::GetFlag(FLAGS_micro_min_time) > 0 ? absl::GetFlag(FLAGS_micro_min_time) : (quick ? 0.01 : 0.5);
    doc["quick"] = quick;
    doc["threads"] = threads;
    doc["batch"] = batch;
    doc["machine"] = Machine();

    // Ours: training throughput.
    doc["throughput"] = json::object();
    absl::StatusOr<std::string> throughput = FindProgram(argv0, "benchmarks/throughput");
    if (!throughput.ok()) {
      runner.failures.push_back(std::string(throughput.status().message()));
    } else {
      const std::vector<std::string> common = {absl::StrCat("--threads=", threads), absl::StrCat("--warmup=", warmup)};
      std::vector<std::string> r18 = {*throughput, absl::StrCat("--cases=", kR18Cases), absl::StrCat("--steps=", steps),
                                      absl::StrCat("--batch=", batch)};
      if (quick) r18.push_back("--max_train_images=2048");
      r18.insert(r18.end(), common.begin(), common.end());
      std::vector<std::string> r50 = {*throughput, absl::StrCat("--cases=", kR50Cases),
                                      absl::StrCat("--steps=", r50_steps), absl::StrCat("--r50_batch=", r50_batch)};
      r50.insert(r50.end(), common.begin(), common.end());
      std::optional<json> a = runner.Json(r18, "throughput (CIFAR ResNet-18)");
      std::optional<json> b = runner.Json(r50, "throughput (ResNet-50 224 px)");
      if (a) doc["throughput"] = *a;
      if (b && b->contains("cases")) {
        if (!doc["throughput"].contains("cases"))
          doc["throughput"] = *b;
        else
          for (const json& c : (*b)["cases"]) doc["throughput"]["cases"].push_back(c);
      }
    }

    // Ours: micro-benchmarks.
    doc["micro"] = json::array();
    if (!absl::GetFlag(FLAGS_skip_micro)) {
      for (const char* name : {"micro_data", "micro_train"}) {
        absl::StatusOr<std::string> binary = FindProgram(argv0, absl::StrCat("benchmarks/", name));
        if (!binary.ok()) {
          runner.failures.push_back(std::string(binary.status().message()));
          continue;
        }
        std::vector<std::string> argv = {*binary, "--benchmark_format=json",
                                         absl::StrFormat("--benchmark_min_time=%g", min_time)};
        if (quick) argv.push_back("--benchmark_filter=-BM_ReadImageFolder");
        if (std::optional<json> result = runner.Json(argv, name)) doc["micro"].push_back(*result);
      }
    }

    // The Python reference.
    doc["python"] = json::array();
    if (!absl::GetFlag(FLAGS_skip_python)) {
      absl::StatusOr<std::string> python = PythonInterpreter();
      absl::StatusOr<std::string> script = FindProgram(argv0, "benchmarks/python/moco_reference.py");
      if (!python.ok() || !script.ok()) {
        const std::string why = std::string((!python.ok() ? python.status() : script.status()).message());
        runner.failures.push_back(absl::StrCat("Python reference: ", why));
        doc["python"].push_back({{"mode", "all"}, {"error", why}});
      } else {
        std::vector<std::vector<std::string>> runs;
        const std::vector<std::string> train = {absl::StrCat("--steps=", steps), absl::StrCat("--warmup=", warmup),
                                                absl::StrCat("--threads=", threads), absl::StrCat("--batch=", batch)};
        for (bool cl : {false, true}) {
          std::vector<std::string> argv = {"--mode=memory"};
          if (cl) argv.push_back("--channels_last");
          runs.push_back(argv);
        }
        for (int workers : {0, 1, 2}) {
          for (bool cl : {false, true}) {
            std::vector<std::string> argv = {"--mode=dataloader", absl::StrCat("--workers=", workers)};
            if (cl) argv.push_back("--channels_last");
            runs.push_back(argv);
          }
        }
        for (auto& argv : runs) argv.insert(argv.end(), train.begin(), train.end());
        runs.push_back({"--mode=augment", quick ? "--images=100" : "--images=2000"});
        for (const auto& args : runs) {
          std::vector<std::string> argv = {*python, *script};
          argv.insert(argv.end(), args.begin(), args.end());
          std::optional<json> result = runner.Json(argv, absl::StrCat("python ", absl::StrJoin(args, " ")));
          doc["python"].push_back(result ? *result : json{{"mode", args[0].substr(7)}, {"error", "failed"}});
        }
      }
    }
    doc["commands"] = runner.commands;
    doc["failures"] = runner.failures;
    BenchmarkOutputs outputs;
    outputs.throughput = doc["throughput"];
    outputs.python = doc["python"];
    outputs.micro = doc["micro"];
    json ratios = json::array();
    for (const Ratio& r : TargetRatios(outputs)) {
      json j = {{"key", r.key}, {"label", r.label}, {"how", r.how}, {"higher_is_better", r.higher_is_better}};
      j["value"] = r.value ? json(*r.value) : json(nullptr);
      j["target"] = r.target ? json(*r.target) : json(nullptr);
      j["met"] = r.Met();
      ratios.push_back(j);
    }
    doc["ratios"] = ratios;
    const std::string json_path = (fs::path(out_dir) / "benchmarks.json").string();
    if (absl::Status s = WriteText(json_path, doc.dump(2) + "\n"); !s.ok()) {
      std::cerr << "report: error: " << s.message() << "\n";
      return 1;
    }
    std::cout << "report: wrote " << json_path << "\n";
  }
  const std::string md_path = (fs::path(out_dir) / "benchmarks.md").string();
  if (absl::Status s = WriteText(md_path, Markdown(doc)); !s.ok()) {
    std::cerr << "report: error: " << s.message() << "\n";
    return 1;
  }
  std::cout << "report: wrote " << md_path << "\n";
  const std::vector<std::string> failures = doc.value("failures", std::vector<std::string>());
  for (const std::string& f : failures) std::cerr << "report: failed: " << f << "\n";
  return failures.empty() ? 0 : 1;
}

}  // namespace
}  // namespace moco

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Runs the training-throughput benchmarks, the micro-benchmarks and the PyTorch-Python reference one\n"
      "after the other and writes reports/benchmarks.md and reports/benchmarks.json.\n"
      "Usage: report [--quick] [--threads=N] [--steps=N] [--out_dir=DIR] [--from_json=FILE]");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::cerr << "report: error: unexpected argument '" << rest[1] << "'\n";
    return 1;
  }
  return moco::Main(argv[0]);
}
