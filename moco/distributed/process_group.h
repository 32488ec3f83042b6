// ProcessGroupHandle: this process's place in a LibTorch c10d process group (Gloo over TCP for
// CPU tensors, NCCL for CUDA tensors in a --config=cuda build), with the few collectives the
// trainer needs. Every collective is waited on with the group's timeout and its outcome comes
// back as absl::Status, so a dead or missing peer is an error, not a hang.
//
// The rendezvous follows torchrun: rank 0 serves a TCPStore at MASTER_ADDR:MASTER_PORT, the
// other ranks connect to it, and all wait (up to the timeout) until every rank has arrived.
// A world of one process needs no store: the collectives are then no-ops or identities.
//
//   MOCO_ASSIGN_OR_RETURN(DistributedEnv env, DistributedEnvFromEnvironment());
//   MOCO_ASSIGN_OR_RETURN(ProcessGroupHandle group,
//                         ConnectProcessGroup(env, Backend::kGloo, absl::Minutes(5)));
//   MOCO_RETURN_IF_ERROR(group.AllReduceSum(loss_sum));                  // in place
//   MOCO_ASSIGN_OR_RETURN(at::Tensor all_keys, group.AllGather(keys));  // (world * N) x C
#ifndef MOCO_DISTRIBUTED_PROCESS_GROUP_H_
#define MOCO_DISTRIBUTED_PROCESS_GROUP_H_

#include <ATen/core/Tensor.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "moco/distributed/distributed_env.h"

namespace moco {

enum class Backend {
  // Gloo over TCP; CPU tensors.
  kGloo,
  // NCCL; CUDA tensors on device LOCAL_RANK. Only in a --config=cuda build with a GPU.
  kNccl,
};

// "gloo" or "nccl".
absl::string_view BackendName(Backend backend);

// A shared reference to a connected group: copies refer to the same group, which is shut down
// when the last copy goes. All processes must call the same collectives in the same order, with
// tensors of the same shape and dtype.
class ProcessGroupHandle {
 public:
  int rank() const;
  int world_size() const;
  const DistributedEnv& env() const;
  Backend backend() const;
  // Limit for the rendezvous and for each collective.
  absl::Duration timeout() const;

  // Sums `tensor` (contiguous) over all processes, in place.
  absl::Status AllReduceSum(const at::Tensor& tensor) const;

  // Concatenates every process's `tensor` (N x ..., same shape everywhere) along dim 0 in rank
  // order: (world_size * N) x .... With one process, returns `tensor` itself (no copy).
  absl::StatusOr<at::Tensor> AllGather(const at::Tensor& tensor) const;

  // Overwrites `tensor` (contiguous) on every process with its value on `root`.
  absl::Status Broadcast(const at::Tensor& tensor, int root) const;

  // Returns once every process has reached it.
  absl::Status Barrier() const;

 private:
  struct State;
  explicit ProcessGroupHandle(std::shared_ptr<const State> state);
  friend absl::StatusOr<ProcessGroupHandle> ConnectProcessGroup(const DistributedEnv& env,
                                                                Backend backend,
                                                                absl::Duration timeout);

  std::shared_ptr<const State> state_;
};

// Joins the group described by `env` (validated first). Errors carry the store address, rank
// and timeout: InvalidArgument for a bad env or timeout (must be finite and positive);
// FailedPrecondition for NCCL in a CPU build or without a usable GPU; DeadlineExceeded when a
// peer does not arrive or the store cannot be reached within `timeout`; Unavailable when the
// store cannot be served or the connection fails early; Internal for other backend failures.
absl::StatusOr<ProcessGroupHandle> ConnectProcessGroup(const DistributedEnv& env, Backend backend,
                                                       absl::Duration timeout);

}  // namespace moco

#endif  // MOCO_DISTRIBUTED_PROCESS_GROUP_H_
