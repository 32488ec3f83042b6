#include "eval/detection/coco_eval.h"

#include <array>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "moco/common/subprocess.h"

namespace moco {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using Json = nlohmann::json;

// COCOeval.stats, in its order.
const char* const kStatNames[12] = {"AP",  "AP50", "AP75",  "APs", "APm", "APl",
                                    "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"};

std::string TempPath(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const fs::path dir = tmp != nullptr ? fs::path(tmp) : fs::temp_directory_path();
  fs::create_directories(dir);
  return (dir / name).string();
}

GroundTruthBox Gt(float x1, float y1, float x2, float y2, int label, bool crowd = false) {
  return {x1, y1, x2, y2, label, crowd};
}

Detection Det(int64_t image_id, int label, float x1, float y1, float x2, float y2, float score) {
  return {image_id, label, x1, y1, x2, y2, score};
}

Metrics Evaluate(const DetectionDataset& data, const std::vector<Detection>& detections) {
  const absl::StatusOr<Metrics> metrics = CocoEvaluate(data, detections);
  EXPECT_TRUE(metrics.ok()) << metrics.status();
  return metrics.ok() ? *metrics : Metrics();
}

// ---- hand-computed cases ----

TEST(CocoEvaluateTest, PerfectDetectionsScoreOneHundred) {
  DetectionDataset data;
  data.class_names = {"a", "b"};
  // Small, medium and large boxes; at most one per image and class, so that AR1 is 100 too.
  data.images.push_back({1, "1.jpg", 640, 480, {Gt(10, 10, 30, 30, 0), Gt(100, 100, 160, 160, 1)}});
  data.images.push_back({2, "2.jpg", 640, 480, {Gt(0, 0, 300, 200, 0), Gt(5, 5, 25, 45, 1)}});
  data.images.push_back({3, "3.jpg", 640, 480, {Gt(50, 50, 80, 90, 0)}});
  std::vector<Detection> dets;
  float score = 0.9f;
  for (const DetectionImage& image : data.images) {
    for (const GroundTruthBox& b : image.boxes) {
      dets.push_back(Det(image.id, b.label, b.x1, b.y1, b.x2, b.y2, score));
      score -= 0.1f;
    }
  }
  const Metrics m = Evaluate(data, dets);
  for (const char* name : kStatNames) EXPECT_DOUBLE_EQ(m.at(name), 100) << name;
}

// One image, one GT box; a false positive outranks the true positive. Precision at the two ranks is
// 0 and 1/2, recall 0 and 1; the monotone envelope is 1/2 at every recall threshold: AP = 50 at every
// IoU threshold. The best detection alone finds nothing: AR1 = 0.
TEST(CocoEvaluateTest, FalsePositiveAboveTruePositive) {
  DetectionDataset data;
  data.class_names = {"a"};
  data.images.push_back({1, "1.jpg", 640, 480, {Gt(100, 100, 150, 150, 0)}});  // 50 x 50: medium
  const std::vector<Detection> dets = {Det(1, 0, 300, 300, 350, 350, 0.9f), Det(1, 0, 100, 100, 150, 150, 0.8f)};
  const Metrics m = Evaluate(data, dets);
  EXPECT_NEAR(m.at("AP"), 50, 1e-9);
  EXPECT_NEAR(m.at("AP50"), 50, 1e-9);
  EXPECT_NEAR(m.at("AP75"), 50, 1e-9);
  EXPECT_NEAR(m.at("APm"), 50, 1e-9);
  EXPECT_EQ(m.at("APs"), -1);  // no small or large GT: undefined, as in pycocotools
  EXPECT_EQ(m.at("APl"), -1);
  EXPECT_EQ(m.at("AR1"), 0);
  EXPECT_EQ(m.at("AR10"), 100);
  EXPECT_EQ(m.at("AR100"), 100);
}

// Two GT boxes; detections TP (0.9), FP (0.8), TP (0.7): recall .5 .5 1, precision 1 .5 2/3, envelope
// 1 2/3 2/3. Recall thresholds 0, .01, ..., .50 (51 of them) read precision 1, the other 50 read 2/3:
// AP = (51 + 50 * 2/3) / 101 = 253 / 303.
TEST(CocoEvaluateTest, InterpolatedPrecisionByHand) {
  DetectionDataset data;
  data.class_names = {"a"};
  data.images.push_back({1, "1.jpg", 640, 480, {Gt(0, 0, 100, 100, 0), Gt(200, 200, 300, 300, 0)}});
  const std::vector<Detection> dets = {Det(1, 0, 200, 200, 300, 300, 0.7f), Det(1, 0, 0, 0, 100, 100, 0.9f),
                                       Det(1, 0, 400, 400, 500, 500, 0.8f)};
  const Metrics m = Evaluate(data, dets);
  EXPECT_NEAR(m.at("AP"), 100.0 * 253 / 303, 1e-9);
  EXPECT_NEAR(m.at("AP50"), 100.0 * 253 / 303, 1e-9);
  EXPECT_NEAR(m.at("APl"), 100.0 * 253 / 303, 1e-9);
  EXPECT_EQ(m.at("AR1"), 50);  // one detection per image: the first TP
  EXPECT_EQ(m.at("AR100"), 100);
}

// A detection on a crowd region is neither a hit nor a miss; one 50% off a box of class b misses it at
// IoU >= .55 only; class c has no GT and is left out of the mean.
TEST(CocoEvaluateTest, CrowdIgnoredAndClassWithoutGtLeftOut) {
  DetectionDataset data;
  data.class_names = {"a", "b", "c"};
  data.images.push_back(
      {4, "4.jpg", 640, 480, {Gt(0, 0, 400, 400, 0, /*crowd=*/true), Gt(500, 0, 600, 100, 0), Gt(0, 0, 100, 100, 1)}});
  const std::vector<Detection> dets = {Det(4, 0, 10, 10, 60, 60, 0.99f),   // inside the crowd region: ignored
                                       Det(4, 0, 500, 0, 600, 100, 0.5f),  // TP
                                       Det(4, 1, 0, 0, 100, 200, 0.5f),    // IoU exactly 0.5 with the class-b box
                                       Det(4, 2, 0, 0, 100, 100, 0.9f)};   // class c: no GT anywhere
  const Metrics m = Evaluate(data, dets);
  // a: 100 at all thresholds; b: 100 at IoU .5, 0 at the other nine.
  EXPECT_NEAR(m.at("AP"), (100 + 10) / 2.0, 1e-9);
  EXPECT_NEAR(m.at("AP50"), 100, 1e-9);
  EXPECT_NEAR(m.at("AP75"), 50, 1e-9);
}

TEST(CocoEvaluateTest, NoDetectionsScoreZero) {
  DetectionDataset data;
  data.class_names = {"a"};
  data.images.push_back({1, "1.jpg", 640, 480, {Gt(0, 0, 100, 100, 0)}});
  const Metrics m = Evaluate(data, {});
  EXPECT_EQ(m.at("AP"), 0);
  EXPECT_EQ(m.at("AR100"), 0);
  EXPECT_EQ(m.at("APs"), -1);
}

TEST(CocoEvaluateTest, RejectsBadInput) {
  DetectionDataset data;
  data.class_names = {"a", "b"};
  data.images.push_back({1, "1.jpg", 640, 480, {Gt(0, 0, 100, 100, 0)}});
  auto error = [&](const std::vector<Detection>& dets) {
    const absl::StatusOr<Metrics> m = CocoEvaluate(data, dets);
    return m.ok() ? std::string("ok") : std::string(m.status().message());
  };
  EXPECT_THAT(error({Det(1, 0, 0, 0, 1, 1, 1), Det(2, 0, 0, 0, 1, 1, 1)}),
              HasSubstr("detection 1: image_id 2 is not an image of the dataset"));
  EXPECT_THAT(error({Det(1, 2, 0, 0, 1, 1, 1)}), HasSubstr("detection 0 (image 1): label 2 is not in [0, 2)"));
  EXPECT_THAT(error({Det(1, 0, 0, 0, 1, 1, std::numeric_limits<float>::quiet_NaN())}), HasSubstr("non-finite"));
  data.images[0].boxes[0].crowd = true;
  EXPECT_THAT(error({}), HasSubstr("no ground-truth box that counts"));
  data.images[0].boxes.clear();
  EXPECT_THAT(error({}), HasSubstr("AP is undefined"));
  data.images.push_back(data.images[0]);
  EXPECT_THAT(error({}), HasSubstr("image id 1 repeats"));
}

TEST(CocoEvaluatorTest, AccumulatesBatchesAndResets) {
  DetectionDataset data;
  data.class_names = {"a"};
  data.images.push_back({1, "1.jpg", 640, 480, {Gt(100, 100, 150, 150, 0)}});
  CocoEvaluator eval(&data);
  eval.Reset();
  ASSERT_TRUE(eval.Process({{Det(1, 0, 300, 300, 350, 350, 0.9f)}}).ok());
  ASSERT_TRUE(eval.Process({{Det(1, 0, 100, 100, 150, 150, 0.8f)}}).ok());
  EXPECT_EQ(eval.num_detections(), 2u);
  absl::StatusOr<Metrics> m = eval.Evaluate();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_NEAR(m->at("AP"), 50, 1e-9);  // as FalsePositiveAboveTruePositive

  eval.Reset();
  EXPECT_EQ(eval.num_detections(), 0u);
  ASSERT_TRUE(eval.Process({{Det(1, 0, 100, 100, 150, 150, 0.8f)}}).ok());
  m = eval.Evaluate();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_NEAR(m->at("AP"), 100, 1e-9);

  EXPECT_THAT(std::string(eval.Process({{Det(9, 0, 0, 0, 1, 1, 1)}}).message()),
              HasSubstr("batch detection 0: image_id 9 is not an image of the dataset"));
  EXPECT_THAT(std::string(eval.Process({{Det(1, 0, 0, 0, 1, 1, 1), Det(1, 1, 0, 0, 1, 1, 1)}}).message()),
              HasSubstr("batch detection 1 (image 1): label 1 is not in [0, 1)"));
  EXPECT_EQ(eval.num_detections(), 1u);  // rejected batches add nothing
}

// ---- against pycocotools ----

struct Case {
  std::string name;
  DetectionDataset data;
  std::vector<Detection> detections;
};

std::string ScriptPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const std::string in_runfiles =
      absl::StrCat(srcdir != nullptr ? srcdir : ".", "/moco_cpp/eval/detection/coco_eval_reference.py");
  return fs::exists(in_runfiles) ? in_runfiles : "eval/detection/coco_eval_reference.py";
}

