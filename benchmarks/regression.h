// The CI regression's comparison: measured figures against the expectations committed in
// configs/regression/smoke.pbtxt (benchmarks/regression.proto), each within its tolerance and
// in the direction that counts as worse. No LibTorch here, so its test builds in seconds.
//
//   MOCO_ASSIGN_OR_RETURN(bench::RegressionExpectations expected, LoadExpectations(path));
//   Measurements measured = {{"smoke/moco_queue-256-s0/knn_top1", 41.2},
//                            {"throughput/moco_over_supervised_step_time", 1.38}};
//   std::vector<CheckOutcome> outcomes = Compare(expected, measured, {"smoke", "throughput"});
//   std::cout << RenderTable(outcomes);
//   return Passed(outcomes) ? 0 : 1;
#ifndef MOCO_BENCHMARKS_REGRESSION_H_
#define MOCO_BENCHMARKS_REGRESSION_H_

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "benchmarks/regression.pb.h"

namespace moco {

// Figure key ("<source>/<name>/<metric>") -> measured value.
using Measurements = std::map<std::string, double>;

enum class CheckVerdict {
  kPass,       // within the tolerance
  kImproved,   // beyond the tolerance in the better direction: passes (commit it with --update)
  kRegressed,  // beyond the tolerance in the worse direction (or either way for NEITHER): fails
  kMissing,    // its source ran but did not produce the figure: fails
  kSkipped,    // its source was not run this time: passes
  kNew,        // measured, with no expectation yet: passes (--update adds it)
};
const char* CheckVerdictName(CheckVerdict verdict);

struct CheckOutcome {
  std::string key;
  std::optional<double> expected;  // absent for kNew
  std::optional<double> measured;  // absent for kMissing and kSkipped
  double allowed = 0;              // the tolerance, in the figure's unit
  double delta = 0;                // measured - expected (0 when either is absent)
  bench::RegressionCheck::Better better = bench::RegressionCheck::HIGHER;
  CheckVerdict verdict = CheckVerdict::kPass;
  std::string note;
};

// The part of a key before its first '/': which run produced it ("smoke", "throughput").
std::string KeySource(const std::string& key);

// The allowed deviation of `check`: max(tolerance, relative_tolerance * |value|).
double AllowedDeviation(const bench::RegressionCheck& check);

// One check against its measurement (nullopt: not measured, i.e. kMissing).
CheckOutcome Judge(const bench::RegressionCheck& check, std::optional<double> measured);

// Every expectation in file order, then the measured keys that have none (kNew), by key.
// Checks whose source is not in `sources_run` are kSkipped.
std::vector<CheckOutcome> Compare(const bench::RegressionExpectations& expected, const Measurements& measured,
                                  const std::set<std::string>& sources_run);

// True unless some outcome is kRegressed or kMissing.
bool Passed(const std::vector<CheckOutcome>& outcomes);

// A fixed-width text table (MarkdownTable::RenderText): key, expected, measured, delta,
// tolerance, better, verdict; then a summary line.
std::string RenderTable(const std::vector<CheckOutcome>& outcomes);

// The expectations after an intended change (--update): each check of a source that ran takes its
// measured value (keeping its tolerance, direction and note) or is dropped when its source no
// longer produces it; checks of sources not run stay as they are; new measurements are added as
// `template_for(key)` with the measured value.
bench::RegressionExpectations UpdatedExpectations(
    const bench::RegressionExpectations& old, const Measurements& measured, const std::set<std::string>& sources_run,
    const std::function<bench::RegressionCheck(const std::string& key)>& template_for);

// The spread of one figure over repeated runs of the same build on the same machine.
struct Spread {
  int runs = 0;
  double mean = 0;
  double sd = 0;        // sample standard deviation (0 for one run)
  double max_dev = 0;   // the largest |x - mean|
};
Spread MeasureSpread(const std::vector<double>& values);

// The relative tolerance a ratio gets from its measured spread: the larger of 4 standard
// deviations and 1.5 times the largest deviation seen, over the mean, at least 10%, rounded up to
// the next 1%. The floor: the means of two 5-run invocations on one quiet machine differed by up
// to 3.7% (2026-12-03), more than one invocation's spread says. (A tolerance of 20% or more
// cannot catch a 25% slowdown of a per-second ratio.)
double RelativeToleranceFromSpread(const Spread& spread);

// `expectations` with each check that has a relative tolerance and a spread in `spreads` set to
// the spread's mean and RelativeToleranceFromSpread; `measured_on` (e.g. the CPU and date) goes
// into its note. Checks with an absolute tolerance (bounds such as the data-wait share) keep it.
void ApplySpreads(const std::map<std::string, Spread>& spreads, const std::string& measured_on,
                  bench::RegressionExpectations* expectations);

// The expectations to judge with on `cpu`: as they are when `cpu` is the one their throughput
// values were measured on (or none is named); otherwise each throughput check with a relative
// tolerance gets at least other_cpu_relative_tolerance.
bench::RegressionExpectations ForCpu(const bench::RegressionExpectations& expectations, const std::string& cpu);

// Reads a text-format RegressionExpectations; errors name the file, line and column. Checks with no
// key, a duplicate key, no value, or a negative tolerance are errors naming the check.
absl::StatusOr<bench::RegressionExpectations> LoadExpectations(const std::string& path);

// Writes `expectations` as text format after `header` (comment lines, each starting with "#").
absl::Status WriteExpectations(const std::string& path, const bench::RegressionExpectations& expectations,
                               const std::string& header);

}  // namespace moco

#endif  // MOCO_BENCHMARKS_REGRESSION_H_
