// The three contrastive mechanisms of the paper (Figure 2) and the supervised reference,
// behind one interface that the trainer drives. They share the encoder (ResNet), the loss
// (InfoNCE) and everything around the step; they differ only in where keys come from:
//
//   MoCo:         q = f_q(x_q); momentum-update f_k; k = f_k(shuffled x_k);
//                 logits = [q.k, q.queue] / T; loss = CE(logits, 0); enqueue(k).
//   end-to-end:   q = f_q(x_q), k = f_q(x_k) with gradients; the other keys of the global
//                 batch are the negatives (K = global batch - 1).
//   memory bank:  q = f_q(x_q); positive bank[i], K negatives sampled from the bank;
//                 bank[i] <- normalize(0.5 * bank[i] + 0.5 * q).
//   supervised:   logits = f(x_q) over the classes; loss = CE(logits, label).
//
//   MOCO_ASSIGN_OR_RETURN(std::unique_ptr<Mechanism> mechanism,
//                         CreateMechanism(config, num_train_images, num_classes, group));
//   MOCO_ASSIGN_OR_RETURN(StepOutput out, mechanism->Forward(batch, step));
//   out.loss.backward();
#ifndef MOCO_CONTRASTIVE_MECHANISM_H_
#define MOCO_CONTRASTIVE_MECHANISM_H_

#include <ATen/core/Generator.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "configs/experiment.pb.h"
#include "moco/data/batch.h"
#include "moco/distributed/process_group.h"
#include "moco/models/resnet.h"

namespace moco {

// This process's share of one global batch.
struct StepOutput {
  at::Tensor loss;     // scalar, with autograd graph
  at::Tensor logits;   // N x (1 + K) pretext logits (or N x classes), detached
  at::Tensor targets;  // N, int64: the correct column of each row of `logits`
};

class Mechanism : public torch::nn::Module {
 public:
  // Forward pass of one step, including the mechanism's own state updates (momentum update,
  // enqueue, bank update). `step` (the global optimizer step) seeds its randomness, so a
  // resumed run draws what the uninterrupted one would have.
  virtual absl::StatusOr<StepOutput> Forward(const TrainBatch& batch, int64_t step) = 0;
  // The encoder whose representation is evaluated (kNN monitor, linear probe).
  virtual ResNet query_encoder() = 0;
  virtual std::string name() const = 0;
};

// Builds the mechanism named by config.mechanism(). `num_train_images` sizes the memory bank;
// `num_classes` the supervised classifier. `group` is this process's group (world 1 when alone).
absl::StatusOr<std::unique_ptr<Mechanism>> CreateMechanism(const config::ExperimentConfig& config,
                                                           int64_t num_train_images, int num_classes,
                                                           const ProcessGroupHandle& group);

// The encoder a config describes, with `out_dim` outputs.
ResNetOptions EncoderOptions(const config::ExperimentConfig& config, int out_dim);

// The generator of a training step's random choices: the same on every rank, and the same after a
// resume, whatever else has drawn random numbers. The key shuffle of MoCo's pass p draws from
// stream p, end-to-end's from stream 0, the memory bank's negatives from stream 100.
at::Generator StepGenerator(uint64_t seed, int64_t step, uint64_t stream);

}  // namespace moco

#endif  // MOCO_CONTRASTIVE_MECHANISM_H_
