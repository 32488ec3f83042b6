// reports/benchmarks.md from the document //benchmarks:report gathers (benchmarks.json): the
// machine it ran on (ProbeMachine), the targets checked, the training throughput, the
// PyTorch-Python reference, the micro-benchmarks and the commands behind them, each table
// through MarkdownTable. No LibTorch, no processes: report_main.cc runs the programs.
//
//   nlohmann::json doc;
//   doc["machine"] = ProbeMachine();
//   doc["throughput"] = ...;  doc["python"] = ...;  doc["micro"] = ...;  doc["commands"] = ...;
//   doc["ratios"] = RatiosJson(OutputsOf(doc));
//   MOCO_RETURN_IF_ERROR(WriteFileAtomic("reports/benchmarks.md", RenderBenchmarksMarkdown(doc)));
//
// The document's fields: quick, threads, batch (numbers the runs used), machine, throughput (the
// throughput binary's JSON, its cases merged), python (one object per reference run), micro
// (Google Benchmark JSON documents), commands (as a reader would type them), failures (a line
// per program that failed), ratios.
#ifndef MOCO_BENCHMARKS_BENCHMARK_REPORT_H_
#define MOCO_BENCHMARKS_BENCHMARK_REPORT_H_

#include <nlohmann/json.hpp>
#include <string>

#include "benchmarks/figures.h"

namespace moco {

// This machine: cpu (model name), isa (avx2 avx512f avx512_bf16 amx_tile, those it has),
// memory_gib, logical_cores, hostname, kernel, load_average_at_start, git_commit, date_utc.
nlohmann::json ProbeMachine();

// The throughput, python and micro parts of the document, as figures.h takes them.
BenchmarkOutputs OutputsOf(const nlohmann::json& doc);

// TargetRatios(outputs) as JSON: key, label, how, higher_is_better, value, target (null when
// absent), met.
nlohmann::json RatiosJson(const BenchmarkOutputs& outputs);

// benchmarks.md. Missing parts show as "-", "not run" or "not measured".
std::string RenderBenchmarksMarkdown(const nlohmann::json& doc);

}  // namespace moco

#endif  // MOCO_BENCHMARKS_BENCHMARK_REPORT_H_
