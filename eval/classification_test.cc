#include "eval/classification.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace moco {
namespace {

// Rows ranked by hand: the label sits at rank 1, 2 (top-1 miss), 3 (top-2 miss) and 1.
ClassificationBatch Batch() {
  at::Tensor logits = at::tensor({0.1f, 0.5f, 0.4f,    // label 1: rank 1
                                  0.9f, 0.02f, 0.08f,  // label 2: rank 2
                                  0.2f, 0.3f, 0.5f,    // label 0: rank 3
                                  0.6f, 0.3f, 0.1f})   // label 0: rank 1
                          .view({4, 3});
  return {logits, at::tensor({1, 2, 0, 0}, at::kLong)};
}

TEST(ClassificationEvaluatorTest, CountsTopKWithKCappedAtTheClassCount) {
  ClassificationEvaluator evaluator({1, 2, 5});
  evaluator.Reset();
  const ClassificationBatch batch = Batch();
  // In two batches, to check that counts accumulate.
  ASSERT_TRUE(evaluator.Process({batch.logits.narrow(0, 0, 1), batch.labels.narrow(0, 0, 1)}).ok());
  ASSERT_TRUE(evaluator.Process({batch.logits.narrow(0, 1, 3), batch.labels.narrow(0, 1, 3)}).ok());
  absl::StatusOr<Metrics> metrics = evaluator.Evaluate();
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_DOUBLE_EQ(metrics->at("top1"), 50.0);
  EXPECT_DOUBLE_EQ(metrics->at("top2"), 75.0);
  EXPECT_DOUBLE_EQ(metrics->at("top5"), 100.0);  // 3 classes: every label is in the top 3
}

TEST(ClassificationEvaluatorTest, ResetStartsOver) {
  ClassificationEvaluator evaluator;
  ASSERT_TRUE(evaluator.Process(Batch()).ok());
  evaluator.Reset();
  EXPECT_EQ(evaluator.Evaluate().status().code(), absl::StatusCode::kFailedPrecondition);
  const ClassificationBatch batch = Batch();
  ASSERT_TRUE(evaluator.Process({batch.logits.narrow(0, 3, 1), batch.labels.narrow(0, 3, 1)}).ok());
  EXPECT_DOUBLE_EQ(evaluator.Evaluate()->at("top1"), 100.0);
}

TEST(ClassificationEvaluatorTest, RejectsBadBatches) {
  ClassificationEvaluator evaluator;
  const ClassificationBatch batch = Batch();
  EXPECT_EQ(evaluator.Process({batch.logits, batch.labels.narrow(0, 0, 3)}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(evaluator.Process({batch.logits, at::tensor({1, 2, 3, 0}, at::kLong)}).code(),
            absl::StatusCode::kInvalidArgument);  // label 3 of 3 classes
  EXPECT_EQ(evaluator.Process({batch.logits.view({12}), batch.labels}).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(evaluator.Process(batch).ok());
  EXPECT_EQ(evaluator.Process({at::zeros({2, 5}), at::zeros({2}, at::kLong)}).code(),
            absl::StatusCode::kInvalidArgument);  // 5 classes after 3
}

}  // namespace
}  // namespace moco
