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

struct WorkerPool::Range {
  const std::function<absl::Status(int64_t)>* fn = nullptr;
  int64_t next = 0;           // the next index to hand out
  int64_t first_failure = 0;  // n until an index fails
  absl::Status failure;
  int running = 0;
  bool done = false;
  // True once no further index of this range will be handed out.
  bool exhausted() const { return next >= first_failure; }
};

WorkerPool::WorkerPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads_.reserve(threads);
  for (int t = 0; t < threads; ++t) threads_.emplace_back([this] { Work(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

absl::Status WorkerPool::ForUntilError(int64_t n, const std::function<absl::Status(int64_t)>& fn) {
  if (n <= 0) return absl::OkStatus();
  auto range = std::make_shared<Range>();
  range->fn = &fn;
  range->first_failure = n;
  std::unique_lock<std::mutex> lock(mutex_);
  ranges_.push_back(range);
  work_ready_.notify_all();
  range_done_.wait(lock, [&] { return range->done; });
  return std::move(range->failure);
}

void WorkerPool::Work() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    work_ready_.wait(lock, [&] { return stopping_ || !ranges_.empty(); });
    if (ranges_.empty()) return;  // stopping, and nothing left to hand out
    std::shared_ptr<Range> range = ranges_.front();
    const int64_t i = range->next++;
    if (range->exhausted()) ranges_.pop_front();  // i < first_failure: the range was not exhausted
    ++range->running;
    lock.unlock();
    absl::Status status = (*range->fn)(i);
    lock.lock();
    --range->running;
    if (!status.ok() && i < range->first_failure) {
      range->first_failure = i;
      range->failure = std::move(status);
      if (!ranges_.empty() && ranges_.front() == range) ranges_.pop_front();
    }
    if (range->exhausted() && range->running == 0 && !range->done) {
      range->done = true;
      range_done_.notify_all();
    }
  }
}

}  // namespace moco
