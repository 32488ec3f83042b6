#include "benchmarks/regression.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "benchmarks/figures.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace moco {
namespace {

using bench::RegressionCheck;
using bench::RegressionExpectations;
using nlohmann::json;

RegressionExpectations Parse(const std::string& text) {
  RegressionExpectations e;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &e)) << text;
  return e;
}

// What the committed file looks like: one accuracy per smoke run, throughput ratios.
const char kExpectations[] = R"pb(
  check { key: "smoke/moco_queue-256-s0/knn_top1" value: 40.0 tolerance: 2.0 better: HIGHER }
  check { key: "smoke/memory_bank-256-s0/knn_top1" value: 36.0 tolerance: 2.0 better: HIGHER }
  check { key: "throughput/moco_over_supervised_step_time" value: 1.35 relative_tolerance: 0.2 better: LOWER }
  check { key: "throughput/moco_data_wait_fraction" value: 0.01 tolerance: 0.04 better: LOWER }
  check { key: "throughput/decode_augment_over_torchvision" value: 30.0 relative_tolerance: 0.3 better: HIGHER }
)pb";

// The outputs of a healthy run, as the throughput binary, the Python reference and the
// micro-benchmark print them.
BenchmarkOutputs HealthyOutputs() {
  BenchmarkOutputs out;
  out.throughput = json::parse(R"({"cases": [
      {"case": "moco/memory/r18", "images_per_second": 300.0},
      {"case": "supervised/memory/r18", "images_per_second": 405.0},
      {"case": "moco/dataset/r18", "images_per_second": 290.0, "data_wait_fraction": 0.012}]})");
  out.python = json::parse(R"([
      {"mode": "memory", "channels_last": true, "images_per_second": 250.0},
      {"mode": "dataloader", "workers": 1, "channels_last": true, "images_per_second": 145.0},
      {"mode": "dataloader", "workers": 2, "channels_last": false, "images_per_second": 125.0},
      {"mode": "augment", "images_per_second": 500.0}])");
  out.micro = json::parse(R"([{"benchmarks": [
      {"name": "BM_DecodeAugmentPair/cifar", "run_type": "iteration", "images/s": 15000.0}]}])");
  return out;
}

// With the streaming and ImageNet figures too.
BenchmarkOutputs WithStreaming(BenchmarkOutputs out) {
  out.throughput["cases"].push_back(
      json::parse(R"({"case": "moco/dataset/r18/stream", "images_per_second": 275.5, "data_wait_fraction": 0.02})"));
  out.python.push_back(json::parse(R"({"mode": "augment", "dataset": "imagenet", "images_per_second": 100.0})"));
  for (const char* entry : {R"({"name": "BM_DecodeAugmentPair/imagenet/fast:0", "run_type": "iteration", "images/s": 450.0})",
                            R"({"name": "BM_DecodeAugmentPair/imagenet/fast:1", "run_type": "iteration", "images/s": 470.0})"}) {
    out.micro[0]["benchmarks"].push_back(json::parse(entry));
  }
  out.stream_memory = json::parse(R"({"runs": [{"files": 1000, "peak_rss_mib": 230.0},
                                               {"files": 10000, "peak_rss_mib": 241.5}]})");
  return out;
}

Measurements WithAccuracy(Measurements m, double moco_knn, double bank_knn) {
  m["smoke/moco_queue-256-s0/knn_top1"] = moco_knn;
  m["smoke/memory_bank-256-s0/knn_top1"] = bank_knn;
  return m;
}

const std::set<std::string> kBoth = {"smoke", "throughput"};