// pycocotools' COCOeval.stats for each case (fractions, -1 where undefined).
std::vector<std::vector<double>> PycocotoolsStats(const std::vector<Case>& cases) {
  const absl::StatusOr<std::string> python = PythonInterpreter();
  EXPECT_TRUE(python.ok()) << python.status();
  if (!python.ok()) return {};
  const std::string out = TempPath("pycocotools_stats.json");
  std::vector<std::string> argv = {*python, ScriptPath(), out};
  for (const Case& c : cases) {
    const std::string gt = TempPath(c.name + "_gt.json"), dt = TempPath(c.name + "_dt.json");
    const absl::Status written = WriteCocoJson(c.data, gt);
    EXPECT_TRUE(written.ok()) << written;
    const absl::Status results = WriteCocoDetections(c.data, c.detections, dt);
    EXPECT_TRUE(results.ok()) << results;
    argv.push_back(gt);
    argv.push_back(dt);
  }
  ProcessOptions options;
  options.capture_stderr = true;
  const absl::StatusOr<ProcessResult> run = RunProcess(argv, options);
  EXPECT_TRUE(run.ok() && run->exit_code == 0) << (run.ok() ? run->stdout_text : run.status().ToString());
  if (!run.ok() || run->exit_code != 0) return {};
  std::ifstream in(out);
  const Json stats = Json::parse(in)["stats"];
  std::vector<std::vector<double>> result;
  for (const Json& s : stats) result.push_back(s.get<std::vector<double>>());
  return result;
}

