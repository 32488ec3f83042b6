#include "moco/common/parallel.h"

#include <atomic>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace moco {
namespace {

TEST(ParallelTest, EveryIndexRunsOnceForAnyThreadCount) {
  for (int threads : {0, 1, 3, 64}) {
    std::vector<std::atomic<int>> runs(1000);
    ParallelFor(1000, threads, [&](int64_t i) { ++runs[i]; });
    for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(runs[i].load(), 1) << "index " << i << ", threads " << threads;
  }
  ParallelFor(0, 4, [](int64_t) { ADD_FAILURE() << "no index to run"; });
}

TEST(ParallelTest, TheSmallestFailureIsReportedAndEverythingBelowItRuns) {
  for (int threads : {1, 2, 8}) {
    std::vector<std::atomic<int>> runs(500);
    absl::Status status = ParallelForUntilError(500, threads, [&](int64_t i) {
      ++runs[i];
      return i == 123 || i == 300 || i == 499 ? absl::DataLossError(absl::StrCat("item ", i))
                                              : absl::OkStatus();
    });
    EXPECT_EQ(status, absl::DataLossError("item 123")) << "threads " << threads;
    for (int64_t i = 0; i <= 123; ++i) ASSERT_EQ(runs[i].load(), 1) << "index " << i << ", threads " << threads;
  }
  EXPECT_TRUE(ParallelForUntilError(10, 2, [](int64_t) { return absl::OkStatus(); }).ok());
}

}  // namespace
}  // namespace moco
