#include "moco/common/parallel.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace moco {

absl::Status ParallelForUntilError(int64_t n, int threads, const std::function<absl::Status(int64_t)>& fn) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> first_failure{n};
  std::mutex mutex;
  absl::Status failure;  // guarded by mutex
  auto worker = [&] {
    for (int64_t i = next++; i < n && i < first_failure.load(); i = next++) {
      absl::Status status = fn(i);
      if (status.ok()) continue;
      std::lock_guard<std::mutex> lock(mutex);
      if (i < first_failure.load()) {
        first_failure = i;
        failure = std::move(status);
      }
    }
  };
  const int64_t count = std::max<int64_t>(1, std::min<int64_t>(threads, n));
  std::vector<std::thread> pool;
  pool.reserve(count - 1);
  for (int64_t t = 1; t < count; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& thread : pool) thread.join();
  return failure;
}

void ParallelFor(int64_t n, int threads, const std::function<void(int64_t)>& fn) {
  ParallelForUntilError(n, threads, [&](int64_t i) {
    fn(i);
    return absl::OkStatus();
  }).IgnoreError();
}

}  // namespace moco
