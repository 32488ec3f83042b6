// Runs an index range on a few threads: decoding, augmenting and feature batches.
//
//   ParallelFor(n, threads, [&](int64_t i) { Decode(i); });
//   MOCO_RETURN_IF_ERROR(ParallelForUntilError(n, threads, [&](int64_t i) { return Read(i); }));
//
//   WorkerPool pool(threads);  // kept for many ranges: a loader's life
//   MOCO_RETURN_IF_ERROR(pool.ForUntilError(n, [&](int64_t i) { return Read(i); }));
#ifndef MOCO_COMMON_PARALLEL_H_
#define MOCO_COMMON_PARALLEL_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"

namespace moco {

// Runs fn(i) for every i in [0, n) on `threads` threads (0 or less: one per core; never more
// than n) and returns the error of the smallest failing i. Work is handed out in increasing i
// and no i beyond a known failure is started, so every i below the smallest failure runs: the
// result does not depend on the thread count or on scheduling.
absl::Status ParallelForUntilError(int64_t n, int threads, const std::function<absl::Status(int64_t)>& fn);

// The same for work that cannot fail: fn(i) runs for every i in [0, n).
void ParallelFor(int64_t n, int threads, const std::function<void(int64_t)>& fn);

// A fixed set of threads for many index ranges. The free functions above start threads for
// each range; a streaming loader runs a range per batch, and threads made and ended per batch
// each take memory from another malloc arena, whose fragments grow the process's resident
// memory with the length of the epoch (benchmarks/stream_memory). The pool's threads, and
// whatever each keeps in thread_local scratch, live as long as the pool.
class WorkerPool {
 public:
  explicit WorkerPool(int threads);  // 0 or less: one per core
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int threads() const { return static_cast<int>(threads_.size()); }

  // ParallelForUntilError's contract, run on the pool's threads while the caller waits. Several
  // threads may call it at once; ranges are served in the order they were submitted. fn must
  // not call into the same pool.
  absl::Status ForUntilError(int64_t n, const std::function<absl::Status(int64_t)>& fn);

 private:
  struct Range;
  void Work();

  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable range_done_;
  std::deque<std::shared_ptr<Range>> ranges_;  // with indices not yet handed out
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace moco

#endif  // MOCO_COMMON_PARALLEL_H_
