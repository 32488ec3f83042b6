#include "benchmarks/harness/report.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace moco {
namespace {

using testing::HasSubstr;
using testing::ElementsAre;
using testing::Pair;

// A done run of `mechanism` at axis value `value` with the given final numbers.
PlannedRun Done(const std::string& series, const std::string& mechanism, double value, uint64_t seed, double knn,
               double pretext = 50, double loss = 3, bool diverged = false) {
  PlannedRun run;
  run.series_id = series;
  run.series_label = series;
  run.value = value;
  run.plot_value = value;
  run.published = std::numeric_limits<double>::quiet_NaN();
  run.seed = seed;
  run.name = series + "-" + std::to_string(static_cast<int>(value)) + "-s" + std::to_string(seed);
  run.config_hash = "hash-" + run.name;
  run.record_path = "reports/x/runs/" + run.name + ".json";
  if (mechanism == "moco") {
    run.config.mutable_moco()->set_queue_size(4096);
  } else if (mechanism == "memory_bank") {
    run.config.mutable_memory_bank()->set_num_negatives(4096);
  } else {
    run.config.mutable_end_to_end();
    run.config.mutable_optim()->set_batch_size(256);
  }
  run.state = RunState::kDone;
  config::RunRecord record;
  record.set_kind("pretrain");
  auto& m = *record.mutable_metrics();
  if (diverged) {
    m["diverged"] = 1;
  } else {
    m["knn_top1"] = knn;
    m["pretext_top1"] = pretext;
    m["loss"] = loss;
    m["random_init_knn_top1"] = 30;
  }
  record.set_wall_seconds(60);
  record.set_git_commit("abc1234");
  record.set_device("cpu");
  record.set_threads(2);
  run.record = record;
  return run;
}

PlannedRun Missing(PlannedRun run) {
  run.state = RunState::kMissing;
  run.record.reset();
  return run;
}

config::TableConfig TableNamed(const std::string& name) {
  config::TableConfig table;
  table.set_table(name);
  table.set_title("Test table");
  table.set_tier(config::SMOKE);
  table.set_axis_label("K");
  table.set_log_axis(name == "queue_size");
  table.set_published_source("Published: the paper.");
  return table;
}

const Finding& Find(const std::vector<Finding>& findings, const std::string& words) {
  for (const Finding& f : findings) {
    if (f.claim.find(words) != std::string::npos) return f;
  }
  ADD_FAILURE() << "no finding about " << words;
  static Finding none;
  return none;
}

TEST(AggregateTest, MeanAndHalfRangeOverSeeds) {
  std::vector<PlannedRun> runs = {Done("moco", "moco", 256, 0, 40), Done("moco", "moco", 256, 1, 44),
                                  Missing(Done("moco", "moco", 1024, 0, 0))};
  std::vector<Cell> cells = Aggregate(runs, "knn_top1");
  ASSERT_EQ(cells.size(), 2u);
  EXPECT_DOUBLE_EQ(cells[0].mean, 42);
  EXPECT_DOUBLE_EQ(cells[0].spread, 2);
  EXPECT_EQ(cells[0].runs_done, 2);
  EXPECT_EQ(cells[1].runs_done, 0);
  EXPECT_EQ(cells[1].runs_planned, 1);
  EXPECT_NEAR(cells[0].chance_loss, std::log(4097.0), 1e-12);
}

TEST(FindingsTest, MomentumZeroFailsAndBestMomentum) {
  // m = 0 at chance loss, m = 0.99 best.
  std::vector<PlannedRun> runs = {Done("m", "moco", 0, 0, 20, 0.1, 8.3), Done("m", "moco", 0.9, 0, 40),
                                  Done("m", "moco", 0.99, 0, 47), Done("m", "moco", 0.999, 0, 45)};
  auto findings = CheckFindings(TableNamed("momentum"), Aggregate(runs, "knn_top1"));
  EXPECT_EQ(Find(findings, "m = 0 fails").verdict, Verdict::kHolds);
  EXPECT_EQ(Find(findings, "best momentum").verdict, Verdict::kHolds);
  EXPECT_THAT(Find(findings, "best momentum").evidence, HasSubstr("best m = 0.99"));

  // m = 0 trains fine and m = 0.9 is best: both findings fail.
  runs = {Done("m", "moco", 0, 0, 46, 40, 3.0), Done("m", "moco", 0.9, 0, 48), Done("m", "moco", 0.99, 0, 47)};
  findings = CheckFindings(TableNamed("momentum"), Aggregate(runs, "knn_top1"));
  EXPECT_EQ(Find(findings, "m = 0 fails").verdict, Verdict::kDoesNotHold);
  EXPECT_EQ(Find(findings, "best momentum").verdict, Verdict::kDoesNotHold);

  // A diverged run (non-finite loss) is a failure of m = 0.
  runs = {Done("m", "moco", 0, 0, 0, 0, 0, /*diverged=*/true), Done("m", "moco", 0.99, 0, 47)};
  findings = CheckFindings(TableNamed("momentum"), Aggregate(runs, "knn_top1"));
  EXPECT_EQ(Find(findings, "m = 0 fails").verdict, Verdict::kHolds);

  // Not done yet: not tested.
  runs = {Missing(Done("m", "moco", 0, 0, 0)), Done("m", "moco", 0.99, 0, 47)};
  findings = CheckFindings(TableNamed("momentum"), Aggregate(runs, "knn_top1"));
  EXPECT_EQ(Find(findings, "m = 0 fails").verdict, Verdict::kNotTested);
}

TEST(FindingsTest, QueueSizeTrendsWithinTheSeedSpread) {
  std::vector<PlannedRun> runs = {
      Done("moco", "moco", 256, 0, 40),       Done("moco", "moco", 256, 1, 42),        // 41 ± 1
      Done("moco", "moco", 1024, 0, 40.5),    Done("moco", "moco", 1024, 1, 40.5),     // 40.5: within spread
      Done("bank", "memory_bank", 256, 0, 35), Done("bank", "memory_bank", 1024, 0, 37),
      Done("e2e", "end_to_end", 256, 0, 40)};
  runs.back().plot_value = 255;
  auto findings = CheckFindings(TableNamed("queue_size"), Aggregate(runs, "knn_top1"));
  EXPECT_EQ(Find(findings, "does not fall").verdict, Verdict::kHolds);
  EXPECT_EQ(Find(findings, "memory bank").verdict, Verdict::kHolds);
  EXPECT_EQ(Find(findings, "end-to-end").verdict, Verdict::kHolds);

  // MoCo falls by more than the spread, loses to the bank at 1024, end-to-end is 5 points off.
  runs = {Done("moco", "moco", 256, 0, 45), Done("moco", "moco", 1024, 0, 40),
          Done("bank", "memory_bank", 1024, 0, 41), Done("e2e", "end_to_end", 256, 0, 40)};
  runs.back().plot_value = 255;
  findings = CheckFindings(TableNamed("queue_size"), Aggregate(runs, "knn_top1"));
  EXPECT_EQ(Find(findings, "does not fall").verdict, Verdict::kDoesNotHold);
  EXPECT_THAT(Find(findings, "does not fall").evidence, HasSubstr("FALLS"));
  EXPECT_EQ(Find(findings, "memory bank").verdict, Verdict::kDoesNotHold);
  EXPECT_EQ(Find(findings, "end-to-end").verdict, Verdict::kDoesNotHold);
}

TEST(FindingsTest, QueueSizeFindingsPerMoCoSeries) {
  // Two MoCo series (two momenta): m = 0.99 falls as K grows, m = 0.999 does not; each is
  // checked on its own, and the claims name their series.
  std::vector<PlannedRun> runs = {Done("moco", "moco", 256, 0, 45),      Done("moco", "moco", 1024, 0, 40),
                                  Done("moco_m", "moco", 256, 0, 40),    Done("moco_m", "moco", 1024, 0, 44),
                                  Done("bank", "memory_bank", 256, 0, 42), Done("bank", "memory_bank", 1024, 0, 39)};
  runs[2].series_label = runs[3].series_label = "MoCo, m = 0.999";
  auto findings = CheckFindings(TableNamed("queue_size"), Aggregate(runs, "knn_top1"));
  ASSERT_EQ(findings.size(), 6u);
  EXPECT_EQ(Find(findings, "moco: MoCo accuracy does not fall").verdict, Verdict::kDoesNotHold);
  EXPECT_EQ(Find(findings, "MoCo, m = 0.999: MoCo accuracy does not fall").verdict, Verdict::kHolds);
  EXPECT_THAT(Find(findings, "MoCo, m = 0.999: MoCo accuracy does not fall").evidence, HasSubstr("40.00 -> 44.00"));
  // At K = 256 m = 0.999 is below the bank (40 vs 42), m = 0.99 is not.
  EXPECT_EQ(Find(findings, "moco: MoCo >= memory bank").verdict, Verdict::kHolds);
  EXPECT_EQ(Find(findings, "MoCo, m = 0.999: MoCo >= memory bank").verdict, Verdict::kDoesNotHold);
}

TEST(FindingsTest, Bf16KeepsAccuracyWithinTheFp32SeedsRangeOrOnePoint) {
  config::TableConfig table = TableNamed("precision");
  auto* gap = table.add_gaps();
  gap->set_label("bf16 - fp32");
  gap->set_a("bf16");
  gap->set_b("fp32");
  gap->set_paper_sign(0);
  gap->set_finding("bf16 keeps the accuracy");
  // At 256: fp32 40 / 43 (range 3), bf16 mean 43.5: +2.0, within. At 4096: fp32 50 / 50.4
  // (range 0.4, so 1 point allowed), bf16 mean 48.8: -1.4, outside.
  std::vector<PlannedRun> runs = {Done("fp32", "moco", 256, 0, 40),    Done("fp32", "moco", 256, 1, 43),
                                  Done("bf16", "moco", 256, 0, 43),    Done("bf16", "moco", 256, 1, 44),
                                  Done("fp32", "moco", 4096, 0, 50),   Done("fp32", "moco", 4096, 1, 50.4),
                                  Done("bf16", "moco", 4096, 0, 48.6), Done("bf16", "moco", 4096, 1, 49)};
  auto findings = CheckFindings(table, Aggregate(runs, "knn_top1"));
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].verdict, Verdict::kDoesNotHold);
  EXPECT_THAT(findings[0].evidence, HasSubstr("+2.00, allowed +-3.00: within"));
  EXPECT_THAT(findings[0].evidence, HasSubstr("-1.40, allowed +-1.00: outside"));
  runs.resize(4);  // only 256 done: holds
  findings = CheckFindings(table, Aggregate(runs, "knn_top1"));
  EXPECT_EQ(findings[0].verdict, Verdict::kHolds);
  runs[3] = Missing(runs[3]);  // a bf16 seed not run yet: not tested
  findings = CheckFindings(table, Aggregate(runs, "knn_top1"));
  EXPECT_EQ(findings[0].verdict, Verdict::kNotTested);
}

