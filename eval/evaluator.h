// The shape of a streaming evaluator: Reset() starts a pass, Process() takes one batch of model
// outputs with their ground truth, Evaluate() returns the pass's named metrics. Linear
// classification's test pass uses it (ClassificationEvaluator); the kNN monitor
// (moco/train/knn_monitor.h) needs all features at once and detection its own COCO evaluation
// (eval/detection/coco_eval.h), so they do not. The *_main.cc binaries write those metrics as a RunRecord
// (configs/record.proto) with moco::WriteRecord.
//
//   ClassificationEvaluator eval(/*top_k=*/{1, 5});
//   eval.Reset();
//   for (...) MOCO_RETURN_IF_ERROR(eval.Process({logits, labels}));
//   MOCO_ASSIGN_OR_RETURN(Metrics m, eval.Evaluate());   // {"top1": 61.2, "top5": 96.0}
#ifndef MOCO_EVAL_EVALUATOR_H_
#define MOCO_EVAL_EVALUATOR_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace moco {

// Metric name -> value. Accuracies and APs are in percent.
using Metrics = std::map<std::string, double>;

template <typename Batch>
class Evaluator {
 public:
  virtual ~Evaluator() = default;
  virtual void Reset() = 0;
  virtual absl::Status Process(const Batch& batch) = 0;
  virtual absl::StatusOr<Metrics> Evaluate() = 0;
};

}  // namespace moco

#endif  // MOCO_EVAL_EVALUATOR_H_