TEST(FiguresTest, RatiosAreComputedFromTheSameRun) {
  const std::vector<Ratio> ratios = TargetRatios(WithStreaming(HealthyOutputs()));
  std::map<std::string, Ratio> by_key;
  for (const Ratio& r : ratios) by_key.emplace(r.key, r);
  // 290 / max(145, 125); 300 / 250; 15000 / 500; 405 / 300; 290 / 300, by hand.
  EXPECT_NEAR(*by_key.at("moco_dataset_over_python_best").value, 2.0, 1e-9);
  EXPECT_NEAR(*by_key.at("moco_memory_over_python_memory").value, 1.2, 1e-9);
  EXPECT_NEAR(*by_key.at("decode_augment_over_torchvision").value, 30.0, 1e-9);
  EXPECT_NEAR(*by_key.at("moco_data_wait_fraction").value, 0.012, 1e-12);
  EXPECT_NEAR(*by_key.at("moco_over_supervised_step_time").value, 1.35, 1e-9);
  EXPECT_NEAR(*by_key.at("moco_dataset_over_memory").value, 290.0 / 300.0, 1e-9);
  // Streaming and ImageNet: each augment ratio divides by the Python run of its own dataset.
  EXPECT_NEAR(*by_key.at("imagenet_decode_augment_per_second").value, 450.0, 1e-9);
  EXPECT_NEAR(*by_key.at("imagenet_decode_augment_over_torchvision").value, 4.5, 1e-9);
  EXPECT_NEAR(*by_key.at("imagenet_fast_decode_augment_over_torchvision").value, 4.7, 1e-9);
  EXPECT_NEAR(*by_key.at("moco_stream_over_in_memory_dataset").value, 0.95, 1e-9);
  EXPECT_NEAR(*by_key.at("moco_stream_data_wait_fraction").value, 0.02, 1e-12);
  EXPECT_NEAR(*by_key.at("stream_rss_10k_over_1k").value, 1.05, 1e-9);
  for (const Ratio& r : ratios) {
    if (r.key.find("bf16") != std::string::npos) {
      EXPECT_FALSE(r.value.has_value()) << r.key << ": no bf16 run here";
      EXPECT_FALSE(r.target && r.Met()) << r.key << ": a target without a figure is not met";
    } else {
      EXPECT_TRUE(r.Met()) << r.key;
    }
  }
}

TEST(FiguresTest, Bf16RatiosCompareBf16WithBf16AndLeaveTheFp32OnesAlone) {
  BenchmarkOutputs out = HealthyOutputs();
  out.throughput["cases"].push_back(json::parse(R"({"case": "moco/memory/r18/bf16", "images_per_second": 510.0})"));
  out.throughput["cases"].push_back(json::parse(R"({"case": "moco/dataset/r18/bf16", "images_per_second": 470.0})"));
  out.python.push_back(json::parse(
      R"({"mode": "memory", "channels_last": true, "precision": "bf16", "images_per_second": 425.0})"));
  out.python.push_back(json::parse(
      R"({"mode": "dataloader", "workers": 2, "channels_last": true, "precision": "bf16", "images_per_second": 240.0})"));
  out.python.push_back(json::parse(
      R"({"mode": "dataloader", "workers": 0, "channels_last": true, "precision": "bf16", "images_per_second": 200.0})"));
  const Measurements m = ThroughputMeasurements(out);
  EXPECT_NEAR(m.at("throughput/moco_bf16_over_fp32_dataset"), 470.0 / 290.0, 1e-12);
  EXPECT_NEAR(m.at("throughput/moco_bf16_dataset_over_python_bf16_best"), 470.0 / 240.0, 1e-12);
  EXPECT_NEAR(m.at("throughput/moco_bf16_memory_over_python_bf16_memory"), 510.0 / 425.0, 1e-12);
  // The faster bf16 Python runs do not count as the fp32 peer.
  EXPECT_NEAR(m.at("throughput/moco_dataset_over_python_best"), 290.0 / 145.0, 1e-12);
  EXPECT_NEAR(m.at("throughput/moco_memory_over_python_memory"), 300.0 / 250.0, 1e-12);
  std::map<std::string, bool> met;
  for (const Ratio& r : TargetRatios(out)) met[r.key] = r.Met();
  EXPECT_TRUE(met.at("moco_bf16_over_fp32_dataset"));                // 1.62 >= 1.6
  EXPECT_FALSE(met.at("moco_bf16_dataset_over_python_bf16_best"));   // 1.96 < 2
}

