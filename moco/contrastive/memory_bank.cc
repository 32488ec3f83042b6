#include "moco/contrastive/memory_bank.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/normalization.h>

#include "moco/contrastive/info_nce.h"

namespace moco {
namespace {

torch::Tensor UnitRows(const torch::Tensor& x) {
  return torch::nn::functional::normalize(x, torch::nn::functional::NormalizeFuncOptions().dim(1));
}

}  // namespace

MemoryBankImpl::MemoryBankImpl(int64_t num_entries, int64_t dim, double momentum)
    : num_entries_(num_entries), dim_(dim), momentum_(momentum) {
  TORCH_CHECK(num_entries > 0 && dim > 0, "MemoryBank: sizes must be positive, got ", num_entries, " x ", dim);
  TORCH_CHECK(momentum >= 0 && momentum < 1, "MemoryBank: momentum must be in [0, 1), got ", momentum);
  reset();
}

void MemoryBankImpl::reset() { bank_ = register_buffer("bank", UnitRows(torch::randn({num_entries_, dim_}))); }

torch::Tensor MemoryBankImpl::Lookup(const torch::Tensor& indices) const {
  std::vector<int64_t> shape = indices.sizes().vec();
  shape.push_back(dim_);
  return bank_.index_select(0, indices.reshape(-1).to(bank_.device())).view(shape);
}

torch::Tensor MemoryBankImpl::SampleIndices(int64_t count, int64_t k, at::Generator generator) const {
  return at::randint(num_entries_, {count, k}, generator, at::TensorOptions().dtype(at::kLong));
}

torch::Tensor MemoryBankImpl::Logits(const torch::Tensor& q, const torch::Tensor& indices, const torch::Tensor& picks,
                                     double temperature, std::optional<bool> score_all) const {
  const torch::Tensor positives = Lookup(indices);  // N x C
  if (!score_all.value_or(num_entries_ <= picks.size(1) * dim_)) {
    return InfoNceLogitsPerQuery(q, positives, Lookup(picks), temperature);  // gathers N x K x C
  }
  // The bank is cloned into the graph: Update() writes it in place before backward.
  const torch::Tensor l_pos = (q * positives).sum(1, /*keepdim=*/true);            // N x 1
  const torch::Tensor l_neg = q.matmul(bank_.clone().t()).gather(1, picks.to(q.device()));  // N x K
  return at::cat({l_pos, l_neg}, 1).div_(temperature);
}

void MemoryBankImpl::Update(const torch::Tensor& indices, const torch::Tensor& features) {
  TORCH_CHECK(features.dim() == 2 && features.size(1) == dim_ && indices.size(0) == features.size(0),
              "MemoryBank::Update: ", indices.sizes(), " indices for features ", features.sizes());
  torch::NoGradGuard no_grad;
  torch::Tensor idx = indices.to(bank_.device());
  torch::Tensor mixed = bank_.index_select(0, idx) * momentum_ + features.detach() * (1.0 - momentum_);
  bank_.index_copy_(0, idx, UnitRows(mixed));
}

}  // namespace moco
