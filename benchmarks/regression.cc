#include "benchmarks/regression.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "benchmarks/harness/markdown.h"
#include "configs/config.h"
#include "google/protobuf/text_format.h"
#include "moco/common/files.h"

namespace moco {
namespace {

namespace pb = ::google::protobuf;
using bench::RegressionCheck;
using bench::RegressionExpectations;

const char* BetterName(RegressionCheck::Better better) {
  switch (better) {
    case RegressionCheck::LOWER:
      return "lower";
    case RegressionCheck::NEITHER:
      return "=";
    default:
      return "higher";
  }
}

std::string Number(const std::optional<double>& value) {
  if (!value) return "-";
  const double v = *value;
  if (v != 0 && std::fabs(v) < 0.01) return absl::StrFormat("%.4f", v);
  return absl::StrFormat("%.3f", v);
}

}  // namespace

const char* CheckVerdictName(CheckVerdict verdict) {
  switch (verdict) {
    case CheckVerdict::kPass:
      return "pass";
    case CheckVerdict::kImproved:
      return "improved";
    case CheckVerdict::kRegressed:
      return "REGRESSED";
    case CheckVerdict::kMissing:
      return "MISSING";
    case CheckVerdict::kSkipped:
      return "skipped";
    case CheckVerdict::kNew:
      return "new";
  }
  return "?";
}

std::string KeySource(const std::string& key) { return key.substr(0, key.find('/')); }

double AllowedDeviation(const RegressionCheck& check) {
  return std::max(check.tolerance(), check.relative_tolerance() * std::fabs(check.value()));
}

CheckOutcome Judge(const RegressionCheck& check, std::optional<double> measured) {
  CheckOutcome out;
  out.key = check.key();
  out.expected = check.value();
  out.measured = measured;
  out.allowed = AllowedDeviation(check);
  out.better = check.better() == RegressionCheck::BETTER_UNSPECIFIED ? RegressionCheck::HIGHER : check.better();
  out.note = check.note();
  if (!measured || !std::isfinite(*measured)) {
    out.verdict = CheckVerdict::kMissing;
    return out;
  }
  out.delta = *measured - check.value();
  // A tiny slack so that a value exactly at the edge of its tolerance passes despite rounding.
  const double allowed = out.allowed * (1 + 1e-9) + 1e-12;
  const bool beyond = std::fabs(out.delta) > allowed;
  if (!beyond) {
    out.verdict = CheckVerdict::kPass;
  } else if (out.better == RegressionCheck::NEITHER) {
    out.verdict = CheckVerdict::kRegressed;
  } else {
    const bool better = out.better == RegressionCheck::HIGHER ? out.delta > 0 : out.delta < 0;
    out.verdict = better ? CheckVerdict::kImproved : CheckVerdict::kRegressed;
  }
  return out;
}

std::vector<CheckOutcome> Compare(const RegressionExpectations& expected, const Measurements& measured,
                                  const std::set<std::string>& sources_run) {
  std::vector<CheckOutcome> outcomes;
  std::set<std::string> seen;
  for (const RegressionCheck& check : expected.check()) {
    seen.insert(check.key());
    if (!sources_run.count(KeySource(check.key()))) {
      CheckOutcome skipped = Judge(check, std::nullopt);
      skipped.verdict = CheckVerdict::kSkipped;
      outcomes.push_back(skipped);
      continue;
    }
    const auto it = measured.find(check.key());
    outcomes.push_back(Judge(check, it == measured.end() ? std::nullopt : std::optional<double>(it->second)));
  }
  for (const auto& [key, value] : measured) {
    if (seen.count(key)) continue;
    CheckOutcome fresh;
    fresh.key = key;
    fresh.measured = value;
    fresh.verdict = CheckVerdict::kNew;
    outcomes.push_back(fresh);
  }
  return outcomes;
}

bool Passed(const std::vector<CheckOutcome>& outcomes) {
  return std::none_of(outcomes.begin(), outcomes.end(), [](const CheckOutcome& o) {
    return o.verdict == CheckVerdict::kRegressed || o.verdict == CheckVerdict::kMissing;
  });
}

std::string RenderTable(const std::vector<CheckOutcome>& outcomes) {
  MarkdownTable table({{"figure", Align::kLeft, 6},
                       {"expected", Align::kRight, 10},
                       {"measured", Align::kRight, 10},
                       {"delta", Align::kRight, 10},
                       {"tolerance", Align::kRight, 10},
                       {"better", Align::kLeft, 7},
                       {"verdict", Align::kLeft}});
  int failed = 0, improved = 0, passed = 0, other = 0;
  for (const CheckOutcome& o : outcomes) {
    const bool both = o.expected && o.measured;
    table.AddRow({o.key, Number(o.expected), Number(o.measured), both ? absl::StrFormat("%+.3f", o.delta) : "-",
                  o.expected ? absl::StrFormat("%.3f", o.allowed) : "-", o.expected ? BetterName(o.better) : "-",
                  CheckVerdictName(o.verdict)});
    switch (o.verdict) {
      case CheckVerdict::kRegressed:
      case CheckVerdict::kMissing:
        ++failed;
        break;
      case CheckVerdict::kImproved:
        ++improved;
        break;
      case CheckVerdict::kPass:
        ++passed;
        break;
      default:
        ++other;
    }
  }
  return absl::StrCat(table.RenderText(),
                      absl::StrFormat("%d passed, %d improved, %d failed, %d skipped or new: %s\n", passed, improved,
                                      failed, other, failed == 0 ? "OK" : "REGRESSION"));
}

RegressionExpectations UpdatedExpectations(const RegressionExpectations& old, const Measurements& measured,
                                           const std::set<std::string>& sources_run,
                                           const std::function<RegressionCheck(const std::string& key)>& template_for) {
  RegressionExpectations updated = old;  // keeps the CPU the throughput values were measured on
  updated.clear_check();
  std::set<std::string> seen;
  for (const RegressionCheck& check : old.check()) {
    seen.insert(check.key());
    if (!sources_run.count(KeySource(check.key()))) {
      *updated.add_check() = check;
      continue;
    }
    const auto it = measured.find(check.key());
    if (it == measured.end()) continue;  // no longer produced
    RegressionCheck& kept = *updated.add_check();
    kept = check;
    kept.set_value(it->second);
  }
  for (const auto& [key, value] : measured) {
    if (seen.count(key)) continue;
    RegressionCheck& added = *updated.add_check();
    added = template_for(key);
    added.set_key(key);
    added.set_value(value);
  }
  return updated;
}

Spread MeasureSpread(const std::vector<double>& values) {
  Spread out;
  out.runs = static_cast<int>(values.size());
  if (values.empty()) return out;
  for (double v : values) out.mean += v / values.size();
  double squares = 0;
  for (double v : values) {
    squares += (v - out.mean) * (v - out.mean);
    out.max_dev = std::max(out.max_dev, std::abs(v - out.mean));
  }
  out.sd = values.size() > 1 ? std::sqrt(squares / (values.size() - 1)) : 0;
  return out;
}

double RelativeToleranceFromSpread(const Spread& spread) {
  if (spread.mean == 0) return 0;
  const double raw = std::max({0.10, 4 * spread.sd / std::abs(spread.mean), 1.5 * spread.max_dev / std::abs(spread.mean)});
  return std::ceil(raw * 100 - 1e-9) / 100;
}

void ApplySpreads(const std::map<std::string, Spread>& spreads, const std::string& measured_on,
                  RegressionExpectations* expectations) {
  for (RegressionCheck& check : *expectations->mutable_check()) {
    const auto it = spreads.find(check.key());
    if (it == spreads.end() || check.relative_tolerance() <= 0 || it->second.runs < 2) continue;
    const Spread& s = it->second;
    check.set_value(s.mean);
    check.set_relative_tolerance(RelativeToleranceFromSpread(s));
    std::string note = check.note().substr(0, check.note().find(" [spread:"));
    check.set_note(absl::StrFormat("%s [spread: %d runs on %s, sd %.1f%%, max deviation %.1f%% of the mean]", note,
                                   s.runs, measured_on, 100 * s.sd / std::abs(s.mean),
                                   100 * s.max_dev / std::abs(s.mean)));
  }
}

RegressionExpectations ForCpu(const RegressionExpectations& expectations, const std::string& cpu) {
  RegressionExpectations out = expectations;
  if (!expectations.has_throughput_cpu() || expectations.throughput_cpu() == cpu) return out;
  for (RegressionCheck& check : *out.mutable_check()) {
    if (KeySource(check.key()) == "throughput" && check.relative_tolerance() > 0) {
      check.set_relative_tolerance(std::max(check.relative_tolerance(), expectations.other_cpu_relative_tolerance()));
    }
  }
  return out;
}

absl::StatusOr<RegressionExpectations> LoadExpectations(const std::string& path) {
  RegressionExpectations expectations;
  if (absl::Status s = LoadTextProto(path, &expectations); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("regression expectations: ", s.message()));
  }
  std::set<std::string> keys;
  for (int i = 0; i < expectations.check_size(); ++i) {
    const RegressionCheck& check = expectations.check(i);
    const std::string where = absl::StrCat(path, ": check ", i + 1, check.has_key() ? " (" + check.key() + ")" : "");
    if (check.key().empty() || check.key().find('/') == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": key must be \"<source>/<name>\", got '", check.key(), "'"));
    }
    if (!keys.insert(check.key()).second) return absl::InvalidArgumentError(absl::StrCat(where, ": duplicate key"));
    if (!check.has_value() || !std::isfinite(check.value())) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": value must be set to a finite number"));
    }
    if (check.tolerance() < 0 || check.relative_tolerance() < 0) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": tolerance ", check.tolerance(),
                                                     " and relative_tolerance ", check.relative_tolerance(),
                                                     " must be >= 0"));
    }
  }
  return expectations;
}

absl::Status WriteExpectations(const std::string& path, const RegressionExpectations& expectations,
                               const std::string& header) {
  std::string body;
  pb::TextFormat::Printer printer;
  if (!printer.PrintToString(expectations, &body)) {
    return absl::InternalError(absl::StrCat("cannot encode the expectations for ", path));
  }
  std::string text = header;
  if (!text.empty() && text.back() != '\n') text += "\n";
  return WriteFileAtomic(path, text + body);
}

}  // namespace moco