TEST(FiguresTest, StepsInMemoryCompareByTheirMedianStep) {
  BenchmarkOutputs out = HealthyOutputs();
  out.throughput["cases"][0]["images_per_second_median_step"] = 324.0;  // one slow step pulled the mean to 300
  out.throughput["cases"][1]["images_per_second_median_step"] = 405.0;
  out.python[0]["images_per_second_median_step"] = 270.0;
  const Measurements m = ThroughputMeasurements(out);
  EXPECT_NEAR(m.at("throughput/moco_over_supervised_step_time"), 405.0 / 324.0, 1e-12);
  EXPECT_NEAR(m.at("throughput/moco_memory_over_python_memory"), 324.0 / 270.0, 1e-12);
  EXPECT_NEAR(m.at("throughput/moco_dataset_over_memory"), 290.0 / 300.0, 1e-12);  // means: waiting counts
}

TEST(FiguresTest, RepeatedRunsCountByTheFastest) {
  BenchmarkOutputs out = HealthyOutputs();
  // moco/dataset/r18 ran again, slowed by other work: its slower run (and its data wait) is ignored.
  out.throughput["cases"].push_back(
      json::parse(R"({"case": "moco/dataset/r18", "images_per_second": 100.0, "data_wait_fraction": 0.5})"));
  out.python.push_back(json::parse(R"({"mode": "memory", "channels_last": true, "images_per_second": 240.0})"));
  const Measurements m = ThroughputMeasurements(out);
  EXPECT_NEAR(m.at("throughput/moco_data_wait_fraction"), 0.012, 1e-12);
  EXPECT_NEAR(m.at("throughput/moco_dataset_over_python_best"), 2.0, 1e-12);
  EXPECT_NEAR(m.at("throughput/moco_memory_over_python_memory"), 1.2, 1e-12);
}

TEST(FiguresTest, PerCpuSecondRatios) {
  BenchmarkOutputs out = HealthyOutputs();
  out.throughput["cases"][0]["images_per_cpu_second"] = 120.0;
  out.throughput["cases"][1]["images_per_cpu_second"] = 168.0;
  out.python[0]["images_per_cpu_second"] = 100.0;
  const Measurements m = ThroughputMeasurements(out);
  EXPECT_NEAR(m.at("throughput/moco_over_supervised_cpu_time"), 1.4, 1e-12);
  EXPECT_NEAR(m.at("throughput/moco_memory_over_python_memory_cpu"), 1.2, 1e-12);
  EXPECT_EQ(ThroughputMeasurements(HealthyOutputs()).count("throughput/moco_over_supervised_cpu_time"), 0u);
}

TEST(FiguresTest, MissingFiguresGiveNoRatio) {
  BenchmarkOutputs out = HealthyOutputs();
  out.python = json::array();
  const Measurements m = ThroughputMeasurements(out);
  EXPECT_EQ(m.count("throughput/moco_dataset_over_python_best"), 0u);
  EXPECT_EQ(m.count("throughput/decode_augment_over_torchvision"), 0u);
  EXPECT_EQ(m.count("throughput/moco_over_supervised_step_time"), 1u);
}

TEST(RegressionTest, WithinToleranceValuesPass) {
  Measurements m = WithAccuracy(ThroughputMeasurements(HealthyOutputs()), 38.5, 37.9);  // -1.5 and +1.9 points
  const std::vector<CheckOutcome> outcomes = Compare(Parse(kExpectations), m, kBoth);
  ASSERT_EQ(outcomes.size(), 8u);  // 5 checks + 3 ratios without an expectation (new)
  EXPECT_TRUE(Passed(outcomes)) << RenderTable(outcomes);
  for (const CheckOutcome& o : outcomes) {
    EXPECT_TRUE(o.verdict == CheckVerdict::kPass || o.verdict == CheckVerdict::kNew) << o.key;
  }
}

