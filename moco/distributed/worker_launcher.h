// LaunchWorkers: a single-node stand-in for torchrun. It starts nproc copies of a command
// (fork + execve), each with RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE,
// MASTER_ADDR=127.0.0.1 and MASTER_PORT in its environment, waits for all of them, and as soon
// as one fails stops the others and reports which rank failed and how.
//
//   // Run this binary as 2 workers; each reads its place with DistributedEnvFromEnvironment().
//   MOCO_RETURN_IF_ERROR(LaunchWorkers(2, {"/proc/self/exe", "--worker"}));
#ifndef MOCO_DISTRIBUTED_WORKER_LAUNCHER_H_
#define MOCO_DISTRIBUTED_WORKER_LAUNCHER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace moco {

struct LaunchOptions {
  // MASTER_PORT given to the workers; 0 picks a free loopback port (FindFreeLoopbackPort).
  int master_port = 0;
  // If the workers have not all exited by then they are stopped and the launch fails with
  // DeadlineExceeded. Infinite by default.
  absl::Duration timeout = absl::InfiniteDuration();
  // After a failure, how long the remaining workers get between SIGTERM and SIGKILL.
  absl::Duration termination_grace = absl::Seconds(3);
};

// Runs argv (argv[0] is a path to an executable; PATH is not searched) as nproc_per_node
// workers with the rest of this process's environment. OK when every worker exits with
// status 0. Otherwise the first failure, naming the rank, its pid and its exit status or
// signal: Unknown for a worker that failed, DeadlineExceeded for options.timeout,
// InvalidArgument / NotFound for bad arguments, Internal when a worker cannot be started.
// Workers are killed if the calling thread dies (PR_SET_PDEATHSIG).
absl::Status LaunchWorkers(int nproc_per_node, const std::vector<std::string>& argv,
                           const LaunchOptions& options = LaunchOptions());

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it back, close).
// Another process may still take it before it is used again.
absl::StatusOr<int> FindFreeLoopbackPort();

}  // namespace moco

#endif  // MOCO_DISTRIBUTED_WORKER_LAUNCHER_H_
