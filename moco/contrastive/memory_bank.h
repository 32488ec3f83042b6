// MemoryBank: one feature per training image (InstDisc, Wu et al. 2018), as the paper's
// improved re-implementation uses it: negatives are sampled uniformly from the bank, and the
// entry of each image moves toward its new feature, v <- normalize(m * v + (1 - m) * f).
// The bank is a registered buffer, saved with checkpoints.
//
//   MemoryBank bank(/*num_entries=*/50000, /*dim=*/128, /*momentum=*/0.5);
//   torch::Tensor positives = bank->Lookup(indices);              // N x 128
//   torch::Tensor negatives = bank->Lookup(bank->SampleIndices(n, k, generator));  // N x K x 128
//   bank->Update(indices, q.detach());
#ifndef MOCO_CONTRASTIVE_MEMORY_BANK_H_
#define MOCO_CONTRASTIVE_MEMORY_BANK_H_

#include <ATen/core/Generator.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <optional>

namespace moco {

class MemoryBankImpl : public torch::nn::Cloneable<MemoryBankImpl> {
 public:
  MemoryBankImpl(int64_t num_entries, int64_t dim, double momentum);
  // Random unit vectors, as InstDisc starts.
  void reset() override;

  // Rows `indices` (int64, any shape S) of the bank: S x dim. A copy.
  torch::Tensor Lookup(const torch::Tensor& indices) const;
  // `count` x `k` entry indices drawn uniformly with replacement.
  torch::Tensor SampleIndices(int64_t count, int64_t k, at::Generator generator) const;
  // InfoNCE logits, N x (1 + K), of queries q (N x C) against their own entries `indices` (N;
  // column 0) and the sampled entries `picks` (N x K), divided by `temperature`. A small bank
  // is scored whole and the sampled columns picked (less memory traffic than gathering
  // N x K x C negatives); a large one is gathered. `score_all` forces one way (tests).
  torch::Tensor Logits(const torch::Tensor& q, const torch::Tensor& indices, const torch::Tensor& picks,
                       double temperature, std::optional<bool> score_all = std::nullopt) const;
  // bank[i] <- normalize(m * bank[i] + (1 - m) * features[row of i]); features N x dim.
  void Update(const torch::Tensor& indices, const torch::Tensor& features);

  const torch::Tensor& entries() const { return bank_; }
  int64_t size() const { return num_entries_; }

 private:
  int64_t num_entries_, dim_;
  double momentum_;
  torch::Tensor bank_;  // num_entries x dim, buffer "bank"
};
TORCH_MODULE(MemoryBank);

}  // namespace moco

#endif  // MOCO_CONTRASTIVE_MEMORY_BANK_H_