TEST(RegressionTest, TheTableKeepsItsColumns) {
  // What RenderTable printed before it was written with MarkdownTable::RenderText, byte for byte.
  Measurements m = WithAccuracy(ThroughputMeasurements(HealthyOutputs()), 37.5, 36.0);
  EXPECT_EQ(RenderTable(Compare(Parse(kExpectations), m, kBoth)),
      "figure                                        expected    measured       delta   tolerance  better   verdict\n"
      "smoke/moco_queue-256-s0/knn_top1                40.000      37.500      -2.500       2.000  higher   REGRESSED\n"
      "smoke/memory_bank-256-s0/knn_top1               36.000      36.000      +0.000       2.000  higher   pass\n"
      "throughput/moco_over_supervised_step_time        1.350       1.350      +0.000       0.270  lower    pass\n"
      "throughput/moco_data_wait_fraction               0.010       0.012      +0.002       0.040  lower    pass\n"
      "throughput/decode_augment_over_torchvision      30.000      30.000      +0.000       9.000  higher   pass\n"
      "throughput/moco_dataset_over_memory                  -       0.967           -           -  -        new\n"
      "throughput/moco_dataset_over_python_best             -       2.000           -           -  -        new\n"
      "throughput/moco_memory_over_python_memory            -       1.200           -           -  -        new\n"
      "4 passed, 0 improved, 1 failed, 3 skipped or new: REGRESSION\n");
  // A value wider than its column widens the column for every row, so the columns stay aligned.
  m["throughput/huge"] = 12345678.5;
  const std::string text = RenderTable(Compare(Parse(kExpectations), m, kBoth));
  EXPECT_NE(text.find("\nthroughput/huge                                      -  12345678.500           -  "),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\nthroughput/moco_dataset_over_memory                  -         0.967           -  "),
            std::string::npos)
      << text;
}

TEST(RegressionTest, AnAccuracyDropFails) {
  // 40.0 expected with a 2-point tolerance: 37.5 is a regression.
  Measurements m = WithAccuracy(ThroughputMeasurements(HealthyOutputs()), 37.5, 36.0);
  const std::vector<CheckOutcome> outcomes = Compare(Parse(kExpectations), m, kBoth);
  EXPECT_FALSE(Passed(outcomes));
  EXPECT_EQ(outcomes[0].verdict, CheckVerdict::kRegressed);
  EXPECT_NEAR(outcomes[0].delta, -2.5, 1e-12);
  EXPECT_EQ(outcomes[1].verdict, CheckVerdict::kPass);
  EXPECT_NE(RenderTable(outcomes).find("REGRESSED"), std::string::npos);
}

TEST(RegressionTest, ASleepInTheAugmentationFails) {
  // A sleep in the augmentation: decoding + views run at a third of their speed, and the end-to-end
  // step now waits for its batches; the steps with tensors in memory are untouched.
  BenchmarkOutputs slow = HealthyOutputs();
  slow.micro[0]["benchmarks"][0]["images/s"] = 5000.0;
  slow.throughput["cases"][2]["data_wait_fraction"] = 0.30;
  slow.throughput["cases"][2]["images_per_second"] = 200.0;
  const std::vector<CheckOutcome> outcomes =
      Compare(Parse(kExpectations), WithAccuracy(ThroughputMeasurements(slow), 40.0, 36.0), kBoth);
  EXPECT_FALSE(Passed(outcomes)) << RenderTable(outcomes);
  std::map<std::string, CheckVerdict> verdicts;
  for (const CheckOutcome& o : outcomes) verdicts[o.key] = o.verdict;
  EXPECT_EQ(verdicts["throughput/decode_augment_over_torchvision"], CheckVerdict::kRegressed);  // 10 vs 30 +- 9
  EXPECT_EQ(verdicts["throughput/moco_data_wait_fraction"], CheckVerdict::kRegressed);          // 0.3 vs 0.01 + 0.04
  EXPECT_EQ(verdicts["throughput/moco_over_supervised_step_time"], CheckVerdict::kPass);
}

TEST(RegressionTest, ASlowerMocoStepFails) {
  // MoCo's step 30% slower while the supervised step is not: 1.35 -> 1.755 > 1.35 * 1.2.
  BenchmarkOutputs slow = HealthyOutputs();
  slow.throughput["cases"][0]["images_per_second"] = 300.0 / 1.3;
  const std::vector<CheckOutcome> outcomes =
      Compare(Parse(kExpectations), WithAccuracy(ThroughputMeasurements(slow), 40.0, 36.0), kBoth);
  EXPECT_FALSE(Passed(outcomes));
  EXPECT_EQ(outcomes[2].key, "throughput/moco_over_supervised_step_time");
  EXPECT_EQ(outcomes[2].verdict, CheckVerdict::kRegressed);
  EXPECT_NEAR(outcomes[2].allowed, 0.27, 1e-12);
}

