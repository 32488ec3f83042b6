#include "moco/contrastive/key_queue.h"

#include <torch/nn/functional/normalization.h>

namespace moco {

KeyQueueImpl::KeyQueueImpl(int64_t size, int64_t dim) : size_(size), dim_(dim) {
  TORCH_CHECK(size > 0 && dim > 0, "KeyQueue: size and dim must be positive, got ", size, " and ", dim);
  reset();
}

void KeyQueueImpl::reset() {
  queue_ = register_buffer("queue", torch::nn::functional::normalize(
                                        torch::randn({size_, dim_}),
                                        torch::nn::functional::NormalizeFuncOptions().dim(1)));
  ptr_ = register_buffer("queue_ptr", torch::zeros({}, torch::kLong));
}

int64_t KeyQueueImpl::pointer() const { return ptr_.item<int64_t>(); }

void KeyQueueImpl::Enqueue(const torch::Tensor& keys) {
  TORCH_CHECK(keys.dim() == 2 && keys.size(1) == dim_, "KeyQueue: keys must be B x ", dim_, ", got ",
              keys.sizes());
  const int64_t batch = keys.size(0);
  TORCH_CHECK(size_ % batch == 0, "KeyQueue: the queue size ", size_,
              " must be divisible by the number of keys enqueued at once (", batch, ")");
  torch::NoGradGuard no_grad;
  const int64_t p = pointer();
  queue_.narrow(0, p, batch).copy_(keys.detach());
  ptr_.fill_((p + batch) % size_);
}

}  // namespace moco
