#include "moco/common/parallel.h"

#include <atomic>
#include <string>
#include <thread>
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

TEST(WorkerPoolTest, RangesAfterRangesRunEveryIndexOnceAndReportTheSmallestFailure) {
  for (int threads : {1, 3}) {
    WorkerPool pool(threads);
    EXPECT_EQ(pool.threads(), threads);
    EXPECT_TRUE(pool.ForUntilError(0, [](int64_t) { return absl::InternalError("no index to run"); }).ok());
    for (int round = 0; round < 50; ++round) {
      const int64_t n = 1 + round * 7;
      const int64_t fail = round % 3 == 0 ? -1 : n / 2;  // every third range succeeds
      std::vector<std::atomic<int>> runs(n);
      absl::Status status = pool.ForUntilError(n, [&](int64_t i) {
        ++runs[i];
        return i == fail || (fail >= 0 && i == n - 1) ? absl::DataLossError(absl::StrCat("item ", i)) : absl::OkStatus();
      });
      if (fail < 0) {
        EXPECT_TRUE(status.ok()) << status;
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(runs[i].load(), 1) << "index " << i << ", round " << round;
      } else {
        EXPECT_EQ(status, absl::DataLossError(absl::StrCat("item ", fail))) << "round " << round;
        for (int64_t i = 0; i <= fail; ++i) ASSERT_EQ(runs[i].load(), 1) << "index " << i << ", round " << round;
      }
    }
  }
}

// The smallest failing index is reported even when a larger one fails first in time.
TEST(WorkerPoolTest, ASmallerIndexThatFailsLaterStillWins) {
  WorkerPool pool(2);
  std::atomic<bool> larger_failed{false};
  absl::Status status = pool.ForUntilError(2, [&](int64_t i) {
    if (i == 1) {
      larger_failed = true;
      return absl::DataLossError("item 1");
    }
    while (!larger_failed) std::this_thread::yield();  // index 0 fails only after index 1 has
    return absl::DataLossError("item 0");
  });
  EXPECT_EQ(status, absl::DataLossError("item 0"));
}

TEST(WorkerPoolTest, SeveralCallersAtOnceEachGetTheirOwnRange) {
  WorkerPool pool(2);
  constexpr int kCallers = 4;
  std::vector<std::vector<std::atomic<int>>> runs(kCallers);
  for (auto& r : runs) r = std::vector<std::atomic<int>>(300);
  std::vector<absl::Status> results(kCallers);
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      results[c] = pool.ForUntilError(300, [&, c](int64_t i) {
        ++runs[c][i];
        return c == 2 && i >= 100 ? absl::NotFoundError(absl::StrCat("caller 2, item ", i)) : absl::OkStatus();
      });
    });
  }
  for (std::thread& caller : callers) caller.join();
  for (int c = 0; c < kCallers; ++c) {
    if (c == 2) {
      EXPECT_EQ(results[c], absl::NotFoundError("caller 2, item 100"));
      for (int64_t i = 0; i <= 100; ++i) ASSERT_EQ(runs[c][i].load(), 1) << "caller 2, index " << i;
    } else {
      EXPECT_TRUE(results[c].ok()) << results[c];
      for (int64_t i = 0; i < 300; ++i) ASSERT_EQ(runs[c][i].load(), 1) << "caller " << c << ", index " << i;
    }
  }
}

}  // namespace
}  // namespace moco