TEST(FindingsTest, LengthGapsMoveTowardThePapersSign) {
  config::TableConfig table = TableNamed("length");
  auto* up = table.add_gaps();  // K 4096 - K 256: the paper has it above zero
  up->set_label("K 4096 - K 256");
  up->set_a("k4096");
  up->set_b("k256");
  up->set_paper_sign(1);
  auto* track = table.add_gaps();  // end-to-end tracks MoCo: the gap should shrink
  track->set_label("e2e - MoCo");
  track->set_a("e2e");
  track->set_b("k256");
  track->set_paper_sign(0);
  auto* down = table.add_gaps();
  down->set_label("no shuffle - shuffle");
  down->set_a("noshuffle");
  down->set_b("k4096");
  down->set_paper_sign(-1);
  // Lengths 4, 16, 64: K 4096 - K 256 goes -10, -5, -2 (toward +, not there yet); e2e - MoCo
  // goes +6, +6.5 (does not shrink; 64 not run); no shuffle - shuffle +1, +2 (away from -).
  std::vector<PlannedRun> runs = {
      Done("k256", "moco", 4, 0, 40),      Done("k256", "moco", 16, 0, 50),      Done("k256", "moco", 64, 0, 55),
      Done("k4096", "moco", 4, 0, 30),     Done("k4096", "moco", 16, 0, 45),     Done("k4096", "moco", 64, 0, 53),
      Done("e2e", "end_to_end", 4, 0, 46), Done("e2e", "end_to_end", 16, 0, 56.5),
      Missing(Done("e2e", "end_to_end", 64, 0, 0)),
      Done("noshuffle", "moco", 4, 0, 31), Done("noshuffle", "moco", 16, 0, 47)};
  auto findings = CheckFindings(table, Aggregate(runs, "knn_top1"));
  ASSERT_EQ(findings.size(), 3u);
  EXPECT_EQ(Find(findings, "K 4096 - K 256").verdict, Verdict::kHolds);
  EXPECT_THAT(Find(findings, "K 4096 - K 256").evidence, HasSubstr("4: -10.00, 16: -5.00, 64: -2.00"));
  EXPECT_THAT(Find(findings, "K 4096 - K 256").evidence, HasSubstr("does not have yet"));
  EXPECT_EQ(Find(findings, "e2e - MoCo").verdict, Verdict::kDoesNotHold);
  EXPECT_EQ(Find(findings, "no shuffle - shuffle").verdict, Verdict::kDoesNotHold);
  // What the gap plot draws: the e2e gap only where both runs are done.
  const std::vector<Cell> cells = Aggregate(runs, "knn_top1");
  EXPECT_THAT(GapByValue(*track, cells), ElementsAre(Pair(4.0, 6.0), Pair(16.0, 6.5)));
  EXPECT_THAT(GapByValue(*up, cells), ElementsAre(Pair(4.0, -10.0), Pair(16.0, -5.0), Pair(64.0, -2.0)));
  // With one length done the gap cannot be followed.
  runs = {Done("k256", "moco", 4, 0, 40), Done("k4096", "moco", 4, 0, 30)};
  findings = CheckFindings(table, Aggregate(runs, "knn_top1"));
  EXPECT_EQ(Find(findings, "K 4096 - K 256").verdict, Verdict::kNotTested);
}

