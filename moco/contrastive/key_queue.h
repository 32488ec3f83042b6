// KeyQueue: MoCo's dictionary, a FIFO of the K most recent keys. The keys and the write
// pointer are registered buffers, so they are saved with a checkpoint and restored on resume.
//
//   KeyQueue queue(/*size=*/4096, /*dim=*/128);
//   torch::Tensor l_neg = q.matmul(queue->keys().t());  // N x K
//   queue->Enqueue(k);                                   // after the logits: k is B x 128
#ifndef MOCO_CONTRASTIVE_KEY_QUEUE_H_
#define MOCO_CONTRASTIVE_KEY_QUEUE_H_

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

namespace moco {

class KeyQueueImpl : public torch::nn::Cloneable<KeyQueueImpl> {
 public:
  KeyQueueImpl(int64_t size, int64_t dim);
  // Fills the queue with random unit vectors (as the official code does) and rewinds it.
  void reset() override;

  // Overwrites the oldest B entries with `keys` (B x dim, unit rows) and advances the pointer.
  // B must divide the queue size, so a batch never wraps around the end.
  void Enqueue(const torch::Tensor& keys);

  // K x dim; row i is a key. Callers that keep it in an autograd graph must clone it first,
  // since Enqueue writes into it in place.
  const torch::Tensor& keys() const { return queue_; }
  int64_t size() const { return size_; }
  int64_t pointer() const;

 private:
  int64_t size_, dim_;
  torch::Tensor queue_;  // K x dim, buffer "queue"
  torch::Tensor ptr_;    // scalar int64, buffer "queue_ptr"
};
TORCH_MODULE(KeyQueue);

}  // namespace moco

#endif  // MOCO_CONTRASTIVE_KEY_QUEUE_H_
