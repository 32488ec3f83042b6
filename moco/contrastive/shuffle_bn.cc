#include "moco/contrastive/shuffle_bn.h"

#include <ATen/ATen.h>

#include "moco/common/status.h"

namespace moco {

at::Tensor InversePermutation(const at::Tensor& perm) {
  at::Tensor inverse = at::empty_like(perm);
  inverse.index_put_({perm}, at::arange(perm.size(0), perm.options()));
  return inverse;
}

absl::StatusOr<at::Tensor> ShuffledEncode(const Encoder& encode, const at::Tensor& images,
                                          const ProcessGroupHandle& group, at::Generator generator) {
  const int64_t n = images.size(0);
  const int world = group.world_size();
  if (world == 1) {
    at::Tensor perm = at::randperm(n, generator, at::TensorOptions().dtype(at::kLong)).to(images.device());
    at::Tensor keys = encode(images.index_select(0, perm));      // keys of the shuffled batch
    return keys.index_select(0, InversePermutation(perm));      // N x C, original order
  }
  // Keys need no gradient across processes: MoCo's key encoder has none, and end-to-end
  // gathers only for negatives. Images are gathered without autograd.
  MOCO_ASSIGN_OR_RETURN(at::Tensor all_images, group.AllGather(images.contiguous()));  // (P*N) x ...
  at::Tensor perm = at::randperm(world * n, generator, at::TensorOptions().dtype(at::kLong));
  perm = perm.to(images.device());
  MOCO_RETURN_IF_ERROR(group.Broadcast(perm, /*root=*/0));
  const int rank = group.rank();
  at::Tensor local = encode(all_images.index_select(0, perm.narrow(0, rank * n, n)));  // N x C
  MOCO_ASSIGN_OR_RETURN(at::Tensor all_keys, group.AllGather(local.detach().contiguous()));  // (P*N) x C
  // Row j of all_keys belongs to global image perm[j]; ours are images rank*n .. rank*n+n-1.
  at::Tensor mine = InversePermutation(perm).narrow(0, rank * n, n);
  return all_keys.index_select(0, mine);
}

}  // namespace moco
