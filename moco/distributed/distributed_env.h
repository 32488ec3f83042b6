// DistributedEnv: where this process sits in a multi-process job, read from the environment
// contract that torchrun (and LaunchWorkers) follow: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT. With none of them set the process runs alone (rank 0 of 1).
//
//   MOCO_ASSIGN_OR_RETURN(DistributedEnv env, DistributedEnvFromEnvironment());
//   MOCO_ASSIGN_OR_RETURN(ProcessGroupHandle group,
//                         ConnectProcessGroup(env, Backend::kGloo, absl::Minutes(5)));
#ifndef MOCO_DISTRIBUTED_DISTRIBUTED_ENV_H_
#define MOCO_DISTRIBUTED_DISTRIBUTED_ENV_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace moco {

struct DistributedEnv {
  // Global index of this process, in [0, world_size).
  int rank = 0;
  // Number of processes in the job, over all nodes.
  int world_size = 1;
  // Index of this process on its node; selects its GPU.
  int local_rank = 0;
  // Host of the rank-0 process, which serves the rendezvous store.
  std::string master_addr = "127.0.0.1";
  // TCP port of the rendezvous store, in [1, 65535]. 29500 is torchrun's default.
  int master_port = 29500;
  // torchrun's elastic agent: TORCHELASTIC_USE_AGENT_STORE=True means the agent already serves
  // the store at MASTER_ADDR:MASTER_PORT (every rank is a client), and the store outlives a
  // restart of the workers, so each attempt (TORCHELASTIC_RESTART_COUNT) keeps its keys apart.
  bool use_agent_store = false;
  int restart_count = 0;
};

// Reads the five variables (and torchrun's optional TORCHELASTIC_USE_AGENT_STORE and
// TORCHELASTIC_RESTART_COUNT). None of the five set (or all empty): a single process. Some but not all set,
// a value that is not an integer, or one out of range: InvalidArgument naming the variable
// and its value.
absl::StatusOr<DistributedEnv> DistributedEnvFromEnvironment();

// The same rules over an explicit name -> value map (absent and empty values are unset).
absl::StatusOr<DistributedEnv> DistributedEnvFromVariables(
    const std::map<std::string, std::string>& variables);

// Range and cross-field checks: 1 <= world_size, 0 <= rank < world_size,
// 0 <= local_rank < world_size, master_addr non-empty, 1 <= master_port <= 65535.
// Messages name the environment variable that carries each field.
absl::Status ValidateDistributedEnv(const DistributedEnv& env);

}  // namespace moco

#endif  // MOCO_DISTRIBUTED_DISTRIBUTED_ENV_H_
