// A process group of one process (no store, no peers), for tests of code that takes a
// ProcessGroupHandle. Aborts with the reason if it cannot be made.
#ifndef MOCO_DISTRIBUTED_SINGLE_PROCESS_GROUP_H_
#define MOCO_DISTRIBUTED_SINGLE_PROCESS_GROUP_H_

#include <cstdlib>
#include <iostream>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "moco/distributed/distributed_env.h"
#include "moco/distributed/process_group.h"

namespace moco {

inline ProcessGroupHandle SingleProcessGroup() {
  absl::StatusOr<ProcessGroupHandle> group = ConnectProcessGroup(DistributedEnv{}, Backend::kGloo, absl::Seconds(5));
  if (!group.ok()) {
    std::cerr << "a process group of one process failed: " << group.status() << "\n";
    std::abort();
  }
  return *std::move(group);
}

}  // namespace moco

#endif  // MOCO_DISTRIBUTED_SINGLE_PROCESS_GROUP_H_
