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
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "benchmarks/benchmark_report.h"
#include "moco/common/cpu_info.h"
#include "moco/common/subprocess.h"
#include "moco/common/files.h"

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
ABSL_FLAG(bool, skip_bf16, false,
          "Leave out the bf16 runs (ours and Python's), which run only where the CPU has native bf16.");
ABSL_FLAG(std::string, from_json, "", "Render benchmarks.md from this benchmarks.json instead of running anything.");

namespace moco {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Ours at the CPU tier's model (batch 256, 32 px) and at ResNet-50 224 px.
constexpr char kR18Cases[] =
    "moco/memory/r18,moco/memory/r18/nchw,end_to_end/memory/r18,memory_bank/memory/r18,supervised/memory/r18,"
    "moco/dataset/r18,moco/dataset/r18/stream,supervised/dataset/r18";
constexpr char kR50Cases[] = "moco/memory/r50,supervised/memory/r50";
// MoCo under bf16 autocast, where the CPU has native bf16 (HasNativeBf16), beside its fp32 cases.
constexpr char kR18Bf16Cases[] = ",moco/memory/r18/bf16,moco/dataset/r18/bf16";

std::string Quote(const std::string& arg) {
  if (arg.find_first_of(" '\"$") == std::string::npos) return arg;
  return absl::StrCat("'", absl::StrReplaceAll(arg, {{"'", "'\\''"}}), "'");
}

// The command as a reader would type it from the workspace root.
std::string Shown(std::vector<std::string> argv) {
  const std::string name = fs::path(argv[0]).filename().string();
  if (name == "throughput" || name == "micro_data" || name == "micro_train" || name == "stream_memory") {
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

int Main(const std::string& argv0) {
  const std::string out_dir = absl::GetFlag(FLAGS_out_dir).empty() ? (fs::path(WorkspaceDir()) / "reports").string()
                                                                   : absl::GetFlag(FLAGS_out_dir);
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  // The step profile's Chrome traces (tens of MB): runs/profile beside the default reports/ (not
  // committed), else in the given --out_dir.
  const std::string profile_dir = absl::GetFlag(FLAGS_out_dir).empty()
                                      ? (fs::path(WorkspaceDir()) / "runs" / "profile").string()
                                      : (fs::path(out_dir) / "profile").string();
  json doc;
  Runner runner;
  if (!absl::GetFlag(FLAGS_from_json).empty()) {
    try {
      absl::StatusOr<std::string> text = ReadFile(absl::GetFlag(FLAGS_from_json));
      if (!text.ok()) {
        std::cerr << "report: error: " << text.status().message() << "\n";
        return 1;
      }
      doc = json::parse(*text);
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
    doc["machine"] = ProbeMachine();
    const bool bf16 = HasNativeBf16(ThisCpu()) && !absl::GetFlag(FLAGS_skip_bf16);
    doc["bf16"] = bf16;

    // Ours: training throughput.
    doc["throughput"] = json::object();
    absl::StatusOr<std::string> throughput = FindProgram(argv0, "benchmarks/throughput");
    if (!throughput.ok()) {
      runner.failures.push_back(std::string(throughput.status().message()));
    } else {
      const std::vector<std::string> common = {absl::StrCat("--threads=", threads), absl::StrCat("--warmup=", warmup)};
      std::vector<std::string> r18 = {*throughput, absl::StrCat("--cases=", kR18Cases, bf16 ? kR18Bf16Cases : ""),
                                      absl::StrCat("--steps=", steps), absl::StrCat("--profile_steps=", quick ? 1 : 3),
                                      absl::StrCat("--profile_dir=", profile_dir),
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

    // Ours: peak RSS of a streamed epoch over 1,000 and 10,000 files.
    doc["stream_memory"] = json::object();
    if (!absl::GetFlag(FLAGS_skip_micro)) {
      absl::StatusOr<std::string> binary = FindProgram(argv0, "benchmarks/stream_memory");
      if (!binary.ok()) {
        runner.failures.push_back(std::string(binary.status().message()));
      } else if (std::optional<json> result = runner.Json(
                     {*binary, quick ? "--files=100,1000" : "--files=1000,10000", absl::StrCat("--threads=", threads)},
                     "stream_memory")) {
        doc["stream_memory"] = *result;
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
        if (bf16) {  // the same peer in bf16 autocast, channels_last as bf16 convolutions want
          runs.push_back({"--mode=memory", "--channels_last", "--bf16"});
          for (int workers : {0, 1, 2}) {
            runs.push_back({"--mode=dataloader", absl::StrCat("--workers=", workers), "--channels_last", "--bf16"});
          }
        }
        for (auto& argv : runs) argv.insert(argv.end(), train.begin(), train.end());
        runs.push_back({"--mode=augment", quick ? "--images=100" : "--images=2000"});
        runs.push_back({"--mode=augment", "--dataset=imagenet", quick ? "--images=20" : "--images=1000"});
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
    doc["ratios"] = RatiosJson(OutputsOf(doc));
    const std::string json_path = (fs::path(out_dir) / "benchmarks.json").string();
    if (absl::Status s = WriteFileAtomic(json_path, doc.dump(2) + "\n"); !s.ok()) {
      std::cerr << "report: error: " << s.message() << "\n";
      return 1;
    }
    std::cout << "report: wrote " << json_path << "\n";
  }
  const std::string md_path = (fs::path(out_dir) / "benchmarks.md").string();
  if (absl::Status s = WriteFileAtomic(md_path, RenderBenchmarksMarkdown(doc)); !s.ok()) {
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