TEST(FindingsTest, ShuffleBn) {
  std::vector<PlannedRun> runs = {Done("s", "moco", 1, 0, 45, 30), Done("s", "moco", 0, 0, 41, 60)};
  auto findings = CheckFindings(TableNamed("shuffle_bn"), Aggregate(runs, "knn_top1"));
  EXPECT_EQ(Find(findings, "pretext accuracy rises").verdict, Verdict::kHolds);
  EXPECT_EQ(Find(findings, "accuracy falls").verdict, Verdict::kHolds);
  runs = {Done("s", "moco", 1, 0, 45, 60), Done("s", "moco", 0, 0, 46, 30)};
  findings = CheckFindings(TableNamed("shuffle_bn"), Aggregate(runs, "knn_top1"));
  EXPECT_EQ(Find(findings, "pretext accuracy rises").verdict, Verdict::kDoesNotHold);
  EXPECT_EQ(Find(findings, "accuracy falls").verdict, Verdict::kDoesNotHold);
}

TEST(RenderTest, OursAndPublishedAreSeparateSections) {
  std::vector<PlannedRun> runs = {Done("moco", "moco", 256, 0, 40), Done("moco", "moco", 256, 1, 44),
                                  Missing(Done("moco", "moco", 1024, 0, 0))};
  runs[0].published = runs[1].published = 54.7;
  runs[2].published = 57.5;
  config::TableConfig table = TableNamed("queue_size");
  table.add_notes("Why a finding fails here: see the README.");
  const auto cells = Aggregate(runs, "knn_top1");
  const std::string md = RenderReport(table, runs, cells, CheckFindings(table, cells), "knn_top1", "plot.png");
  const size_t ours = md.find("## Ours (measured)");
  const size_t published = md.find("## Published (not ours)");
  ASSERT_NE(ours, std::string::npos);
  ASSERT_NE(published, std::string::npos);
  const std::string ours_section = md.substr(ours, published - ours);
  EXPECT_THAT(ours_section, HasSubstr("42.00 ± 2.00"));
  EXPECT_THAT(ours_section, HasSubstr("not run"));
  EXPECT_THAT(ours_section, testing::Not(HasSubstr("54.7")));  // never mixed with ours
  EXPECT_THAT(md.substr(published), HasSubstr("| 54.7 | 57.5 |"));
  EXPECT_THAT(md, HasSubstr("Published: the paper."));
  EXPECT_THAT(md, HasSubstr("![Test table](plot.png)"));
  EXPECT_THAT(md, HasSubstr("| moco-256-s0 | done | 40.0 |"));
  EXPECT_THAT(md, HasSubstr("| moco-1024-s0 | to run |"));
  EXPECT_THAT(md, HasSubstr("2 of 3 runs done"));
  const size_t notes = md.find("Notes on this tier:\n\n- Why a finding fails here: see the README.\n");
  ASSERT_NE(notes, std::string::npos);
  EXPECT_GT(notes, md.find("## The paper's findings")) << "the notes follow the findings";
  EXPECT_LT(notes, md.find("## Runs"));
}