TEST(RegressionTest, EdgesAndDirections) {
  RegressionCheck higher = Parse(R"pb(check { key: "a/b" value: 10 tolerance: 1 better: HIGHER })pb").check(0);
  EXPECT_EQ(Judge(higher, 9.0).verdict, CheckVerdict::kPass);  // exactly at the edge
  EXPECT_EQ(Judge(higher, 8.99).verdict, CheckVerdict::kRegressed);
  EXPECT_EQ(Judge(higher, 11.5).verdict, CheckVerdict::kImproved);
  RegressionCheck lower = Parse(R"pb(check { key: "a/b" value: 10 relative_tolerance: 0.1 better: LOWER })pb").check(0);
  EXPECT_EQ(Judge(lower, 11.0).verdict, CheckVerdict::kPass);
  EXPECT_EQ(Judge(lower, 11.2).verdict, CheckVerdict::kRegressed);
  EXPECT_EQ(Judge(lower, 8.0).verdict, CheckVerdict::kImproved);
  RegressionCheck neither = Parse(R"pb(check { key: "a/b" value: 10 tolerance: 1 better: NEITHER })pb").check(0);
  EXPECT_EQ(Judge(neither, 11.5).verdict, CheckVerdict::kRegressed);
  EXPECT_EQ(Judge(neither, 8.5).verdict, CheckVerdict::kRegressed);
  // The larger of the two tolerances applies.
  RegressionCheck both = Parse(R"pb(check { key: "a/b" value: 10 tolerance: 0.5 relative_tolerance: 0.2 })pb").check(0);
  EXPECT_DOUBLE_EQ(AllowedDeviation(both), 2.0);
  EXPECT_EQ(Judge(higher, std::nullopt).verdict, CheckVerdict::kMissing);
  EXPECT_EQ(Judge(higher, std::nan("")).verdict, CheckVerdict::kMissing);
}

TEST(RegressionTest, MissingFiguresFailAndUnrunSourcesAreSkipped) {
  const RegressionExpectations expected = Parse(kExpectations);
  // The smoke tier ran but one run produced no kNN figure: that is a failure.
  Measurements m = ThroughputMeasurements(HealthyOutputs());
  m["smoke/moco_queue-256-s0/knn_top1"] = 40.0;
  std::vector<CheckOutcome> outcomes = Compare(expected, m, kBoth);
  EXPECT_FALSE(Passed(outcomes));
  EXPECT_EQ(outcomes[1].verdict, CheckVerdict::kMissing);
  // Only the throughput part ran (--skip_accuracy): the accuracy checks are skipped.
  outcomes = Compare(expected, ThroughputMeasurements(HealthyOutputs()), {"throughput"});
  EXPECT_TRUE(Passed(outcomes)) << RenderTable(outcomes);
  EXPECT_EQ(outcomes[0].verdict, CheckVerdict::kSkipped);
}

