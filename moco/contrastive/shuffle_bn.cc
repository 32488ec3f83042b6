#include "moco/contrastive/shuffle_bn.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include "moco/common/status.h"

namespace moco {

namespace {

class GatherFunction : public torch::autograd::Function<GatherFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& local,
                            const ProcessGroupHandle* group) {
    ctx->saved_data["group"] = reinterpret_cast<int64_t>(group);
    ctx->saved_data["rows"] = local.size(0);
    absl::StatusOr<at::Tensor> gathered = group->AllGather(local.detach().contiguous());
    TORCH_CHECK(gathered.ok(), "all-gather failed: ", std::string(gathered.status().message()));
    return *gathered;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto* group = reinterpret_cast<const ProcessGroupHandle*>(ctx->saved_data["group"].toInt());
    const int64_t rows = ctx->saved_data["rows"].toInt();
    at::Tensor grad = grads[0].contiguous().clone();
    absl::Status status = group->AllReduceSum(grad);
    TORCH_CHECK(status.ok(), "all-reduce of the all-gather gradient failed: ", std::string(status.message()));
    return {grad.narrow(0, group->rank() * rows, rows), at::Tensor()};
  }
};

}  // namespace

at::Tensor AllGatherWithGradient(const at::Tensor& local, const ProcessGroupHandle& group) {
  if (group.world_size() == 1) return local;
  return GatherFunction::apply(local, &group);
}

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
  // Images need no gradient; keys keep theirs across processes (end-to-end trains through them).
  MOCO_ASSIGN_OR_RETURN(at::Tensor all_images, group.AllGather(images.detach().contiguous()));  // (P*N) x ...
  at::Tensor perm = at::randperm(world * n, generator, at::TensorOptions().dtype(at::kLong));
  perm = perm.to(images.device());
  MOCO_RETURN_IF_ERROR(group.Broadcast(perm, /*root=*/0));
  const int rank = group.rank();
  at::Tensor local = encode(all_images.index_select(0, perm.narrow(0, rank * n, n)));  // N x C
  at::Tensor all_keys = AllGatherWithGradient(local, group);  // (P*N) x C
  // Row j of all_keys belongs to global image perm[j]; ours are images rank*n .. rank*n+n-1.
  at::Tensor mine = InversePermutation(perm).narrow(0, rank * n, n);
  return all_keys.index_select(0, mine);
}

}  // namespace moco
