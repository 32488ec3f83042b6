// The CI regression: runs the smoke tier of the reproduction harness (every table, into a fresh
// folder, so every run trains) and short throughput runs, compares the kNN accuracy and loss of
// each run and the throughput ratios with the expectations committed in
// configs/regression/smoke.pbtxt, prints expected / measured / delta / tolerance / verdict, and
// exits 1 on a regression beyond tolerance, when a part fails to run, or when a committed figure is
// not produced. Throughput is judged only as ratios of figures measured in this run (MoCo step
// over supervised step and ours over the Python reference, per CPU second at one thread; decode +
// augmentation over torchvision's; the trainer's data-wait share), never absolute times.
//
//   bazel run //benchmarks:regression                        # what .ci/run does, a few minutes
//   bazel run //benchmarks:regression -- --update            # after an intended change: rewrite the file
//   bazel run //benchmarks:regression -- --skip_accuracy     # only the throughput ratios (a minute)
//   bazel run //benchmarks:regression -- --skip_accuracy --spread=5 --update   # tolerances from 5 runs' spread
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "benchmarks/benchmark_report.h"
#include "benchmarks/figures.h"
#include "benchmarks/harness/markdown.h"
#include "benchmarks/regression.h"
#include "moco/common/subprocess.h"
#include "configs/record.h"
#include "moco/common/status.h"

ABSL_FLAG(std::string, expectations, "configs/regression/smoke.pbtxt",
          "The committed expectations (a path from the workspace root, or absolute).");
ABSL_FLAG(bool, update, false, "Rewrite the expectations with this run's figures (keeping tolerances).");
ABSL_FLAG(bool, skip_accuracy, false, "Do not run the smoke tier; its checks are skipped.");
ABSL_FLAG(bool, skip_throughput, false, "Do not run the throughput part; its checks are skipped.");
ABSL_FLAG(int, threads, 2, "Threads of the end-to-end throughput run (the steps on tensors in memory use one).");
ABSL_FLAG(int, steps, 6, "Timed steps of each throughput run.");
ABSL_FLAG(int, spread, 0,
          "Run the throughput part this many times (at least 2): print each ratio's mean and spread and the tolerance "
          "they give; with --update, write those (the ratios with a relative tolerance).");
ABSL_FLAG(std::string, work_dir, "",
          "Where the smoke tier's records and checkpoints go (default: a temporary "
          "folder, removed afterwards).");

