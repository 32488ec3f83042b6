// bf16 autocast scopes for the forward passes (run.precision BF16, or PRECISION_AUTO on CUDA).
// The encoders run inside a Bf16Autocast (convolutions and matrix products in bfloat16, weights
// and BN statistics float32); the contrastive head runs inside a Float32Scope, so that its
// logits and loss are float32 as its inputs are cast to float32 first.
//
//   {
//     moco::Bf16Autocast autocast(device, bf16);
//     at::Tensor q = encoder->forward(images).to(at::kFloat);
//     moco::Float32Scope fp32;
//     at::Tensor logits = q.matmul(queue.t());  // float32
//   }
#ifndef MOCO_MODELS_AUTOCAST_H_
#define MOCO_MODELS_AUTOCAST_H_

#include <c10/core/Device.h>

namespace moco {

// bf16 autocast on `device`'s type while alive, when `enabled` (otherwise nothing). Restores the
// state it found and, leaving the outermost scope, drops autocast's cache of cast weights.
class Bf16Autocast {
 public:
  Bf16Autocast(c10::Device device, bool enabled);
  ~Bf16Autocast();
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  c10::DeviceType type_;
  bool enabled_;
  bool was_enabled_ = false;
};

// No autocast on the CPU or CUDA while alive; restores what it found.
class Float32Scope {
 public:
  Float32Scope();
  ~Float32Scope();
  Float32Scope(const Float32Scope&) = delete;
  Float32Scope& operator=(const Float32Scope&) = delete;

 private:
  bool cpu_was_enabled_, cuda_was_enabled_;
};

}  // namespace moco

#endif  // MOCO_MODELS_AUTOCAST_H_