TEST(RegressionTest, UpdateTakesMeasuredValuesAndKeepsTolerances) {
  const RegressionExpectations expected = Parse(kExpectations);
  Measurements m = WithAccuracy(ThroughputMeasurements(HealthyOutputs()), 45.0, 35.0);
  m.erase("throughput/moco_data_wait_fraction");  // no longer produced: dropped
  const RegressionExpectations updated =
      UpdatedExpectations(expected, m, {"smoke", "throughput"}, [](const std::string&) {
        RegressionCheck c;
        c.set_relative_tolerance(0.25);
        return c;
      });
  std::map<std::string, RegressionCheck> by_key;
  for (const RegressionCheck& c : updated.check()) by_key[c.key()] = c;
  EXPECT_EQ(by_key.count("throughput/moco_data_wait_fraction"), 0u);
  EXPECT_DOUBLE_EQ(by_key["smoke/moco_queue-256-s0/knn_top1"].value(), 45.0);
  EXPECT_DOUBLE_EQ(by_key["smoke/moco_queue-256-s0/knn_top1"].tolerance(), 2.0);
  EXPECT_DOUBLE_EQ(by_key["throughput/moco_dataset_over_python_best"].value(), 2.0);
  EXPECT_DOUBLE_EQ(by_key["throughput/moco_dataset_over_python_best"].relative_tolerance(), 0.25);
  // The updated file passes against the same measurements.
  EXPECT_TRUE(Passed(Compare(updated, m, kBoth)));
  // Only the throughput part ran: the accuracy checks are kept as they were.
  const RegressionExpectations partial =
      UpdatedExpectations(expected, ThroughputMeasurements(HealthyOutputs()), {"throughput"},
                          [](const std::string&) { return RegressionCheck(); });
  EXPECT_EQ(partial.check(0).key(), "smoke/moco_queue-256-s0/knn_top1");
  EXPECT_DOUBLE_EQ(partial.check(0).value(), 40.0);
  // The file's other fields (the CPU the throughput was measured on) survive an update.
  RegressionExpectations named = expected;
  named.set_throughput_cpu("cpu A (avx2)");
  EXPECT_EQ(UpdatedExpectations(named, m, {"smoke"}, [](const std::string&) { return RegressionCheck(); })
                .throughput_cpu(),
            "cpu A (avx2)");
}

TEST(RegressionTest, FilesRoundTripAndBadFilesNameTheProblem) {
  const std::string dir = testing::TempDir();
  const std::string path = dir + "/expect.pbtxt";
  ASSERT_TRUE(WriteExpectations(path, Parse(kExpectations), "# header line").ok());
  absl::StatusOr<RegressionExpectations> loaded = LoadExpectations(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->check_size(), 5);
  EXPECT_EQ(loaded->check(2).better(), RegressionCheck::LOWER);

  const std::string bad = dir + "/bad.pbtxt";
  std::ofstream(bad) << "check { key: \"smoke/x\" value: 1 }\ncheck { key: \"smoke/x\" value: 2 }\n";
  absl::StatusOr<RegressionExpectations> dup = LoadExpectations(bad);
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.status().message().find("check 2 (smoke/x): duplicate key"), std::string::npos) << dup.status();

  std::ofstream(bad, std::ios::trunc) << "check { key: \"smoke/x\" valu: 1 }\n";
  absl::StatusOr<RegressionExpectations> typo = LoadExpectations(bad);
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("bad.pbtxt:1:"), std::string::npos) << typo.status();

  std::ofstream(bad, std::ios::trunc) << "check { key: \"smoke/x\" value: 1 tolerance: -1 }\n";
  EXPECT_FALSE(LoadExpectations(bad).ok());
  EXPECT_EQ(LoadExpectations(dir + "/nothing.pbtxt").status().code(), absl::StatusCode::kNotFound);
}

TEST(RegressionTest, TolerancesComeFromTheMeasuredSpread) {
  const Spread s = MeasureSpread({10.0, 10.4, 9.8, 9.8});
  EXPECT_EQ(s.runs, 4);
  EXPECT_NEAR(s.mean, 10.0, 1e-12);
  EXPECT_NEAR(s.sd, std::sqrt((0.0 + 0.16 + 0.04 + 0.04) / 3), 1e-12);
  EXPECT_NEAR(s.max_dev, 0.4, 1e-12);
  // 4 sd = 1.13 (11.3%) beats 1.5 x 0.4 (6%): rounded up to 12%.
  EXPECT_NEAR(RelativeToleranceFromSpread(s), 0.12, 1e-12);
  EXPECT_NEAR(RelativeToleranceFromSpread(MeasureSpread({5.0, 5.0})), 0.10, 1e-12);  // the floor

  RegressionExpectations e = Parse(R"pb(
    check { key: "throughput/r" value: 7 relative_tolerance: 0.5 better: HIGHER note: "a ratio" }
    check { key: "throughput/wait" value: 0.01 tolerance: 0.04 better: LOWER }
  )pb");
  ApplySpreads({{"throughput/r", s}, {"throughput/wait", MeasureSpread({0.0, 0.02})}}, "cpu X, 2026-12-03", &e);
  EXPECT_NEAR(e.check(0).value(), 10.0, 1e-12);
  EXPECT_NEAR(e.check(0).relative_tolerance(), 0.12, 1e-12);
  EXPECT_EQ(e.check(0).note(), "a ratio [spread: 4 runs on cpu X, 2026-12-03, sd 2.8%, max deviation 4.0% of the mean]");
  ApplySpreads({{"throughput/r", s}}, "again", &e);  // a second update replaces the bracket
  EXPECT_EQ(e.check(0).note(), "a ratio [spread: 4 runs on again, sd 2.8%, max deviation 4.0% of the mean]");
  EXPECT_NEAR(e.check(1).value(), 0.01, 1e-12);  // an absolute bound stays as it is
  EXPECT_NEAR(e.check(1).tolerance(), 0.04, 1e-12);
}

