// Shuffle BN (MoCo paper, section 3.3): the key encoder sees the batch in a random order, so
// each key is normalised with statistics from a different sub-batch than its query, and the
// model cannot use BN's intra-batch communication to find the positive.
//
// Across processes (the paper's form): all-gather the images, broadcast a permutation from
// rank 0, encode this rank's slice of the shuffled batch, all-gather the keys, and take back
// this rank's own keys in their original order. On one process with split-batch BN the same
// happens within the batch: shuffle, encode (BN per contiguous sub-batch), unshuffle. A run of
// P processes with per-process batch N equals one process with batch P * N and P BN splits
// when both draw the same permutation.
//
//   MOCO_ASSIGN_OR_RETURN(torch::Tensor k,
//       ShuffledEncode([&](const torch::Tensor& x) { return encoder_k->forward(x); },
//                      view_k, group, generator));
#ifndef MOCO_CONTRASTIVE_SHUFFLE_BN_H_
#define MOCO_CONTRASTIVE_SHUFFLE_BN_H_

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <functional>

#include "absl/status/statusor.h"
#include "moco/distributed/process_group.h"

namespace moco {

using Encoder = std::function<at::Tensor(const at::Tensor&)>;

// Returns encode(images) row for row, computed on a shuffled batch (see above). `generator`
// draws the permutation (on rank 0; the other ranks receive it). Differentiable, also across
// processes (the keys of this rank's images may have been computed on another rank).
absl::StatusOr<at::Tensor> ShuffledEncode(const Encoder& encode, const at::Tensor& images,
                                          const ProcessGroupHandle& group, at::Generator generator);

// All-gather with a gradient: concatenates every process's `local` (N x ...) in rank order;
// in backward, each process receives the sum over all processes of the gradient for its rows.
// `group` must outlive the backward pass. With one process it returns `local`.
at::Tensor AllGatherWithGradient(const at::Tensor& local, const ProcessGroupHandle& group);

// The inverse of a permutation: inverse[perm[i]] = i.
at::Tensor InversePermutation(const at::Tensor& perm);

}  // namespace moco

#endif  // MOCO_CONTRASTIVE_SHUFFLE_BN_H_
