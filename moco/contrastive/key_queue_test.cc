#include "moco/contrastive/key_queue.h"

#include <torch/torch.h>

#include "gtest/gtest.h"

namespace moco {
namespace {

TEST(KeyQueueTest, StartsWithUnitKeysAtPointerZero) {
  KeyQueue queue(8, 4);
  EXPECT_EQ(queue->keys().sizes(), torch::IntArrayRef({8, 4}));
  EXPECT_TRUE(torch::allclose(queue->keys().norm(2, 1), torch::ones({8}), 1e-5, 1e-5));
  EXPECT_EQ(queue->pointer(), 0);
}

TEST(KeyQueueTest, EnqueueOverwritesOldestAndWrapsAround) {
  KeyQueue queue(6, 2);
  auto batch = [](float v) { return torch::full({2, 2}, v); };
  queue->Enqueue(batch(1));
  queue->Enqueue(batch(2));
  EXPECT_EQ(queue->pointer(), 4);
  queue->Enqueue(batch(3));
  EXPECT_EQ(queue->pointer(), 0);  // wrapped
  queue->Enqueue(batch(4));        // overwrites the oldest (the 1s)
  EXPECT_EQ(queue->pointer(), 2);
  torch::Tensor expected = torch::tensor({4.f, 4.f, 2.f, 2.f, 3.f, 3.f}).view({6, 1}).expand({6, 2});
  EXPECT_TRUE(torch::equal(queue->keys(), expected));
}

TEST(KeyQueueTest, BatchMustDivideQueueSize) {
  KeyQueue queue(6, 2);
  EXPECT_THROW(queue->Enqueue(torch::ones({4, 2})), c10::Error);
  EXPECT_THROW(queue->Enqueue(torch::ones({2, 3})), c10::Error);  // wrong dim
}

TEST(KeyQueueTest, QueueAndPointerAreCheckpointedBuffers) {
  KeyQueue queue(4, 2);
  queue->Enqueue(torch::ones({2, 2}));
  auto buffers = queue->named_buffers();
  ASSERT_TRUE(buffers.contains("queue"));
  ASSERT_TRUE(buffers.contains("queue_ptr"));
  EXPECT_EQ(buffers["queue_ptr"].item<int64_t>(), 2);
}

}  // namespace
}  // namespace moco
