#include "eval/detection/ops.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "moco/common/subprocess.h"

namespace moco {
namespace {

namespace fs = std::filesystem;

at::Tensor Floats(std::vector<float> values, std::vector<int64_t> shape) {
  return at::tensor(values, at::TensorOptions().dtype(at::kFloat)).reshape(shape);
}

std::vector<int64_t> Ints(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

// ---- RoiAlign, by hand ----

// 3 x 3 map, zero but for a 10 at (y 1, x 1). RoI (0.5, 0.5)-(1.5, 1.5), one bin, 2 x 2 samples.
// aligned=false: samples at x, y in {0.75, 1.25}. At (0.75, 0.75) the weight of pixel (1, 1) is
// ly * lx = 0.75 * 0.75; at (0.75, 1.25) it is ly * hx = 0.75 * 0.75 (x_low = 1, lx = 0.25);
// likewise the other two, so the bin is 10 * 0.5625 = 5.625, and d bin / d f(1, 1) = 0.5625.
// Pixel (0, 0) is read only by the sample (0.75, 0.75), with hy * hx = 0.25 * 0.25, averaged
// over 4 samples: gradient 0.015625.
// aligned=true: everything shifts by -0.5, samples at {0.25, 0.75}; the weight of row 1 is
// 0.25 then 0.75 (mean 0.5), the same for columns: 10 * 0.5 * 0.5 = 2.5.
TEST(RoiAlignTest, SpikeByHand) {
  at::Tensor features = at::zeros({1, 1, 3, 3});
  features[0][0][1][1] = 10.0;
  features.requires_grad_(true);
  const at::Tensor rois = Floats({0, 0.5, 0.5, 1.5, 1.5}, {1, 5});
  const at::Tensor out = RoiAlign(features, rois, 1, 1.0, 2, false);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_NEAR(out.item<float>(), 5.625, 1e-6);
  out.sum().backward();
  const at::Tensor grad = features.grad();
  EXPECT_NEAR(grad[0][0][1][1].item<float>(), 0.5625, 1e-6);
  EXPECT_NEAR(grad[0][0][0][0].item<float>(), 0.015625, 1e-6);
  EXPECT_NEAR(grad.sum().item<float>(), 1.0, 1e-6);  // every sample inside: weights sum to 1
  EXPECT_NEAR(RoiAlign(features, rois, 1, 1.0, 2, true).item<float>(), 2.5, 1e-6);
  EXPECT_NEAR(RoiAlign(features.to(at::kDouble), rois.to(at::kDouble), 1, 1.0, 2, false).item<double>(), 5.625, 1e-12);
}

// 100 RoIs of 2048 channels at 14 x 14 exceed one chunk (2^24 elements / (14 * 2048 * 8) = 73
// RoIs): the chunked result must equal the RoIs pooled one at a time.
TEST(RoiAlignTest, ChunksAgreeWithSingleRois) {
  const auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  const at::Tensor features = at::randn({2, 2048, 8, 8}, gen, f32);
  const at::Tensor xy = at::rand({100, 2}, gen, f32) * 100;
  const at::Tensor rois =
      at::cat({at::randint(0, 2, {100, 1}, gen, f32), xy, xy + 4 + at::rand({100, 2}, gen, f32) * 40}, 1);
  const at::Tensor all = RoiAlign(features, rois, 14, 1.0 / 16, 2, true);
  std::vector<at::Tensor> single;
  for (int64_t i = 0; i < 100; ++i)
    single.push_back(RoiAlign(features, rois.slice(0, i, i + 1), 14, 1.0 / 16, 2, true));
  EXPECT_LT((all - at::cat(single)).abs().max().item<float>(), 1e-6);
}

// f(y, x) = 3 y + x on a 3 x 3 map (0 1 2 / 3 4 5 / 6 7 8); image 1 is 10 f.
TEST(RoiAlignTest, EdgesAndBatchByHand) {
  const at::Tensor f = (at::arange(9, at::kFloat)).reshape({1, 1, 3, 3});
  const at::Tensor features = at::cat({f, 10 * f});
  // Right edge, aligned=false, RoI x 1.5..4.5, y 0..1, one bin. x samples: 1.5 + 0.75 = 2.25
  // (x_low = 2 = W - 1, so it reads column 2) and 1.5 + 2.25 = 3.75 > W = 3 (outside: zero).
  // Height max(1, 1) = 1, y samples 0.25 and 0.75: 0.75 f(0,2) + 0.25 f(1,2) = 0.75*2 + 0.25*5 =
  // 2.75 and 0.25*2 + 0.75*5 = 4.25. Sum 7 over 4 samples: 1.75.
  EXPECT_NEAR(RoiAlign(features, Floats({0, 1.5, 0, 4.5, 1}, {1, 5}), 1, 1.0, 2, false).item<float>(), 1.75, 1e-6);
  // Left edge: RoI x -1.5..0.5 (width 2): samples -1.0 (still inside, clamped to 0) and 0.0, both
  // column 0. y 1..2: samples 1.25 -> 0.75*3 + 0.25*6 = 3.75 and 1.75 -> 0.25*3 + 0.75*6 = 5.25.
  // Mean 4.5; on image 1, 45.
  const at::Tensor left = Floats({0, -1.5, 1, 0.5, 2, 1, -1.5, 1, 0.5, 2}, {2, 5});
  const at::Tensor out = RoiAlign(features, left, 1, 1.0, 2, false);
  EXPECT_NEAR(out[0].item<float>(), 4.5, 1e-6);
  EXPECT_NEAR(out[1].item<float>(), 45.0, 1e-5);
  // A RoI with its samples entirely past the bottom edge (y > H) reads zeros.
  EXPECT_EQ(RoiAlign(features, Floats({1, 0, 4, 2, 6}, {1, 5}), 1, 1.0, 2, false).item<float>(), 0.0f);
  // 2 x 2 bins with spatial_scale 0.5 and aligned=true: RoI (1, 1)-(5, 5) -> (0, 0)-(2, 2) on the
  // map, bins of 1, samples {0.25, 0.75} and {1.25, 1.75}. f is bilinear, so each bin is
  // f(mean y, mean x): f(0.5, 0.5) = 2, f(0.5, 1.5) = 3, f(1.5, 0.5) = 5, f(1.5, 1.5) = 6.
  const at::Tensor bins = RoiAlign(features, Floats({0, 1, 1, 5, 5}, {1, 5}), 2, 0.5, 2, true);
  ASSERT_EQ(bins.sizes(), (std::vector<int64_t>{1, 1, 2, 2}));
  const std::vector<float> expected = {2, 3, 5, 6};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(bins.flatten()[i].item<float>(), expected[i], 1e-6) << "bin " << i;
}

TEST(RoiAlignTest, RejectsBadArguments) {
  const at::Tensor features = at::zeros({1, 2, 4, 4});
  EXPECT_THROW(RoiAlign(features, Floats({0, 0, 0, 1, 1}, {1, 5}), 2, 1.0, 0, true), c10::Error);  // adaptive
  EXPECT_THROW(RoiAlign(features, Floats({1, 0, 0, 1, 1}, {1, 5}), 2, 1.0, 2, true), c10::Error);  // batch 1
  EXPECT_THROW(RoiAlign(features, Floats({0, 0, 1, 1}, {1, 4}), 2, 1.0, 2, true), c10::Error);     // no index
  EXPECT_EQ(RoiAlign(features, at::zeros({0, 5}), 3, 1.0, 2, true).sizes(), (std::vector<int64_t>{0, 2, 3, 3}));
}

// ---- NMS, by hand ----

// Boxes: 0 and 4 identical (10 x 10 at the origin), 1 shifted by (1, 1) (IoU with 0:
// 81 / 119 = 0.68), 2 far away, 3 sharing half of a 10 x 20 box with 2 (IoU 100 / 200 = 0.5
// exactly). Scores tie between 0, 2 and 4.
TEST(NmsTest, HandMadeBoxesWithTiesAndIouAtThreshold) {
  const at::Tensor boxes = Floats({0, 0, 10, 10, 1, 1, 11, 11, 20, 20, 30, 30, 20, 20, 40, 30, 0, 0, 10, 10}, {5, 4});
  const at::Tensor scores = Floats({0.9, 0.8, 0.9, 0.5, 0.9}, {5});
  // Visiting order 0, 2, 4 (ties in index order), 1, 3: 4 and 1 overlap 0 by more than 0.5;
  // 3's IoU with 2 equals the threshold, which does not suppress.
  EXPECT_EQ(Ints(Nms(boxes, scores, 0.5)), (std::vector<int64_t>{0, 2, 3}));
  EXPECT_EQ(Ints(Nms(boxes, scores, 0.49)), (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(Ints(Nms(boxes, scores, 0.7)), (std::vector<int64_t>{0, 2, 1, 3}));
  EXPECT_EQ(Ints(Nms(boxes, scores, 1.0)), (std::vector<int64_t>{0, 2, 4, 1, 3}));
  // Per label: 4 (label 1) is no longer suppressed by 0 (label 0).
  const at::Tensor labels = at::tensor(std::vector<int64_t>{0, 0, 1, 1, 1});
  EXPECT_EQ(Ints(BatchedNms(boxes, scores, labels, 0.5)), (std::vector<int64_t>{0, 2, 4, 3}));
  EXPECT_EQ(Ints(Nms(at::zeros({0, 4}), at::zeros({0}), 0.5)).size(), 0u);
  EXPECT_NEAR(BoxIou(boxes.slice(0, 2, 3), boxes.slice(0, 3, 4)).item<float>(), 0.5, 0);
  EXPECT_NEAR(BoxIou(boxes.slice(0, 0, 1), boxes.slice(0, 1, 2)).item<float>(), 81.0 / 119.0, 1e-6);
}

// ---- BoxCoder ----

TEST(BoxCoderTest, EncodeByHandAndRoundTrip) {
  // Proposal (0, 0)-(10, 20): w 10, h 20, centre (5, 10). Target (5, 5)-(25, 25): w 20, h 20,
  // centre (15, 15). Deltas: (10 / 10, 5 / 20, log 2, log 1).
  const BoxCoder unit;
  const at::Tensor d = unit.Encode(Floats({5, 5, 25, 25}, {1, 4}), Floats({0, 0, 10, 20}, {1, 4}));
  const std::vector<float> expected = {1.0f, 0.25f, std::log(2.0f), 0.0f};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(d[0][i].item<float>(), expected[i], 1e-6) << i;
  // Decoding a huge dw clamps it at log(1000 / 16): the width becomes 62.5 times the proposal's.
  const at::Tensor wide = unit.Decode(Floats({0, 0, 10, 0}, {1, 4}), Floats({0, 0, 10, 20}, {1, 4}));
  EXPECT_NEAR((wide[0][2] - wide[0][0]).item<float>(), 625.0, 1e-3);

  const BoxCoder coder{{10.0, 10.0, 5.0, 5.0}};
  const auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor xy = at::rand({50, 2}, gen, f64) * 100, pxy = at::rand({50, 2}, gen, f64) * 100;
  const at::Tensor targets = at::cat({xy, xy + 1 + at::rand({50, 2}, gen, f64) * 50}, 1);
  const at::Tensor proposals = at::cat({pxy, pxy + 1 + at::rand({50, 2}, gen, f64) * 50}, 1);
  const at::Tensor round_trip = coder.Decode(coder.Encode(targets, proposals), proposals);
  EXPECT_LT((round_trip - targets).abs().max().item<double>(), 1e-9);
  // Class-specific deltas (N x 8) decode to N x 8 boxes, each half as its own N x 4 would.
  const at::Tensor deltas = coder.Encode(targets, proposals);
  const at::Tensor two = coder.Decode(at::cat({deltas, deltas * 0.5}, 1), proposals);
  EXPECT_LT((two.slice(1, 0, 4) - targets).abs().max().item<double>(), 1e-9);
  EXPECT_LT((two.slice(1, 4, 8) - coder.Decode(deltas * 0.5, proposals)).abs().max().item<double>(), 1e-12);
}

TEST(BoxOpsTest, ClipAndKeepLarge) {
  const at::Tensor boxes = Floats({-5, -5, 50, 50, 10, 10, 10.5, 40, 30, 35, 120, 90}, {3, 4});
  const at::Tensor clipped = ClipBoxes(boxes, /*height=*/60, /*width=*/100);
  const std::vector<float> expected = {0, 0, 50, 50, 10, 10, 10.5, 40, 30, 35, 100, 60};
  for (int i = 0; i < 12; ++i) EXPECT_EQ(clipped.flatten()[i].item<float>(), expected[i]) << i;
  EXPECT_EQ(Ints(KeepLargeBoxes(boxes, 1.0)), (std::vector<int64_t>{0, 2}));  // box 1 is 0.5 wide
  EXPECT_EQ(Ints(KeepLargeBoxes(boxes, 0.5)), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_NEAR(BoxArea(boxes)[1].item<float>(), 15.0, 1e-6);
}

// ---- Anchors ----

// Sizes {32, 64}, ratios {0.5, 1, 2}. Ratio r gives width s / sqrt(r), height s sqrt(r); halved
// and rounded: r 0.5: 32 -> (22.63, 11.31) -> (23, 11); 64 -> (45.25, 22.63) -> (45, 23).
// r 1: (16, 16), (32, 32). r 2: (11, 23), (23, 45). A 2 x 2 map with stride 16: cells (y, x) =
// (0, 0), (0, 1), (1, 0), (1, 1) centred at (x, y) = (0, 0), (16, 0), (0, 16), (16, 16).
TEST(AnchorsTest, TwoByTwoMapByHand) {
  const at::Tensor anchors = GenerateAnchors(2, 2, 16, {32, 64}, {0.5, 1.0, 2.0});
  ASSERT_EQ(anchors.sizes(), (std::vector<int64_t>{24, 4}));
  const float half[6][2] = {{23, 11}, {45, 23}, {16, 16}, {32, 32}, {11, 23}, {23, 45}};
  const float centre[4][2] = {{0, 0}, {16, 0}, {0, 16}, {16, 16}};
  for (int cell = 0; cell < 4; ++cell) {
    for (int a = 0; a < 6; ++a) {
      const at::Tensor row = anchors[cell * 6 + a];
      const float cx = centre[cell][0], cy = centre[cell][1], hw = half[a][0], hh = half[a][1];
      EXPECT_EQ(row[0].item<float>(), cx - hw) << cell << " " << a;
      EXPECT_EQ(row[1].item<float>(), cy - hh) << cell << " " << a;
      EXPECT_EQ(row[2].item<float>(), cx + hw) << cell << " " << a;
      EXPECT_EQ(row[3].item<float>(), cy + hh) << cell << " " << a;
    }
  }
  // Two rows written out: cell (0, 1) with r 0.5, s 64; cell (1, 0) with r 2, s 64.
  EXPECT_EQ(Ints(anchors[7]), (std::vector<int64_t>{-29, -23, 61, 23}));
  EXPECT_EQ(Ints(anchors[17]), (std::vector<int64_t>{-23, -29, 23, 61}));
}

// ---- Matching and sampling ----

TEST(MatcherTest, ThresholdsAndLowQualityByHand) {
  // Ground truth 1's best IoU, 0.66, is shared by proposals 1 and 2.
  const at::Tensor iou = Floats({0.9, 0.5, 0.2, 0.1, 0.65, 0.66, 0.66, 0.0}, {2, 4});
  // Proposal 0: 0.9 >= 0.7 -> GT 0; 1 and 2: 0.66 in [0.3, 0.7) -> -2; 3: 0.1 < 0.3 -> -1.
  EXPECT_EQ(Ints(MatchProposals(iou, 0.7, 0.3, false)), (std::vector<int64_t>{0, -2, -2, -1}));
  EXPECT_EQ(Ints(MatchProposals(iou, 0.7, 0.3, true)), (std::vector<int64_t>{0, 1, 1, -1}));
  EXPECT_EQ(Ints(MatchProposals(at::zeros({0, 3}), 0.7, 0.3, true)), (std::vector<int64_t>{-1, -1, -1}));
}

TEST(SamplerTest, CountsMembershipAndSeed) {
  std::vector<int64_t> values;
  for (int i = 0; i < 200; ++i) values.push_back(i % 20 == 0 ? 1 : (i % 20 == 1 ? 2 : (i % 3 == 0 ? -1 : 0)));
  const at::Tensor labels = at::tensor(values);
  at::manual_seed(5);
  const auto [pos, neg] = SampleBalanced(labels, 64, 0.25);
  EXPECT_EQ(pos.size(0), 16);  // 20 positives available, 64 * 0.25 wanted
  EXPECT_EQ(neg.size(0), 48);
  for (int64_t i : Ints(pos)) EXPECT_GE(values[i], 1) << i;
  for (int64_t i : Ints(neg)) EXPECT_EQ(values[i], 0) << i;
  EXPECT_EQ(std::get<0>(at::_unique(at::cat({pos, neg}))).size(0), 64);  // no repeats
  at::manual_seed(5);
  EXPECT_TRUE(SampleBalanced(labels, 64, 0.25).first.equal(pos));
  // Few positives: the rest of the batch is negatives.
  const auto [pos2, neg2] = SampleBalanced(labels.slice(0, 0, 40), 64, 0.25);
  EXPECT_EQ(pos2.size(0), 4);
  EXPECT_EQ(neg2.size(0), std::count(values.begin(), values.begin() + 40, 0));
}

// ---- against torchvision ----

std::string ScriptPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const std::string in_runfiles =
      std::string(srcdir != nullptr ? srcdir : ".") + "/moco_cpp/eval/detection/ops_reference.py";
  return fs::exists(in_runfiles) ? in_runfiles : "eval/detection/ops_reference.py";
}

std::string TempPath(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return (fs::path(tmp != nullptr ? tmp : fs::temp_directory_path().string()) / name).string();
}

struct RoiCase {
  int size;
  double scale;
  int ratio;
  bool aligned;
  bool tall;  // features H > W (RoiAlign then gathers rows; otherwise columns)
};
const RoiCase kRoiCases[] = {{7, 0.25, 2, true, false}, {7, 0.25, 2, false, false}, {4, 0.3, 3, true, false},
                             {5, 0.5, 1, false, false}, {7, 0.25, 2, true, true},   {3, 0.3, 2, false, true}};
const double kNmsThresholds[] = {0.3, 0.5, 0.7};
struct MatcherCase {
  double high, low;
  bool allow;
};
const MatcherCase kMatcherCases[] = {{0.7, 0.3, false}, {0.7, 0.3, true}, {0.5, 0.5, true}};
struct AnchorCase {
  int64_t h, w, stride;
  std::vector<double> sizes, ratios;
};
const std::vector<AnchorCase>& AnchorCases() {
  static const auto* cases = new std::vector<AnchorCase>{
      {2, 3, 16, {32, 64, 128}, {0.5, 1.0, 2.0}}, {5, 4, 8, {24, 40.5}, {0.7, 1.3}}, {1, 7, 32, {100}, {0.25, 4.0}}};
  return *cases;
}

class TorchvisionTest : public ::testing::Test {
 protected:
  // Writes random inputs, runs ops_reference.py once for the whole suite, reads its outputs.
  static void SetUpTestSuite() {
    const auto gen = at::make_generator<at::CPUGeneratorImpl>(2020);
    const auto f32 = at::TensorOptions().dtype(at::kFloat);
    auto& in = *new std::map<std::string, at::Tensor>();
    inputs_ = &in;
    // RoIAlign: 2 images of 3 x 13 x 17 (and of 3 x 17 x 13); RoIs around and beyond the 52 x 68 image (at scale 0.25),
    // some tiny, one inverted.
    in["roi_align.features"] = at::randn({2, 3, 13, 17}, gen, f32);
    in["roi_align.features_tall"] = at::randn({2, 3, 17, 13}, gen, f32);
    const int64_t k = 60;
    const at::Tensor xy = at::rand({k, 2}, gen, f32) * 90 - 20;
    const at::Tensor wh = at::rand({k, 2}, gen, f32) * at::tensor({40.0f, 30.0f}) * (at::rand({k, 1}, gen, f32) + 0.05);
    at::Tensor rois = at::cat({at::randint(0, 2, {k, 1}, gen, f32), xy, xy + wh}, 1);
    rois[5] = Floats({1, 30, 20, 25, 10}, {5});  // x2 < x1, y2 < y1
    in["roi_align.rois"] = rois;
    for (size_t i = 0; i < std::size(kRoiCases); ++i) {
      const RoiCase& c = kRoiCases[i];
      const std::string key = "roi_align." + std::to_string(i);
      in[key + ".config"] =
          at::tensor(std::vector<double>{static_cast<double>(c.size), c.scale, static_cast<double>(c.ratio),
                                         c.aligned ? 1.0 : 0.0, c.tall ? 1.0 : 0.0});
      in[key + ".grad_output"] = at::randn({k, 3, c.size, c.size}, gen, f32);
    }
    // NMS: 300 boxes in a 150 x 150 square, many overlaps, 4 labels.
    const at::Tensor nxy = at::rand({300, 2}, gen, f32) * 120;
    in["nms.boxes"] = at::cat({nxy, nxy + 4 + at::rand({300, 2}, gen, f32) * 40}, 1);
    in["nms.scores"] = at::rand({300}, gen, f32);
    in["nms.labels"] = at::randint(0, 4, {300}, gen, at::TensorOptions().dtype(at::kLong));
    in["nms.thresholds"] = at::tensor(std::vector<double>(std::begin(kNmsThresholds), std::end(kNmsThresholds)));
    const at::Tensor a = at::rand({30, 2}, gen, f32) * 50, b = at::rand({20, 2}, gen, f32) * 50;
    in["iou.a"] = at::cat({a, a + at::rand({30, 2}, gen, f32) * 30}, 1);
    in["iou.b"] = at::cat({b, b + at::rand({20, 2}, gen, f32) * 30}, 1);
    const auto& anchor_cases = AnchorCases();
    for (size_t i = 0; i < anchor_cases.size(); ++i) {
      const AnchorCase& c = anchor_cases[i];
      const std::string key = "anchors." + std::to_string(i);
      in[key + ".config"] = at::tensor(std::vector<int64_t>{c.h, c.w, c.stride});
      in[key + ".sizes"] = at::tensor(c.sizes);
      in[key + ".ratios"] = at::tensor(c.ratios);
    }
    // BoxCoder: deltas N x 8 (two classes), some dw / dh past the clamp.
    const at::Tensor pxy = at::rand({40, 2}, gen, f32) * 200, txy = at::rand({40, 2}, gen, f32) * 200;
    in["coder.weights"] = at::tensor(std::vector<double>{10.0, 10.0, 5.0, 5.0});
    in["coder.proposals"] = at::cat({pxy, pxy + 2 + at::rand({40, 2}, gen, f32) * 60}, 1);
    in["coder.targets"] = at::cat({txy, txy + 2 + at::rand({40, 2}, gen, f32) * 60}, 1);
    in["coder.deltas"] = at::randn({40, 8}, gen, f32) * 8;
    // Matcher: 6 ground truths x 80 proposals, IoUs quantised to 0.05 so that ties occur.
    in["matcher.iou"] = (at::rand({6, 80}, gen, f32) * 20).floor() / 20;
    for (size_t i = 0; i < std::size(kMatcherCases); ++i) {
      const MatcherCase& c = kMatcherCases[i];
      in["matcher." + std::to_string(i) + ".config"] =
          at::tensor(std::vector<double>{c.high, c.low, c.allow ? 1.0 : 0.0});
    }
    in["sampler.labels"] = at::randint(-1, 3, {500}, gen, at::TensorOptions().dtype(at::kLong));
    in["sampler.config"] = at::tensor(std::vector<double>{11, 128, 0.25});

    c10::Dict<std::string, at::Tensor> dict;
    for (const auto& [key, value] : in) dict.insert(key, value);
    const std::string input_path = TempPath("ops_inputs.pt"), output_path = TempPath("ops_outputs.pt");
    const std::vector<char> bytes = torch::jit::pickle_save(dict);
    std::ofstream(input_path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));

    const absl::StatusOr<std::string> python = PythonInterpreter();
    if (!python.ok()) {
      error_ = new std::string(python.status().message());
      return;
    }
    ProcessOptions options;
    options.capture_stderr = true;
    const absl::StatusOr<ProcessResult> run = RunProcess({*python, ScriptPath(), input_path, output_path}, options);
    if (!run.ok() || run->exit_code != 0) {
      error_ = new std::string("the reference script failed: " + ScriptPath() + "\n" +
                               (run.ok() ? run->stdout_text : run.status().ToString()));
      return;
    }
    std::ifstream file(output_path, std::ios::binary);
    const std::vector<char> out_bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    auto& out = *new std::map<std::string, at::Tensor>();
    for (const auto& entry : torch::jit::pickle_load(out_bytes).toGenericDict()) {
      out[entry.key().toStringRef()] = entry.value().toTensor();
    }
    outputs_ = &out;
  }

  void SetUp() override { ASSERT_EQ(error_, nullptr) << *error_; }

  static const at::Tensor& In(const std::string& key) { return inputs_->at(key); }
  static const at::Tensor& Ref(const std::string& key) {
    const auto it = outputs_->find(key);
    EXPECT_NE(it, outputs_->end()) << "ops_reference.py wrote no " << key;
    static const at::Tensor kEmpty;
    return it == outputs_->end() ? kEmpty : it->second;
  }

  static std::map<std::string, at::Tensor>* inputs_;
  static std::map<std::string, at::Tensor>* outputs_;
  static std::string* error_;
};

std::map<std::string, at::Tensor>* TorchvisionTest::inputs_ = nullptr;
std::map<std::string, at::Tensor>* TorchvisionTest::outputs_ = nullptr;
std::string* TorchvisionTest::error_ = nullptr;

double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return INFINITY;
  return a.numel() == 0 ? 0.0 : (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

TEST_F(TorchvisionTest, RoiAlignForwardAndGradient) {
  for (size_t i = 0; i < std::size(kRoiCases); ++i) {
    const RoiCase& c = kRoiCases[i];
    const std::string key = "roi_align." + std::to_string(i);
    const at::Tensor features =
        In(c.tall ? "roi_align.features_tall" : "roi_align.features").clone().requires_grad_(true);
    const at::Tensor out = RoiAlign(features, In("roi_align.rois"), c.size, c.scale, c.ratio, c.aligned);
    const double forward = MaxAbsDiff(out.detach(), Ref(key));
    EXPECT_LT(forward, 1e-5) << key;
    out.backward(In(key + ".grad_output"));
    // The gradient sums many RoIs' contributions: 1e-5 relative to its largest entry.
    const double scale = std::max(1.0, Ref(key + ".grad").abs().max().item<double>());
    const double backward = MaxAbsDiff(features.grad(), Ref(key + ".grad")) / scale;
    EXPECT_LT(backward, 1e-5) << key;
    std::cout << key << ": max |diff| " << forward << ", gradient " << backward << " (relative to " << scale << ")\n";
  }
}

TEST_F(TorchvisionTest, NmsAndBatchedNms) {
  for (size_t j = 0; j < std::size(kNmsThresholds); ++j) {
    const at::Tensor keep = Nms(In("nms.boxes"), In("nms.scores"), kNmsThresholds[j]);
    EXPECT_EQ(Ints(keep), Ints(Ref("nms." + std::to_string(j)))) << kNmsThresholds[j];
    const at::Tensor batched = BatchedNms(In("nms.boxes"), In("nms.scores"), In("nms.labels"), kNmsThresholds[j]);
    EXPECT_EQ(Ints(batched), Ints(Ref("batched_nms." + std::to_string(j)))) << kNmsThresholds[j];
    EXPECT_LT(keep.size(0), 300);  // the case does suppress
  }
}

TEST_F(TorchvisionTest, BoxIou) { EXPECT_LT(MaxAbsDiff(BoxIou(In("iou.a"), In("iou.b")), Ref("iou")), 1e-6); }

TEST_F(TorchvisionTest, Anchors) {
  const auto& cases = AnchorCases();
  for (size_t i = 0; i < cases.size(); ++i) {
    const AnchorCase& c = cases[i];
    EXPECT_EQ(MaxAbsDiff(GenerateAnchors(c.h, c.w, c.stride, c.sizes, c.ratios), Ref("anchors." + std::to_string(i))),
              0.0)
        << "anchor case " << i;
  }
}

TEST_F(TorchvisionTest, BoxCoder) {
  const BoxCoder coder{{10.0, 10.0, 5.0, 5.0}};
  const at::Tensor encoded = coder.Encode(In("coder.targets"), In("coder.proposals"));
  EXPECT_LT(MaxAbsDiff(encoded, Ref("coder.encoded")), 1e-5);
  const at::Tensor decoded = coder.Decode(In("coder.deltas"), In("coder.proposals"));
  const double scale = std::max(1.0, Ref("coder.decoded").abs().max().item<double>());
  EXPECT_LT(MaxAbsDiff(decoded, Ref("coder.decoded")) / scale, 1e-6);  // clamped deltas reach 1e4
}

TEST_F(TorchvisionTest, Matcher) {
  for (size_t i = 0; i < std::size(kMatcherCases); ++i) {
    const MatcherCase& c = kMatcherCases[i];
    EXPECT_EQ(Ints(MatchProposals(In("matcher.iou"), c.high, c.low, c.allow)),
              Ints(Ref("matcher." + std::to_string(i))))
        << "matcher case " << i;
  }
}

TEST_F(TorchvisionTest, SamplerPicksTheSameIndicesForTheSameSeed) {
  const at::Tensor labels = In("sampler.labels");
  at::manual_seed(11);
  const auto [pos, neg] = SampleBalanced(labels, 128, 0.25);
  EXPECT_EQ(pos.size(0), 32);
  EXPECT_EQ(neg.size(0), 96);
  const at::Tensor pos_mask = at::zeros({labels.size(0)}, at::kLong).index_fill_(0, pos, 1);
  const at::Tensor neg_mask = at::zeros({labels.size(0)}, at::kLong).index_fill_(0, neg, 1);
  EXPECT_EQ(Ints(pos_mask), Ints(Ref("sampler.positive")));
  EXPECT_EQ(Ints(neg_mask), Ints(Ref("sampler.negative")));
}

// Not a test: `bazel-bin/eval/detection/ops_test --gtest_also_run_disabled_tests
// --gtest_filter='*Timing*'` prints RoiAlign's forward + backward time on 2 threads.
TEST(RoiAlignTest, DISABLED_Timing) {
  at::set_num_threads(2);
  const auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  const at::Tensor features = at::randn({2, 64, 50, 50}, gen, f32).requires_grad_(true);
  const at::Tensor xy = at::rand({512, 2}, gen, f32) * 700;
  const at::Tensor rois =
      at::cat({at::randint(0, 2, {512, 1}, gen, f32), xy, xy + 16 + at::rand({512, 2}, gen, f32) * 300}, 1);
  const at::Tensor grad = at::randn({512, 64, 14, 14}, gen, f32);
  std::vector<double> forward_ms, total_ms;
  for (int run = 0; run < 9; ++run) {
    features.mutable_grad() = at::Tensor();
    const auto t0 = std::chrono::steady_clock::now();
    const at::Tensor out = RoiAlign(features, rois, 14, 1.0 / 16, 2, true);
    const auto t1 = std::chrono::steady_clock::now();
    out.backward(grad);
    const auto t2 = std::chrono::steady_clock::now();
    forward_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    total_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t0).count());
  }
  std::sort(forward_ms.begin(), forward_ms.end());
  std::sort(total_ms.begin(), total_ms.end());
  std::cout << "RoiAlign 512 rois, 2 x 64 x 50 x 50 -> 14 x 14, 2 x 2 samples, " << at::get_num_threads()
            << " threads: forward " << forward_ms[4] << " ms, forward + backward " << total_ms[4]
            << " ms (median of 9)\n";
}

}  // namespace
}  // namespace moco
