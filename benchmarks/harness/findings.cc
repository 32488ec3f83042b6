// The paper's findings, checked on a table's cells: CheckFindings of report.h.
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "benchmarks/harness/report.h"

namespace moco {
namespace {

// Cells that are complete (every planned run done), by mechanism, sorted by value.
std::vector<const Cell*> Complete(const std::vector<Cell>& cells, const std::string& mechanism) {
  std::vector<const Cell*> out;
  for (const Cell& c : cells) {
    if (c.mechanism == mechanism && c.runs_done == c.runs_planned && c.runs_done > 0) out.push_back(&c);
  }
  std::sort(out.begin(), out.end(), [](const Cell* a, const Cell* b) { return a->value < b->value; });
  return out;
}

Finding NotTested(const std::string& claim, const std::string& why) { return {claim, Verdict::kNotTested, why}; }

std::vector<Finding> MomentumFindings(const std::vector<Cell>& cells) {
  std::vector<Finding> out;
  const auto moco = Complete(cells, "moco");
  const Cell* zero = nullptr;
  const Cell* best = nullptr;
  for (const Cell* c : moco) {
    if (c->value == 0) zero = c;
    if (c->diverged < c->runs_done && (best == nullptr || c->mean > best->mean)) best = c;
  }
  const std::string claim0 = "m = 0 fails (training diverges or the accuracy collapses)";
  if (zero == nullptr || best == nullptr) {
    out.push_back(NotTested(claim0, "the m = 0 runs (and at least one other m) are not all done yet"));
  } else {
    const bool diverged = zero->diverged > 0;
    const bool at_chance = zero->loss >= 0.9 * zero->chance_loss;
    const bool below_init = zero->random_init > 0 && zero->mean < zero->random_init;
    const bool collapsed = zero->mean <= best->mean - 5.0;
    const bool fails = diverged || at_chance || below_init || collapsed;
    out.push_back({claim0, fails ? Verdict::kHolds : Verdict::kDoesNotHold,
                   absl::StrFormat("m = 0: accuracy %s, final loss %.2f (chance ln(K+1) = %.2f), %d of %d runs "
                                   "diverged, encoder at initialisation %.2f; best m = %s: %s. Rule: fails if a run "
                                   "diverges, the loss stays >= 90%% of chance, the accuracy falls below the "
                                   "encoder at initialisation, or it is >= 5 points below the best m",
                                   Describe(*zero), zero->loss, zero->chance_loss, zero->diverged, zero->runs_done,
                                   zero->random_init, Value(best->value), Describe(*best))});
  }
  const std::string claim1 = "the best momentum is m >= 0.99";
  if (moco.size() < 2 || best == nullptr) {
    out.push_back(NotTested(claim1, "fewer than two momentum values are done"));
  } else {
    std::vector<std::string> all;
    for (const Cell* c : moco) all.push_back(absl::StrCat("m = ", Value(c->value), ": ", Describe(*c)));
    out.push_back({claim1, best->value >= 0.99 ? Verdict::kHolds : Verdict::kDoesNotHold,
                   absl::StrCat("best m = ", Value(best->value), " (", absl::StrJoin(all, "; "), ")")});
  }
  return out;
}

// The three queue-size findings for one MoCo series (`moco`, sorted by K); `name` prefixes each
// claim where the table has more than one MoCo series (e.g. one per momentum).
void QueueFindingsOf(const std::vector<const Cell*>& moco, const std::vector<const Cell*>& bank,
                     const std::vector<const Cell*>& e2e, const std::string& name, std::vector<Finding>& out) {
  const std::string claim0 = absl::StrCat(name, "MoCo accuracy does not fall as K grows (within the seed spread)");
  if (moco.size() < 2) {
    out.push_back(NotTested(claim0, "fewer than two MoCo queue sizes are done"));
  } else {
    bool holds = true;
    std::vector<std::string> steps;
    for (size_t i = 0; i + 1 < moco.size(); ++i) {
      const Cell& a = *moco[i];
      const Cell& b = *moco[i + 1];
      const double tolerance = a.spread + b.spread;
      const bool ok = b.mean >= a.mean - tolerance;
      holds = holds && ok;
      steps.push_back(absl::StrFormat("K %s -> %s: %.2f -> %.2f (%+.2f, tolerance %.2f)%s", Value(a.value),
                                      Value(b.value), a.mean, b.mean, b.mean - a.mean, tolerance,
                                      ok ? "" : " FALLS"));
    }
    out.push_back({claim0, holds ? Verdict::kHolds : Verdict::kDoesNotHold, absl::StrJoin(steps, "; ")});
  }

  const std::string claim1 = absl::StrCat(name, "MoCo >= memory bank at every K (within the seed spread)");
  std::vector<std::string> pairs;
  bool holds1 = true;
  for (const Cell* m : moco) {
    for (const Cell* b : bank) {
      if (m->value != b->value) continue;
      const bool ok = m->mean >= b->mean - (m->spread + b->spread);
      holds1 = holds1 && ok;
      pairs.push_back(absl::StrFormat("K %s: MoCo %.2f vs memory bank %.2f (%+.2f)%s", Value(m->value), m->mean,
                                      b->mean, m->mean - b->mean, ok ? "" : " BELOW"));
    }
  }
  out.push_back(pairs.empty() ? NotTested(claim1, "no K has both MoCo and memory-bank runs done")
                              : Finding{claim1, holds1 ? Verdict::kHolds : Verdict::kDoesNotHold,
                                        absl::StrJoin(pairs, "; ")});

  const std::string claim2 =
      absl::StrCat(name, "end-to-end tracks MoCo at the K it can reach (within 2 points or the seed spread)");
  std::vector<std::string> tracks;
  bool holds2 = true;
  for (const Cell* e : e2e) {
    const Cell* nearest = nullptr;
    for (const Cell* m : moco) {
      const double ratio = m->plot_value / std::max(1.0, e->plot_value);
      if (ratio > 0.9 && ratio < 1.1) nearest = m;
    }
    if (nearest == nullptr) continue;
    const double tolerance = std::max(2.0, e->spread + nearest->spread);
    const bool ok = std::abs(e->mean - nearest->mean) <= tolerance;
    holds2 = holds2 && ok;
    tracks.push_back(absl::StrFormat("K %s: end-to-end %.2f vs MoCo (K %s) %.2f (%+.2f)%s", Value(e->plot_value),
                                     e->mean, Value(nearest->plot_value), nearest->mean, e->mean - nearest->mean,
                                     ok ? "" : " APART"));
  }
  out.push_back(tracks.empty() ? NotTested(claim2, "no end-to-end run with a matching MoCo K is done")
                               : Finding{claim2, holds2 ? Verdict::kHolds : Verdict::kDoesNotHold,
                                         absl::StrJoin(tracks, "; ")});
}

// Each MoCo series of the table (in table order) is checked on its own against the same
// memory-bank and end-to-end series.
std::vector<Finding> QueueFindings(const std::vector<Cell>& cells) {
  std::vector<std::pair<std::string, std::string>> series;  // (id, label) of each MoCo series
  for (const Cell& c : cells) {
    const std::pair<std::string, std::string> s(c.series_id, c.series_label);
    if (c.mechanism == "moco" && std::find(series.begin(), series.end(), s) == series.end()) series.push_back(s);
  }
  if (series.empty()) series.emplace_back("", "");
  std::vector<Finding> out;
  for (const auto& [id, label] : series) {
    std::vector<const Cell*> moco;
    for (const Cell* c : Complete(cells, "moco")) {
      if (c->series_id == id) moco.push_back(c);
    }
    QueueFindingsOf(moco, Complete(cells, "memory_bank"), Complete(cells, "end_to_end"),
                    series.size() > 1 ? absl::StrCat(label, ": ") : "", out);
  }
  return out;
}

std::vector<Finding> ShuffleFindings(const std::vector<Cell>& cells) {
  std::vector<Finding> out;
  const auto moco = Complete(cells, "moco");
  const Cell* on = nullptr;
  const Cell* off = nullptr;
  for (const Cell* c : moco) (c->value != 0 ? on : off) = c;
  const std::string claim0 = "without shuffle BN the pretext accuracy rises (the positive leaks through BN)";
  const std::string claim1 = "without shuffle BN the kNN/linear accuracy falls";
  if (on == nullptr || off == nullptr) {
    out.push_back(NotTested(claim0, "the runs with and without shuffle BN are not all done yet"));
    out.push_back(NotTested(claim1, "the runs with and without shuffle BN are not all done yet"));
    return out;
  }
  out.push_back({claim0, off->pretext_top1 > on->pretext_top1 ? Verdict::kHolds : Verdict::kDoesNotHold,
                 absl::StrFormat("final-epoch pretext top-1: %.2f%% without vs %.2f%% with shuffle BN",
                                 off->pretext_top1, on->pretext_top1)});
  out.push_back({claim1, off->mean < on->mean ? Verdict::kHolds : Verdict::kDoesNotHold,
                 absl::StrFormat("accuracy %s without vs %s with shuffle BN (%+.2f)", Describe(*off), Describe(*on),
                                 off->mean - on->mean)});
  return out;
}

// The training-length table: each configured gap (series a minus series b, at every length
// both have done) and whether it moves toward the paper's sign as training grows (the rule of
// configs/tables/cpu/length.pbtxt: by at least 1 point from the shortest to the longest length;
// for sign 0, |gap| shrinks by at least 1 point).
std::vector<Finding> LengthFindings(const config::TableConfig& table, const std::vector<Cell>& cells) {
  std::vector<Finding> out;
  for (const config::Gap& gap : table.gaps()) {
    const std::string claim = absl::StrCat(gap.label(), ": the gap moves toward the paper's sign as training grows (",
                                           gap.finding(), ")");
    const std::vector<std::pair<double, double>> gaps = GapByValue(gap, cells);  // (length, a - b)
    if (gaps.size() < 2) {
      out.push_back(NotTested(claim, absl::StrCat(gaps.size(), " of the lengths have both runs done; two are needed")));
      continue;
    }
    std::vector<std::string> steps;
    for (const auto& [length, g] : gaps) steps.push_back(absl::StrFormat("%s: %+.2f", Value(length), g));
    const double first = gaps.front().second, last = gaps.back().second;
    const int sign = gap.paper_sign();
    const bool moves = sign == 0 ? std::abs(last) <= std::abs(first) - 1.0 : sign * (last - first) >= 1.0;
    const bool has_sign = sign == 0 ? std::abs(last) <= 1.0 : sign * last > 0;
    out.push_back({claim, moves ? Verdict::kHolds : Verdict::kDoesNotHold,
                   absl::StrCat("a - b by length: ", absl::StrJoin(steps, ", "), "; the paper's sign is ",
                                sign > 0 ? "a above b" : sign < 0 ? "a below b" : "a tracks b",
                                ", which the longest length ", has_sign ? "has" : "does not have yet")});
  }
  return out;
}

// The precision table: not a finding of the paper but a check of ours, that bf16 autocast keeps
// the accuracy. For each gap (a: a bf16 series, b: its fp32 twin), at every value where both
// are complete: |mean a - mean b| <= max(b's seed range, 1 point) (the rule of
// configs/tables/cpu/precision.pbtxt).
std::vector<Finding> PrecisionFindings(const config::TableConfig& table, const std::vector<Cell>& cells) {
  std::vector<Finding> out;
  auto complete = [&](const std::string& id, double value) -> const Cell* {
    for (const Cell& c : cells) {
      if (c.series_id == id && c.value == value && c.runs_done == c.runs_planned && c.runs_done > 0) return &c;
    }
    return nullptr;
  };
  for (const config::Gap& gap : table.gaps()) {
    const std::string claim = absl::StrCat(gap.label(), ": ", gap.finding());
    std::vector<std::string> steps;
    bool all_within = true;
    for (const Cell& b : cells) {
      if (b.series_id != gap.b()) continue;
      const Cell* a = complete(gap.a(), b.value);
      if (a == nullptr || complete(gap.b(), b.value) == nullptr) continue;
      const double allowed = std::max(2 * b.spread, 1.0);
      const bool within = std::abs(a->mean - b.mean) <= allowed;
      all_within = all_within && within;
      steps.push_back(absl::StrFormat("%s: %s vs %s (%+.2f, allowed +-%.2f: %s)", Value(b.value), Describe(*a),
                                      Describe(b), a->mean - b.mean, allowed, within ? "within" : "outside"));
    }
    if (steps.empty()) {
      out.push_back(NotTested(claim, "no value has both series done"));
      continue;
    }
    out.push_back({claim, all_within ? Verdict::kHolds : Verdict::kDoesNotHold,
                   absl::StrCat("a vs b by value: ", absl::StrJoin(steps, "; "),
                                ". Rule: |a - b| <= max(b's seed range, 1 point) at every value")});
  }
  return out;
}

}  // namespace

std::vector<Finding> CheckFindings(const config::TableConfig& table, const std::vector<Cell>& cells) {
  if (table.table() == "momentum") return MomentumFindings(cells);
  if (table.table() == "queue_size") return QueueFindings(cells);
  if (table.table() == "shuffle_bn") return ShuffleFindings(cells);
  if (table.table() == "length") return LengthFindings(table, cells);
  if (table.table() == "precision") return PrecisionFindings(table, cells);
  return {};
}

}  // namespace moco