TEST(RenderTest, TheWholeReport) {
  // What RenderReport wrote before its tables went through MarkdownTable, byte for byte, but for
  // the empty cells of a run not done yet: "|  |" now, like every other empty cell ("| |" before).
  std::vector<PlannedRun> runs = {Done("moco", "moco", 256, 0, 40),
                                  Done("moco", "moco", 256, 1, 44),
                                  Missing(Done("moco", "moco", 1024, 0, 0)),
                                  Done("bank", "memory_bank", 256, 0, 35, 20, 4.5),
                                  Done("e2e", "end_to_end", 256, 0, 0, 0, 0, /*diverged=*/true)};
  runs[0].published = runs[1].published = 54.7;
  runs[2].published = 57.5;
  runs[3].series_label = "memory bank";
  config::TableConfig table = TableNamed("queue_size");
  table.add_notes("A note.");
  const auto cells = Aggregate(runs, "knn_top1");
  EXPECT_EQ(RenderReport(table, runs, cells, CheckFindings(table, cells), "knn_top1", "plot.png"),
      "# Test table (SMOKE tier)\n"
      "\n"
      "Generated by `bazel run //benchmarks:reproduce -- --table=queue_size --tier=smoke` from the result records in `runs/` (one JSON record per run: metrics, config and its hash, commit, device, wall time). 4 of 5 runs done, 4.0 min of compute; seeds 0, 1; commits abc1234; cpu x2 threads.\n"
      "\n"
      "**Ours:** `knn_top1` (in %) of each run's final encoder on the test split of ``; mean ± spread (half the range between seeds), over the seeds done. Setting: ResNet-50 width x1, 200 epochs, batch 256, 0 training images per epoch; the full base config is in `configs/tables/smoke/queue_size.pbtxt`.\n"
      "\n"
      "## Ours (measured)\n"
      "\n"
      "| K | 256 | 1024 |\n"
      "| --- | --- | --- |\n"
      "| moco | 42.00 ± 2.00 | not run |\n"
      "| memory bank | 35.00 |  |\n"
      "| e2e | diverged |  |\n"
      "\n"
      "Final-epoch pretext (K+1)-way top-1 and loss, for reference:\n"
      "\n"
      "| K | 256 | 1024 |\n"
      "| --- | --- | --- |\n"
      "| moco | 50.0% / 3.00 |  |\n"
      "| memory bank | 20.0% / 4.50 |  |\n"
      "| e2e | diverged |  |\n"
      "\n"
      "## Published (not ours)\n"
      "\n"
      "Published: the paper.\n"
      "\n"
      "| K | 256 | 1024 |\n"
      "| --- | --- | --- |\n"
      "| moco | 54.7 | 57.5 |\n"
      "| memory bank | – |  |\n"
      "| e2e | – |  |\n"
      "\n"
      "## Plot (ours)\n"
      "\n"
      "![Test table](plot.png)\n"
      "\n"
      "## The paper's findings, checked on our runs\n"
      "\n"
      "- **not tested yet**: MoCo accuracy does not fall as K grows (within the seed spread). fewer than two MoCo queue sizes are done.\n"
      "- **holds**: MoCo >= memory bank at every K (within the seed spread). K 256: MoCo 42.00 vs memory bank 35.00 (+7.00).\n"
      "- **does not hold**: end-to-end tracks MoCo at the K it can reach (within 2 points or the seed spread). K 256: end-to-end nan vs MoCo (K 256) 42.00 (+nan) APART.\n"
      "\n"
      "Notes on this tier:\n"
      "\n"
      "- A note.\n"
      "\n"
      "## Runs\n"
      "\n"
      "| run | state | knn_top1 | pretext top-1 | loss | epochs | wall | img/s | config hash | commit | device | record |\n"
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
      "| moco-256-s0 | done | 40.0 | 50.0 | 3.000 | 0 | 1.0 min | 0 |  | abc1234 | cpu x2 | runs/moco-256-s0.json |\n"
      "| moco-256-s1 | done | 44.0 | 50.0 | 3.000 | 0 | 1.0 min | 0 |  | abc1234 | cpu x2 | runs/moco-256-s1.json |\n"
      "| moco-1024-s0 | to run |  |  |  |  |  |  | hash-moco-1024-s0 |  |  |  |\n"
      "| bank-256-s0 | done | 35.0 | 20.0 | 4.500 | 0 | 1.0 min | 0 |  | abc1234 | cpu x2 | runs/bank-256-s0.json |\n"
      "| e2e-256-s0 | diverged | – | – | nan | 0 | 1.0 min | 0 |  | abc1234 | cpu x2 | runs/e2e-256-s0.json |\n");
}