// Every edge case the brief lists, in one dataset. Classes: cat, dog, bird (GT, no detections),
// fish (detections, no GT), eel (nothing).
Case EdgeCases() {
  Case c;
  c.name = "edge";
  c.data.class_names = {"cat", "dog", "bird", "fish", "eel"};
  enum { kCat, kDog, kBird, kFish };
  std::vector<DetectionImage>& images = c.data.images;
  images.push_back({1,
                    "1.jpg",
                    640,
                    480,
                    {Gt(10, 10, 30, 30, kCat),      // 20 x 20: small
                     Gt(100, 100, 150, 150, kCat),  // 50 x 50: medium
                     Gt(300, 200, 500, 350, kCat),  // 200 x 150: large
                     Gt(50, 300, 82, 332, kDog),    // 32 x 32 = 1024: small and medium
                     Gt(0, 400, 640, 480, kCat, /*crowd=*/true)}});
  images.push_back({2, "2.jpg", 640, 480, {}});  // no GT, only false positives
  images.push_back({3, "3.jpg", 640, 480, {Gt(20, 20, 120, 120, kDog), Gt(0, 0, 40, 40, kBird)}});  // no detections
  images.push_back({4, "4.jpg", 320, 240, {}});
  // Listed before ids 5 and 6: images are visited by id, which decides ties across images.
  images.push_back({7, "7.jpg", 320, 240, {Gt(0, 0, 96, 96, kCat), Gt(100.5f, 10.25f, 140.75f, 60, kDog)}});
  images.push_back(
      {5, "5.jpg", 640, 480, {Gt(0, 0, 200, 200, kDog, /*crowd=*/true), Gt(300, 300, 340, 340, kDog)}});  // crowd first
  images.push_back({6, "6.jpg", 640, 480, {}});  // neither GT nor detections
  images.push_back({8, "8.jpg", 640, 480, {Gt(10, 10, 20, 20, kCat), Gt(12, 12, 22, 22, kCat)}});

  std::vector<Detection>& d = c.detections;
  d.push_back(Det(1, kCat, 10, 10, 30, 30, 0.9f));       // exact on the small cat
  d.push_back(Det(1, kCat, 105, 105, 155, 155, 0.8f));   // IoU 0.68 with the medium cat...
  d.push_back(Det(1, kCat, 100, 100, 150, 150, 0.8f));   // ...and an exact duplicate with the same score
  d.push_back(Det(1, kCat, 300, 200, 450, 350, 0.7f));   // IoU exactly 0.75 with the large cat
  d.push_back(Det(1, kCat, 100, 410, 140, 450, 0.95f));  // inside the crowd region
  d.push_back(Det(1, kCat, 600, 10, 630, 40, 0.6f));     // FP, small
  d.push_back(Det(1, kCat, 250, 100, 350, 200, 0.6f));   // FP, large, tied with the small FP
  d.push_back(Det(1, kDog, 50, 300, 82, 364, 0.5f));     // IoU exactly 0.5 with the 1024 px dog
  d.push_back(Det(1, kDog, 400, 50, 480, 130, 0.5f));    // FP, medium, same score
  d.push_back(Det(2, kCat, 0, 0, 50, 50, 0.9f));         // FPs on an image without GT
  d.push_back(Det(2, kCat, 10, 10, 20, 20, 0.3f));
  d.push_back(Det(2, kDog, 5, 5, 100, 100, 0.8f));
  d.push_back(Det(4, kFish, 0, 0, 10, 10, 0.99f));                // a class with no GT
  d.push_back(Det(4, kCat, 0, 0, 10, 10, 0.9f));                  // ties with image 1's and 2's 0.9
  d.push_back(Det(7, kCat, 0, 0, 96, 96, 0.9f));                  // 96 x 96 = 9216: medium and large
  d.push_back(Det(7, kCat, 0, 0, 96, 96, 0.9f));                  // its exact duplicate
  d.push_back(Det(7, kDog, 100.5f, 10.25f, 130.75f, 60, 0.65f));  // IoU 30.25 / 40.25, fractional corners
  d.push_back(Det(5, kDog, 10, 10, 60, 60, 0.7f));                // inside the crowd box: ignored
  d.push_back(Det(5, kDog, 150, 150, 250, 250, 0.7f));            // crowd IoU 0.25: FP
  d.push_back(Det(5, kDog, 300, 300, 340, 340, 0.6f));            // TP on the non-crowd dog
  d.push_back(Det(5, kDog, 0, 0, 200, 200, 0.55f));               // exactly the crowd box (large area)
  d.push_back(Det(8, kCat, 11, 11, 21, 21, 0.8f));                // equal IoU with both overlapping cats
  d.push_back(Det(8, kCat, 11, 11, 21, 21, 0.8f));
  d.push_back(Det(8, kCat, 15, 15, 10, 25, 0.2f));  // degenerate (x2 < x1)
  return c;
}

