// Runs an index range on a few threads: decoding, augmenting and feature batches.
//
//   ParallelFor(n, threads, [&](int64_t i) { Decode(i); });
//   MOCO_RETURN_IF_ERROR(ParallelForUntilError(n, threads, [&](int64_t i) { return Read(i); }));
#ifndef MOCO_COMMON_PARALLEL_H_
#define MOCO_COMMON_PARALLEL_H_

#include <cstdint>
#include <functional>

#include "absl/status/status.h"

namespace moco {

// Runs fn(i) for every i in [0, n) on `threads` threads (0 or less: one per core; never more
// than n) and returns the error of the smallest failing i. Work is handed out in increasing i
// and no i beyond a known failure is started, so every i below the smallest failure runs: the
// result does not depend on the thread count or on scheduling.
absl::Status ParallelForUntilError(int64_t n, int threads, const std::function<absl::Status(int64_t)>& fn);

// The same for work that cannot fail: fn(i) runs for every i in [0, n).
void ParallelFor(int64_t n, int threads, const std::function<void(int64_t)>& fn);

}  // namespace moco

#endif  // MOCO_COMMON_PARALLEL_H_
