#include "eval/classification.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace moco {

ClassificationEvaluator::ClassificationEvaluator(std::vector<int> top_k) : top_k_(std::move(top_k)) {
  for (int k : top_k_) TORCH_CHECK(k >= 1, "ClassificationEvaluator: top-k needs k >= 1, got ", k);
  Reset();
}

void ClassificationEvaluator::Reset() {
  correct_.assign(top_k_.size(), 0);
  samples_ = 0;
  num_classes_ = 0;
}

absl::Status ClassificationEvaluator::Process(const ClassificationBatch& batch) {
  const at::Tensor& logits = batch.logits;
  if (!logits.defined() || logits.dim() != 2 || logits.size(1) < 1) {
    return absl::InvalidArgumentError(absl::StrCat("classification: logits must be N x C with C >= 1, got ",
                                                   logits.defined() ? c10::str(logits.sizes()) : "undefined"));
  }
  if (!batch.labels.defined() || batch.labels.dim() != 1 || batch.labels.size(0) != logits.size(0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "classification: labels must be a vector of ", logits.size(0), " (one per row of the logits), got ",
        batch.labels.defined() ? c10::str(batch.labels.sizes()) : "undefined"));
  }
  if (num_classes_ != 0 && logits.size(1) != num_classes_) {
    return absl::InvalidArgumentError(absl::StrCat("classification: this batch has ", logits.size(1),
                                                   " classes, earlier ones had ", num_classes_));
  }
  const int64_t n = logits.size(0);
  if (n == 0) return absl::OkStatus();
  num_classes_ = logits.size(1);
  const at::Tensor labels = batch.labels.to(logits.device(), at::kLong);
  const int64_t lowest = labels.min().item<int64_t>(), highest = labels.max().item<int64_t>();
  if (lowest < 0 || highest >= num_classes_) {
    return absl::InvalidArgumentError(absl::StrCat("classification: label ", lowest < 0 ? lowest : highest,
                                                   " is outside [0, ", num_classes_, ")"));
  }
  const int64_t max_k = std::min<int64_t>(*std::max_element(top_k_.begin(), top_k_.end()), num_classes_);
  const at::Tensor top = std::get<1>(logits.topk(max_k, /*dim=*/1));  // N x max_k, best first
  const at::Tensor hits = top.eq(labels.unsqueeze(1));                 // N x max_k, at most one true per row
  for (size_t i = 0; i < top_k_.size(); ++i) {
    const int64_t k = std::min<int64_t>(top_k_[i], num_classes_);
    correct_[i] += hits.narrow(1, 0, k).any(1).sum().item<int64_t>();
  }
  samples_ += n;
  return absl::OkStatus();
}

absl::StatusOr<Metrics> ClassificationEvaluator::Evaluate() {
  if (samples_ == 0) return absl::FailedPreconditionError("classification: no samples were processed");
  Metrics metrics;
  for (size_t i = 0; i < top_k_.size(); ++i) {
    metrics[absl::StrCat("top", top_k_[i])] = 100.0 * static_cast<double>(correct_[i]) / samples_;
  }
  return metrics;
}

}  // namespace moco