// One image with 130 detections of one class (the 100-per-image cut) and the TPs ranked low.
Case ManyDetections() {
  Case c;
  c.name = "many";
  c.data.class_names = {"a", "b"};
  c.data.images.push_back({1, "1.jpg", 640, 480, {Gt(0, 0, 64, 64, 0), Gt(300, 300, 340, 340, 0)}});
  c.data.images.push_back({2, "2.jpg", 640, 480, {Gt(0, 0, 64, 64, 1)}});
  for (int i = 0; i < 130; ++i) {
    c.detections.push_back(Det(1, 0, 100 + i, 100, 140 + i, 140, 0.2f + 0.005f * (i % 7)));
  }
  c.detections.push_back(Det(1, 0, 0, 0, 64, 64, 0.21f));       // rank ~70: kept
  c.detections.push_back(Det(1, 0, 300, 300, 340, 340, 0.1f));  // rank 132: cut
  c.detections.push_back(Det(2, 1, 0, 0, 64, 64, 0.1f));
  return c;
}

// Random scenes: jittered copies of GT boxes, wrong-class and background false positives, crowd boxes,
// scores on a 0.05 grid (many ties), coordinates on a 0.25 px grid (exact in float and double).
Case RandomCase(int seed) {
  std::mt19937 rng(seed);
  auto uniform = [&](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
  auto quarter = [](double v) { return static_cast<float>(std::round(v * 4) / 4); };
  auto chance = [&](double p) { return uniform(0, 1) < p; };
  auto score = [&]() { return static_cast<float>(std::uniform_int_distribution<int>(1, 20)(rng)) * 0.05f; };
  Case c;
  c.name = absl::StrCat("random", seed);
  c.data.class_names = {"a", "b", "c", "d"};  // d never has GT
  const int num_images = 40;
  for (int i = 0; i < num_images; ++i) {
    DetectionImage image;
    image.id = (i * 37) % num_images * 3 + 2;  // shuffled, not contiguous
    image.path = absl::StrCat(image.id, ".jpg");
    image.width = std::uniform_int_distribution<int>(200, 640)(rng);
    image.height = std::uniform_int_distribution<int>(200, 480)(rng);
    const int num_gt = std::uniform_int_distribution<int>(0, 6)(rng);
    for (int g = 0; g < num_gt; ++g) {
      const double w = std::exp(uniform(std::log(6.0), std::log(190.0)));
      const double h = w * uniform(0.5, 2.0);
      const double x = uniform(0, image.width - w), y = uniform(0, std::max(0.0, image.height - h));
      GroundTruthBox box = Gt(quarter(x), quarter(y), quarter(x + w), quarter(std::min<double>(y + h, image.height)),
                              std::uniform_int_distribution<int>(0, 2)(rng), chance(0.08));
      if (box.x2 <= box.x1 || box.y2 <= box.y1) continue;
      image.boxes.push_back(box);
      for (int copy = 0; copy < 2; ++copy) {
        if (!chance(copy == 0 ? 0.8 : 0.3)) continue;
        const double bw = box.x2 - box.x1, bh = box.y2 - box.y1, s = uniform(0.02, 0.25);
        const int label = chance(0.05) ? 3 : box.label;
        c.detections.push_back(Det(image.id, label, quarter(box.x1 + uniform(-s, s) * bw),
                                   quarter(box.y1 + uniform(-s, s) * bh), quarter(box.x2 + uniform(-s, s) * bw),
                                   quarter(box.y2 + uniform(-s, s) * bh), score()));
      }
    }
    const int num_fp = std::uniform_int_distribution<int>(0, 4)(rng);
    for (int f = 0; f < num_fp; ++f) {
      const double w = std::exp(uniform(std::log(4.0), std::log(200.0))), h = w * uniform(0.5, 2.0);
      const double x = uniform(0, image.width), y = uniform(0, image.height);
      c.detections.push_back(Det(image.id, std::uniform_int_distribution<int>(0, 3)(rng), quarter(x), quarter(y),
                                 quarter(x + w), quarter(y + h), score()));
    }
    c.data.images.push_back(std::move(image));
  }
  // Shuffle so that each image's detections are interleaved with the others'.
  std::shuffle(c.detections.begin(), c.detections.end(), rng);
  return c;
}

TEST(CocoEvaluateTest, MatchesPycocotools) {
  std::vector<Case> cases = {EdgeCases(), ManyDetections()};
  for (int seed = 1; seed <= 6; ++seed) cases.push_back(RandomCase(seed));
  const std::vector<std::vector<double>> reference = PycocotoolsStats(cases);
  ASSERT_EQ(reference.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].name + ": " + std::to_string(cases[i].detections.size()) + " detections");
    const Metrics m = Evaluate(cases[i].data, cases[i].detections);
    ASSERT_EQ(reference[i].size(), 12u);
    std::ostringstream table;
    for (int s = 0; s < 12; ++s) {
      const double want = reference[i][s] < 0 ? -1 : 100 * reference[i][s];
      EXPECT_NEAR(m.at(kStatNames[s]), want, 1e-4) << kStatNames[s];
      table << " " << kStatNames[s] << "=" << m.at(kStatNames[s]);
    }
    std::cout << cases[i].name << ":" << table.str() << "\n";
  }
}

}  // namespace
}  // namespace moco