TEST(RegressionTest, OnAnotherCpuThroughputIsJudgedLoosely) {
  const RegressionExpectations e = Parse(R"pb(
    check { key: "throughput/r" value: 10 relative_tolerance: 0.06 better: HIGHER }
    check { key: "throughput/wait" value: 0.01 tolerance: 0.04 better: LOWER }
    check { key: "smoke/m/loss" value: 5 relative_tolerance: 0.03 better: NEITHER }
    throughput_cpu: "cpu A (avx2)"
  )pb");
  EXPECT_NEAR(ForCpu(e, "cpu A (avx2)").check(0).relative_tolerance(), 0.06, 1e-12);
  const RegressionExpectations other = ForCpu(e, "cpu B (avx512f)");
  EXPECT_NEAR(other.check(0).relative_tolerance(), 0.5, 1e-12);  // the default
  EXPECT_NEAR(other.check(1).tolerance(), 0.04, 1e-12);           // absolute bounds stay
  EXPECT_NEAR(other.check(2).relative_tolerance(), 0.03, 1e-12);  // accuracy checks stay
  EXPECT_EQ(Judge(other.check(0), 8.0).verdict, CheckVerdict::kPass);
  EXPECT_EQ(Judge(e.check(0), 8.0).verdict, CheckVerdict::kRegressed);
}

// The committed expectations catch a planted 25% slowdown of the data path or of the MoCo step:
// at the committed values every ratio passes; with the data path's or the step's time x 1.25
// (per-second ratios / 1.25, time ratios x 1.25) the ratio it moves is REGRESSED.
TEST(RegressionTest, TheCommittedTolerancesCatchAPlanted25PercentSlowdown) {
  absl::StatusOr<RegressionExpectations> committed = LoadExpectations("configs/regression/smoke.pbtxt");
  ASSERT_TRUE(committed.ok()) << committed.status();
  Measurements healthy;
  for (const RegressionCheck& c : committed->check()) {
    if (KeySource(c.key()) == "throughput") healthy[c.key()] = c.value();
  }
  ASSERT_TRUE(Passed(Compare(*committed, healthy, {"throughput"})));
  // Which ratio a 25% slower part moves, and how.
  const std::vector<std::pair<std::string, double>> planted = {
      {"throughput/decode_augment_over_torchvision", 1 / 1.25},     // the data path (ours) 25% slower
      {"throughput/moco_memory_over_python_memory_cpu", 1 / 1.25},  // the whole step (ours) 25% slower
      {"throughput/moco_over_supervised_cpu_time", 1.25},           // MoCo's own part 25% slower
  };
  for (const auto& [key, factor] : planted) {
    ASSERT_TRUE(healthy.count(key)) << key << " is not in the committed expectations";
    Measurements slow = healthy;
    slow[key] *= factor;
    std::map<std::string, CheckVerdict> verdicts;
    for (const CheckOutcome& o : Compare(*committed, slow, {"throughput"})) verdicts[o.key] = o.verdict;
    EXPECT_EQ(verdicts[key], CheckVerdict::kRegressed) << key << " x " << factor << " passes its tolerance";
  }
}

}  // namespace
}  // namespace moco