namespace moco {
namespace {

namespace fs = std::filesystem;
using bench::RegressionCheck;
using nlohmann::json;

constexpr char kSmokeKnnMean[] = "smoke/knn_top1_mean";

// Tolerances for figures that have no expectation yet (--update adds them with these).
// The smoke tier is deterministic on the CPU for a fixed thread count. Across CPUs (other oneDNN
// kernels) and thread counts its losses move by under 1%, but one run's kNN accuracy moves by up
// to 10 points: after one epoch the encoders are near initialisation (22.6% on the 500 test
// images), where rounding decides many neighbours. The mean over the tier's 7 runs moved by under
// 1 point (22.9, 23.7 and 23.9% on an AMD EPYC at 2 threads and an AVX-512 Xeon at 2 and 1).
RegressionCheck TemplateFor(const std::string& key) {
  RegressionCheck check;
  if (key == kSmokeKnnMean) {
    check.set_tolerance(3.0);
    check.set_better(RegressionCheck::HIGHER);
    check.set_note("mean kNN top-1 (%) over the smoke tier's runs, 500 CIFAR-10 test images each");
  } else if (KeySource(key) == "smoke" && absl::EndsWith(key, "/loss")) {
    // Either way: a loss that falls beyond noise can be a leak (e.g. shuffle BN broken).
    check.set_relative_tolerance(0.03);
    check.set_better(RegressionCheck::NEITHER);
    check.set_note("mean training loss over the smoke-tier run's epoch");
  } else if (key == "throughput/moco_data_wait_fraction") {
    check.set_tolerance(0.04);
    check.set_better(RegressionCheck::LOWER);
    check.set_note("share of the trainer's MoCo step spent waiting for data, 2 threads (issue target < 5%)");
  } else if (key == "throughput/moco_over_supervised_cpu_time") {
    check.set_relative_tolerance(0.2);
    check.set_better(RegressionCheck::LOWER);
    check.set_note("MoCo step / supervised step, CPU time per image at one thread");
  } else if (key == "throughput/decode_augment_over_torchvision") {
    // Per CPU second on both sides, yet it moved between 33x and 69x on the busy 2-core machine.
    check.set_relative_tolerance(0.5);
    check.set_better(RegressionCheck::HIGHER);
    check.set_note("JPEG decode + two CIFAR views per CPU second of one thread: ours / PIL + torchvision");
  } else {
    check.set_relative_tolerance(0.3);
    check.set_better(RegressionCheck::HIGHER);
    if (key == "throughput/moco_memory_over_python_memory_cpu") {
      check.set_note("MoCo step on tensors in memory, CPU time per image at one thread: ours / PyTorch-Python");
    }
  }
  return check;
}

constexpr char kHeader[] =
    "# Expected results of the CI regression (benchmarks/regression.proto), checked by\n"
    "#   bazel run //benchmarks:regression\n"
    "# after the tests in .ci/run. smoke/<run>/loss: the final-epoch loss of each run of the\n"
    "# reproduction harness's smoke tier (configs/tables/smoke/*.pbtxt); smoke/knn_top1_mean: their\n"
    "# kNN top-1 (%), averaged over the runs (one run's moves by up to 10 points across CPUs and thread\n"
    "# counts, the mean by about 1; benchmarks/regression_main.cc). The runs are bit-for-bit\n"
    "# repeatable on one machine with fixed threads, so the tolerances cover other machines.\n"
    "# throughput/<ratio>: ratios of figures measured in the same run\n"
    "# (benchmarks/figures.h), each figure the faster of two interleaved runs; never absolute times.\n"
    "# Their values and tolerances come from repeated runs on throughput_cpu (--spread=5: each note\n"
    "# says the spread); on another CPU they are judged within other_cpu_relative_tolerance only.\n"
    "# Written by `bazel run //benchmarks:regression -- [--skip_accuracy --spread=5] --update`.\n";

std::string ExpectationsPath() {
  const std::string flag = absl::GetFlag(FLAGS_expectations);
  if (fs::path(flag).is_absolute()) return flag;
  return (fs::path(WorkspaceDir()) / flag).string();
}

// The smoke tier of every table into `dir`; the final-epoch loss of each record and the mean kNN
// top-1 over them.
absl::Status RunSmokeTier(const std::string& argv0, const std::string& dir, Measurements* measured) {
  MOCO_ASSIGN_OR_RETURN(std::string reproduce, FindProgram(argv0, "benchmarks/reproduce"));
  const std::string reports = (fs::path(dir) / "reports").string();
  const std::vector<std::string> argv = {reproduce, "--table=all", "--tier=smoke", "--reports_dir=" + reports,
                                         "--runs_dir=" + (fs::path(dir) / "runs").string()};
  std::cout << "regression: the smoke tier: " << absl::StrJoin(argv, " ") << std::endl;
  ProcessOptions options;
  options.capture_stdout = false;
  MOCO_ASSIGN_OR_RETURN(ProcessResult run, RunProcess(argv, options));
  if (run.exit_code != 0) return absl::InternalError(absl::StrCat("the smoke tier failed (exit ", run.exit_code, ")"));
  const fs::path records = fs::path(reports) / "smoke" / "runs";
  std::error_code ec;
  double knn_sum = 0;
  int knn_runs = 0;
  for (const auto& entry : fs::directory_iterator(records, ec)) {
    if (entry.path().extension() != ".json") continue;
    MOCO_ASSIGN_OR_RETURN(config::RunRecord record, ReadRecord(entry.path().string()));
    const std::string name = entry.path().stem().string();
    if (const auto it = record.metrics().find("loss"); it != record.metrics().end()) {
      (*measured)[absl::StrCat("smoke/", name, "/loss")] = it->second;
    }
    const auto knn = record.metrics().find("knn_top1");
    if (knn == record.metrics().end()) {
      return absl::NotFoundError(absl::StrCat("the smoke record ", entry.path().string(), " has no knn_top1"));
    }
    knn_sum += knn->second;
    ++knn_runs;
  }
  if (ec || knn_runs == 0) {
    return absl::NotFoundError(absl::StrCat("the smoke tier wrote no records in ", records.string()));
  }
  (*measured)[kSmokeKnnMean] = knn_sum / knn_runs;
  return absl::OkStatus();
}

// The throughput ratios the regression checks: the ones that other work on a shared machine moves
// least. Steps with tensors in memory run at one thread and compare per CPU second; the decode +
// augmentation figures are per CPU second of one thread too; the data-wait share is the trainer's.
const char* const kCheckedRatios[] = {"moco_over_supervised_cpu_time", "moco_memory_over_python_memory_cpu",
                                      "decode_augment_over_torchvision", "moco_data_wait_fraction"};

// Short runs of ours and of the Python reference's memory mode at one thread, interleaved twice (each
// figure counts its faster run), a short end-to-end run of the trainer, one decode + augment
// micro-benchmark and the Python augment mode; the ratios between them.
absl::Status RunThroughput(const std::string& argv0, Measurements* measured) {
  const std::string steps = absl::StrCat("--steps=", absl::GetFlag(FLAGS_steps));
  auto run_json = [](const std::vector<std::string>& argv) -> absl::StatusOr<json> {
    std::cout << "regression: " << absl::StrJoin(argv, " ") << std::endl;
    MOCO_ASSIGN_OR_RETURN(ProcessResult run, RunProcess(argv));
    if (run.exit_code != 0) {
      return absl::InternalError(
          absl::StrCat(argv[0], " ", argv.size() > 1 ? argv[1] : "", " failed (exit ", run.exit_code, ")"));
    }
    try {
      return json::parse(run.stdout_text);
    } catch (const json::exception& e) {
      return absl::InternalError(absl::StrCat(argv[0], " printed no JSON: ", e.what()));
    }
  };
  MOCO_ASSIGN_OR_RETURN(std::string throughput, FindProgram(argv0, "benchmarks/throughput"));
  MOCO_ASSIGN_OR_RETURN(std::string micro, FindProgram(argv0, "benchmarks/micro_data"));
  MOCO_ASSIGN_OR_RETURN(std::string python, PythonInterpreter());
  MOCO_ASSIGN_OR_RETURN(std::string script, FindProgram(argv0, "benchmarks/python/moco_reference.py"));
  BenchmarkOutputs outputs;
  outputs.throughput["cases"] = json::array();
  for (int round = 0; round < 2; ++round) {
    MOCO_ASSIGN_OR_RETURN(
        json ours, run_json({throughput, absl::StrCat("--cases=", kMocoMemoryCase, ",", kSupervisedMemoryCase), steps,
                             "--warmup=2", "--threads=1"}));
    for (const json& c : ours["cases"]) outputs.throughput["cases"].push_back(c);
    MOCO_ASSIGN_OR_RETURN(json reference, run_json({python, script, "--mode=memory", "--channels_last", steps,
                                                    "--warmup=2", "--threads=1"}));
    outputs.python.push_back(reference);
  }
  MOCO_ASSIGN_OR_RETURN(
      json end_to_end, run_json({throughput, absl::StrCat("--cases=", kMocoDatasetCase), steps,
                                 absl::StrCat("--threads=", absl::GetFlag(FLAGS_threads)), "--max_train_images=4096"}));
  for (const json& c : end_to_end["cases"]) outputs.throughput["cases"].push_back(c);
  MOCO_ASSIGN_OR_RETURN(json micro_json,
                        run_json({micro, "--benchmark_format=json", "--benchmark_min_time=0.5",
                                  absl::StrCat("--benchmark_filter=^", kDecodeAugmentBenchmark, "$")}));
  outputs.micro.push_back(micro_json);
  MOCO_ASSIGN_OR_RETURN(json augment, run_json({python, script, "--mode=augment", "--images=1000"}));
  outputs.python.push_back(augment);
  const Measurements all = ThroughputMeasurements(outputs);
  for (const char* ratio : kCheckedRatios) {
    const auto it = all.find(absl::StrCat("throughput/", ratio));
    if (it != all.end()) (*measured)[it->first] = it->second;
  }
  return absl::OkStatus();
}

// Each ratio's mean and spread over the repeated throughput runs, and the tolerance they give.
std::string SpreadTable(const std::map<std::string, Spread>& spreads) {
  MarkdownTable table({"ratio", "runs", "mean", "sd", "max deviation", "tolerance from the spread (rule: regression.h)"});
  for (const auto& [key, s] : spreads) {
    const double tolerance = RelativeToleranceFromSpread(s);
    table.AddRow({key, absl::StrCat(s.runs), absl::StrFormat("%.4g", s.mean),
                  absl::StrFormat("%.1f%%", s.mean != 0 ? 100 * s.sd / std::abs(s.mean) : 0),
                  absl::StrFormat("%.1f%%", s.mean != 0 ? 100 * s.max_dev / std::abs(s.mean) : 0),
                  absl::StrFormat("%.0f%%%s", 100 * tolerance, tolerance >= 0.2 ? " (cannot catch a 25% slowdown)" : "")});
  }
  return table.RenderText();
}

// This CPU as the expectations name it: "model (isa)".
std::string ThisCpu() {
  const json machine = ProbeMachine();
  return absl::StrCat(machine.value("cpu", std::string("an unknown CPU")), " (", machine.value("isa", std::string()),
                      ")");
}

// The machine and day the spreads were measured on, for the expectations' notes.
std::string MeasuredOn() {
  const json machine = ProbeMachine();
  return absl::StrCat(machine.value("logical_cores", 0), " cores, ", machine.value("date_utc", std::string("")));
}

int Main(const std::string& argv0) {
  const std::string path = ExpectationsPath();
  absl::StatusOr<bench::RegressionExpectations> expected = LoadExpectations(path);
  if (!expected.ok()) {
    if (!absl::GetFlag(FLAGS_update) || !absl::IsNotFound(expected.status())) {
      std::cerr << "regression: error: " << expected.status().message() << "\n";
      return 1;
    }
    expected = bench::RegressionExpectations();  // --update creates the file
  }
  const std::string cpu = ThisCpu();
  const bench::RegressionExpectations judged_by = ForCpu(*expected, cpu);
  if (!absl::GetFlag(FLAGS_skip_throughput) && expected->has_throughput_cpu() && expected->throughput_cpu() != cpu) {
    std::cout << "regression: the throughput expectations were measured on " << expected->throughput_cpu()
              << "; this is " << cpu << ": its ratios are judged within +-"
              << 100 * expected->other_cpu_relative_tolerance()
              << "% only. On this CPU, `regression --skip_accuracy --spread=5 --update` measures them.\n";
  }
  Measurements measured;
  std::set<std::string> sources;
  std::vector<std::string> errors;
  if (!absl::GetFlag(FLAGS_skip_accuracy)) {
    std::string dir = absl::GetFlag(FLAGS_work_dir);
    const bool temporary = dir.empty();
    if (temporary) dir = (fs::temp_directory_path() / absl::StrCat("moco_regression_", getpid())).string();
    sources.insert("smoke");
    if (absl::Status s = RunSmokeTier(argv0, dir, &measured); !s.ok()) errors.push_back(std::string(s.message()));
    std::error_code ec;
    if (temporary) fs::remove_all(dir, ec);
  }
  std::map<std::string, Spread> spreads;
  if (!absl::GetFlag(FLAGS_skip_throughput)) {
    sources.insert("throughput");
    const int rounds = std::max(1, absl::GetFlag(FLAGS_spread));
    std::map<std::string, std::vector<double>> values;
    for (int round = 0; round < rounds && errors.empty(); ++round) {
      if (rounds > 1) std::cout << "regression: throughput, run " << round + 1 << " of " << rounds << std::endl;
      Measurements one;
      if (absl::Status s = RunThroughput(argv0, &one); !s.ok()) errors.push_back(std::string(s.message()));
      for (const auto& [key, value] : one) values[key].push_back(value);
    }
    for (const auto& [key, list] : values) {
      spreads[key] = MeasureSpread(list);
      measured[key] = spreads[key].mean;
    }
    if (rounds > 1) std::cout << "\n" << SpreadTable(spreads);
  }
  const std::vector<CheckOutcome> outcomes = Compare(judged_by, measured, sources);
  std::cout << "\nregression: against " << path << "\n" << RenderTable(outcomes);
  for (const std::string& e : errors) std::cerr << "regression: error: " << e << "\n";
  if (absl::GetFlag(FLAGS_update)) {
    if (!errors.empty()) {
      std::cerr << "regression: not updating " << path << ": a part failed to run\n";
      return 1;
    }
    bench::RegressionExpectations updated = UpdatedExpectations(*expected, measured, sources, TemplateFor);
    if (absl::GetFlag(FLAGS_spread) > 1) {
      ApplySpreads(spreads, MeasuredOn(), &updated);
      updated.set_throughput_cpu(cpu);
    }
    if (absl::Status s = WriteExpectations(path, updated, kHeader); !s.ok()) {
      std::cerr << "regression: error: " << s.message() << "\n";
      return 1;
    }
    std::cout << "regression: wrote " << updated.check_size() << " expectations to " << path << "\n";
    return 0;
  }
  return Passed(outcomes) && errors.empty() ? 0 : 1;
}

}  // namespace
}  // namespace moco

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Runs the smoke tier of the reproduction harness and a short throughput run, and compares them with\n"
      "configs/regression/smoke.pbtxt: exits 1 on a regression beyond tolerance.\n"
      "Usage: regression [--update] [--skip_accuracy] [--skip_throughput] [--spread=N] [--threads=N] [--steps=N]");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::cerr << "regression: error: unexpected argument '" << rest[1] << "'\n";
    return 1;
  }
  return moco::Main(argv[0]);
}