// A table that tests a finding of ours (the precision table) says so in the heading.
TEST(RenderTest, TheFindingsHeadingIsTheTables) {
  std::vector<PlannedRun> runs = {Done("moco", "moco", 256, 0, 40)};
  config::TableConfig table = TableNamed("queue_size");
  table.set_findings_heading("Our finding (not the paper's), checked on our runs");
  const auto cells = Aggregate(runs, "knn_top1");
  const std::string md = RenderReport(table, runs, cells, CheckFindings(table, cells), "knn_top1", "");
  EXPECT_THAT(md, HasSubstr("\n## Our finding (not the paper's), checked on our runs\n"));
  EXPECT_THAT(md, testing::Not(HasSubstr("The paper's findings")));
}

TEST(PlotTest, NearbyLogAxisValuesShareOneLabel) {
  EXPECT_EQ(LogAxisTicks({255, 256, 1023, 1024, 4096}), (std::vector<double>{4096, 1024, 256}));
  EXPECT_EQ(LogAxisTicks({256, 4096}), (std::vector<double>{4096, 256}));
  EXPECT_EQ(LogAxisTicks({}), std::vector<double>{});
}

TEST(PlotTest, WritesAPng) {
  std::vector<PlannedRun> runs = {Done("moco", "moco", 256, 0, 40), Done("moco", "moco", 1024, 0, 44),
                                  Done("bank", "memory_bank", 256, 0, 35)};
  const std::string png = testing::TempDir() + "/plot.png";
  std::filesystem::remove(png);
  config::TableConfig table = TableNamed("queue_size");
  table.set_title("Accuracy against the key encoder's momentum");  // a quote inside gnuplot's quotes
  const absl::Status status = WritePlot(table, Aggregate(runs, "knn_top1"), "knn_top1", png);
  ASSERT_TRUE(status.ok()) << status;
  std::ifstream in(png, std::ios::binary);
  char magic[8] = {0};
  in.read(magic, 8);
  EXPECT_EQ(std::string(magic + 1, 3), "PNG");
}

TEST(PlotTest, NothingToPlotLeavesNoFiles) {
  const std::string png = testing::TempDir() + "/empty.png";
  const std::vector<PlannedRun> runs = {Missing(Done("moco", "moco", 256, 0, 40))};
  EXPECT_FALSE(WritePlot(TableNamed("queue_size"), Aggregate(runs, "knn_top1"), "knn_top1", png).ok());
  EXPECT_FALSE(std::filesystem::exists(png + ".dat"));
  EXPECT_FALSE(std::filesystem::exists(png + ".gp"));
}

}  // namespace
}  // namespace moco
