// Top-k classification accuracy, in the evaluator shape of eval/evaluator.h: each batch brings
// a classifier's logits and the true labels; Evaluate() gives "top1", "top5", ... in percent.
// k is capped at the number of classes (top-5 of a 4-class problem counts every sample).
//
//   ClassificationEvaluator evaluator;  // top-1 and top-5
//   evaluator.Reset();
//   MOCO_RETURN_IF_ERROR(evaluator.Process({classifier(features), labels}));  // N x C, N
//   MOCO_ASSIGN_OR_RETURN(Metrics metrics, evaluator.Evaluate());           // {"top1": .., "top5": ..}
#ifndef MOCO_EVAL_CLASSIFICATION_H_
#define MOCO_EVAL_CLASSIFICATION_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "eval/evaluator.h"

namespace moco {

struct ClassificationBatch {
  at::Tensor logits;  // N x C, any floating type, any device
  at::Tensor labels;  // N, int64, each in [0, C)
};

class ClassificationEvaluator : public Evaluator<ClassificationBatch> {
 public:
  // Reports "top<k>" for each k (each >= 1).
  explicit ClassificationEvaluator(std::vector<int> top_k = {1, 5});

  void Reset() override;
  // InvalidArgument when the shapes disagree, a label is out of range, or the number of
  // classes changes between batches.
  absl::Status Process(const ClassificationBatch& batch) override;
  // FailedPrecondition before any sample was processed.
  absl::StatusOr<Metrics> Evaluate() override;

 private:
  std::vector<int> top_k_;
  std::vector<int64_t> correct_;  // per entry of top_k_
  int64_t samples_ = 0;
  int64_t num_classes_ = 0;
};

}  // namespace moco

#endif  // MOCO_EVAL_CLASSIFICATION_H_
