#include "benchmarks/step_profile.h"

#include <gtest/gtest.h>

#include <map>

namespace moco {
namespace {

ProfiledOp Op(const std::string& name, uint64_t start, uint64_t end, double flops = 0, bool scope = false) {
  ProfiledOp op;
  op.name = name;
  op.start_ns = start;
  op.end_ns = end;
  op.user_scope = scope;
  op.flops = flops;
  return op;
}

std::map<std::string, double> ByClass(const StepProfile& p) {
  std::map<std::string, double> out;
  for (const OpClassTime& c : p.classes) out[c.op_class] = c.seconds;
  return out;
}

TEST(StepProfileTest, OpClassesFromNamesAndScopes) {
  EXPECT_EQ(OpClass("aten::mkldnn_convolution", {"step/forward"}), "conv forward");
  EXPECT_EQ(OpClass("aten::convolution_backward", {"step/backward"}), "conv backward");
  EXPECT_EQ(OpClass("autograd::engine::evaluate_function: NativeBatchNormBackward0", {}), "BN backward");
  EXPECT_EQ(OpClass("aten::native_batch_norm", {}), "BN forward");
  EXPECT_EQ(OpClass("aten::addmm", {}), "matrix products (fc)");
  EXPECT_EQ(OpClass("aten::_to_copy", {}), "copies, casts, gathers");
  EXPECT_EQ(OpClass("aten::relu_", {}), "elementwise and other, forward");
  EXPECT_EQ(OpClass("aten::threshold_backward", {}), "elementwise and other, backward");
  // Scopes decide first: the same matmul is the head's inside moco/head.
  EXPECT_EQ(OpClass("aten::mm", {"step/forward", "moco/head"}), "contrastive head (logits, loss, queue or bank)");
  EXPECT_EQ(OpClass("aten::add_", {"step/optimizer"}), "optimizer (SGD, gradient averaging)");
  EXPECT_EQ(OpClass("aten::mul_", {"step/forward", "moco/momentum_update"}), "momentum update");
}

TEST(StepProfileTest, SelfTimesAndFlops) {
  // step/forward [0, 100): conv2d [0, 60) -> mkldnn_convolution [5, 55) (50 of its 60 are the
  // child's); inside moco/key_encoder [60, 90): conv2d [60, 80); relu [80, 90).
  // step/backward [100, 200): convolution_backward [100, 180), threshold_backward [180, 200).
  std::vector<ProfiledOp> ops = {
      Op("step/forward", 0, 100, 0, true),       Op("aten::conv2d", 0, 60, 1000),
      Op("aten::mkldnn_convolution", 5, 55, 0),   Op("moco/key_encoder", 60, 90, 0, true),
      Op("aten::conv2d", 60, 80, 1000),           Op("aten::relu", 80, 90),
      Op("step/backward", 100, 200, 0, true),     Op("aten::convolution_backward", 100, 180),
      Op("aten::threshold_backward", 180, 200)};
  const StepProfile p = SummariseOps(ops);
  const auto by = ByClass(p);
  EXPECT_NEAR(by.at("conv forward"), 80e-9, 1e-15);  // 10 + 50 + 20 self
  EXPECT_NEAR(by.at("conv backward"), 80e-9, 1e-15);
  EXPECT_NEAR(by.at("elementwise and other, forward"), 10e-9, 1e-15);
  EXPECT_NEAR(by.at("elementwise and other, backward"), 20e-9, 1e-15);
  EXPECT_NEAR(p.op_seconds, 190e-9, 1e-15);  // the scopes' own time is not an op's
  EXPECT_EQ(p.classes.front().op_class == "conv forward" || p.classes.front().op_class == "conv backward", true);
  // The query path's conv counts 3x (forward and backward), the key encoder's 1x.
  EXPECT_DOUBLE_EQ(p.step_flops, 3000 + 1000);
}

TEST(StepProfileTest, ThreadsNestSeparately) {
  std::vector<ProfiledOp> ops = {Op("aten::conv2d", 0, 100), Op("aten::relu", 10, 20)};
  ops[1].thread = 7;  // overlaps in time but runs on another thread: not a child
  const auto by = ByClass(SummariseOps(ops));
  EXPECT_NEAR(by.at("conv forward"), 100e-9, 1e-15);
  EXPECT_NEAR(by.at("elementwise and other, forward"), 10e-9, 1e-15);
}

}  // namespace
}  // namespace moco
