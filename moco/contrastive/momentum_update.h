// The key encoder's momentum update, theta_k <- m * theta_k + (1 - m) * theta_q, applied to
// parameters only: BN running statistics of the key encoder are its own (as in the official
// code), computed from the key batches it normalises.
//
//   CopyEncoderWeights(*encoder_k, *encoder_q);          // once, at construction
//   MomentumEncoderUpdate(*encoder_k, *encoder_q, 0.999);  // every step, before the keys
#ifndef MOCO_CONTRASTIVE_MOMENTUM_UPDATE_H_
#define MOCO_CONTRASTIVE_MOMENTUM_UPDATE_H_

#include <torch/nn/module.h>

namespace moco {

// In place, without gradients. Both modules must have the same parameter list.
void MomentumEncoderUpdate(torch::nn::Module& key, const torch::nn::Module& query, double momentum);

// Copies every parameter and buffer of `query` into `key` and stops gradients into `key`.
void CopyEncoderWeights(torch::nn::Module& key, const torch::nn::Module& query);

}  // namespace moco

#endif  // MOCO_CONTRASTIVE_MOMENTUM_UPDATE_H_
