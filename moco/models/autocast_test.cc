#include "moco/models/autocast.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>

namespace moco {
namespace {

TEST(AutocastTest, Bf16ScopeCastsMatrixProductsAndFloat32ScopeDoesNot) {
  const at::Tensor a = at::randn({4, 8}), b = at::randn({8, 3});
  EXPECT_EQ(a.matmul(b).scalar_type(), at::kFloat);
  {
    Bf16Autocast autocast(c10::Device(c10::kCPU), /*enabled=*/true);
    EXPECT_EQ(a.matmul(b).scalar_type(), at::kBFloat16);
    {
      Float32Scope fp32;
      EXPECT_EQ(a.matmul(b).scalar_type(), at::kFloat);
    }
    EXPECT_EQ(a.matmul(b).scalar_type(), at::kBFloat16);  // restored
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(c10::kCPU));
  EXPECT_EQ(a.matmul(b).scalar_type(), at::kFloat);
}

TEST(AutocastTest, ADisabledScopeChangesNothing) {
  Bf16Autocast autocast(c10::Device(c10::kCPU), /*enabled=*/false);
  EXPECT_FALSE(at::autocast::is_autocast_enabled(c10::kCPU));
  EXPECT_EQ(at::randn({2, 2}).matmul(at::randn({2, 2})).scalar_type(), at::kFloat);
}

}  // namespace
}  // namespace moco
