#include "moco/common/duration.h"

#include <thread>

#include "gtest/gtest.h"

namespace moco {
namespace {

TEST(DurationTest, ClockText) {
  EXPECT_EQ(ClockText(0), "0:00");
  EXPECT_EQ(ClockText(-5), "0:00");
  EXPECT_EQ(ClockText(61.9), "1:01");
  EXPECT_EQ(ClockText(3599), "59:59");
  EXPECT_EQ(ClockText(3600 + 2 * 60 + 3), "1:02:03");
}

TEST(DurationTest, DurationText) {
  EXPECT_EQ(DurationText(12.4), "12 s");
  EXPECT_EQ(DurationText(204), "3.4 min");
  EXPECT_EQ(DurationText(5400), "1.5 h");
}

TEST(DurationTest, SecondsSinceCounts) {
  const auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const double s = SecondsSince(start);
  EXPECT_GE(s, 0.019);
  EXPECT_LT(s, 10);
}

}  // namespace
}  // namespace moco
