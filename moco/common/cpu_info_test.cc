#include "moco/common/cpu_info.h"

#include <gtest/gtest.h>

namespace moco {
namespace {

TEST(CpuInfoTest, ReadsTheFirstProcessorsModelAndFlags) {
  const CpuInfo cpu = ParseCpuInfo(
      "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu avx2 avx512f avx512_bf16\n\n"
      "processor\t: 1\nmodel name\t: Other\nflags\t\t: fpu\n");
  EXPECT_EQ(cpu.model, "Intel(R) Xeon(R) Processor");
  EXPECT_EQ(cpu.flags, (std::vector<std::string>{"fpu", "avx2", "avx512f", "avx512_bf16"}));
  EXPECT_TRUE(cpu.Has("avx512f"));
  EXPECT_FALSE(cpu.Has("avx512"));  // whole flags, not prefixes
  EXPECT_TRUE(HasNativeBf16(cpu));
}

TEST(CpuInfoTest, NativeBf16NeedsAvx512Bf16OrAmxBf16) {
  EXPECT_FALSE(HasNativeBf16(ParseCpuInfo("flags : avx2 avx512f avx512bw amx_tile\n")));
  EXPECT_TRUE(HasNativeBf16(ParseCpuInfo("flags : avx2 amx_bf16 amx_tile\n")));
  EXPECT_EQ(ParseCpuInfo("").model, "an unknown CPU");
}

}  // namespace
}  // namespace moco
