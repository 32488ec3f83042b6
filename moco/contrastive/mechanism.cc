#include "moco/contrastive/mechanism.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/record_function.h>
#include <torch/nn/functional/normalization.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "moco/common/status.h"
#include "moco/contrastive/info_nce.h"
#include "moco/contrastive/key_queue.h"
#include "moco/contrastive/memory_bank.h"
#include "moco/contrastive/momentum_update.h"
#include "moco/contrastive/shuffle_bn.h"
#include "moco/models/autocast.h"

namespace moco {
namespace {

// Encoder outputs to unit length, in at least float32 whatever precision the encoder ran in:
// under bf16 autocast only the encoders run in bfloat16; the contrastive head (logits, loss,
// queue, bank) runs in a Float32Scope. A float64 mechanism (the reference test's) stays float64.
at::Tensor Normalize(const at::Tensor& x) {
  Float32Scope fp32;
  const at::Tensor wide = at::isReducedFloatingType(x.scalar_type()) ? x.to(at::kFloat) : x;
  return torch::nn::functional::normalize(wide, torch::nn::functional::NormalizeFuncOptions().dim(1));
}

class MocoMechanism : public Mechanism {
 public:
  MocoMechanism(const config::ExperimentConfig& config, const ProcessGroupHandle& group)
      : config_(config.moco()), temperature_(config.temperature()), seed_(config.run().seed()), group_(group) {
    const ResNetOptions options = EncoderOptions(config, config.model().feature_dim());
    encoder_q_ = register_module("encoder_q", ResNet(options));
    encoder_k_ = register_module("encoder_k", ResNet(options));
    CopyEncoderWeights(*encoder_k_, *encoder_q_);
    queue_ = register_module("queue", KeyQueue(config_.queue_size(), config.model().feature_dim()));
  }

  absl::StatusOr<StepOutput> Forward(const TrainBatch& batch, int64_t step) override {
    at::Tensor k;
    MOCO_ASSIGN_OR_RETURN(StepOutput out, Contrast(batch.view_q, batch.view_k, step, 0, &k));
    if (config_.symmetric_loss()) {
      // Each view is the query once and the two losses add (CIFAR notebook); both key sets
      // are enqueued, after both logits are computed.
      at::Tensor k2;
      MOCO_ASSIGN_OR_RETURN(StepOutput second, Contrast(batch.view_k, batch.view_q, step, 1, &k2));
      out.loss = out.loss + second.loss;
      k = at::cat({k, k2});
    }
    RECORD_USER_SCOPE("moco/head");
    MOCO_ASSIGN_OR_RETURN(at::Tensor all_keys, group_.AllGather(k.contiguous()));  // global batch
    queue_->Enqueue(all_keys);
    return out;
  }

  ResNet query_encoder() override { return encoder_q_; }
  std::string name() const override { return "moco"; }

 private:
  // One direction of the loss; `keys` receives this pass's keys for the enqueue.
  absl::StatusOr<StepOutput> Contrast(const at::Tensor& view_q, const at::Tensor& view_k, int64_t step,
                                      int pass, at::Tensor* keys) {
    at::Tensor q = Normalize(encoder_q_->forward(view_q));  // N x C
    at::Tensor k;                                           // N x C, no gradient
    {
      torch::NoGradGuard no_grad;
      // The momentum update comes before the keys are computed (Algorithm 1), once per step.
      if (pass == 0) {
        RECORD_USER_SCOPE("moco/momentum_update");  // the scopes label //benchmarks:throughput's profile
        MomentumEncoderUpdate(*encoder_k_, *encoder_q_, config_.momentum());
      }
      RECORD_USER_SCOPE("moco/key_encoder");
      if (config_.shuffle_bn()) {
        MOCO_ASSIGN_OR_RETURN(k, ShuffledEncode([&](const at::Tensor& x) { return encoder_k_->forward(x); },
                                                view_k, group_, StepGenerator(seed_, step, pass)));
      } else {
        k = encoder_k_->forward(view_k);
      }
      k = Normalize(k);
    }
    RECORD_USER_SCOPE("moco/head");
    Float32Scope fp32;
    // The queue is cloned into the graph: it is overwritten in place by the enqueue below.
    at::Tensor logits = InfoNceLogits(q, k, queue_->keys().clone(), temperature_);  // N x (1 + K)
    *keys = k;
    return StepOutput{InfoNceLoss(logits), logits.detach(),
                      at::zeros({q.size(0)}, at::TensorOptions().dtype(at::kLong).device(q.device()))};
  }

  config::MocoConfig config_;
  double temperature_;
  uint64_t seed_;
  ProcessGroupHandle group_;
  ResNet encoder_q_{nullptr}, encoder_k_{nullptr};
  KeyQueue queue_{nullptr};
};

class EndToEndMechanism : public Mechanism {
 public:
  EndToEndMechanism(const config::ExperimentConfig& config, const ProcessGroupHandle& group)
      : temperature_(config.temperature()), seed_(config.run().seed()), group_(group) {
    encoder_q_ = register_module("encoder_q", ResNet(EncoderOptions(config, config.model().feature_dim())));
  }

  absl::StatusOr<StepOutput> Forward(const TrainBatch& batch, int64_t step) override {
    at::Tensor q = Normalize(encoder_q_->forward(batch.view_q));  // N x C
    const int64_t n = q.size(0);
    // Keys on a shuffled batch, as for MoCo, so BN groups cannot leak the positive.
    MOCO_ASSIGN_OR_RETURN(at::Tensor k, ShuffledEncode([&](const at::Tensor& x) { return encoder_q_->forward(x); },
                                                       batch.view_k, group_, StepGenerator(seed_, step, 0)));
    k = Normalize(k);                                          // N x C, with gradient
    // All keys of the global batch, all with gradient: K = global batch - 1 negatives.
    at::Tensor keys = AllGatherWithGradient(k, group_);        // (P*N) x C
    const int64_t offset = group_.rank() * n;
    RECORD_USER_SCOPE("moco/head");
    Float32Scope fp32;
    at::Tensor logits = q.matmul(keys.t()).div_(temperature_);  // N x (P*N); positive at offset + i
    at::Tensor targets = at::arange(offset, offset + n, at::TensorOptions().dtype(at::kLong).device(q.device()));
    return StepOutput{at::cross_entropy_loss(logits, targets), logits.detach(), targets};
  }

  ResNet query_encoder() override { return encoder_q_; }
  std::string name() const override { return "end_to_end"; }

 private:
  double temperature_;
  uint64_t seed_;
  ProcessGroupHandle group_;
  ResNet encoder_q_{nullptr};
};

class MemoryBankMechanism : public Mechanism {
 public:
  MemoryBankMechanism(const config::ExperimentConfig& config, int64_t num_train_images,
                      const ProcessGroupHandle& group)
      : config_(config.memory_bank()),
        temperature_(config.temperature()),
        seed_(config.run().seed()),
        num_train_images_(num_train_images),
        group_(group) {
    encoder_q_ = register_module("encoder_q", ResNet(EncoderOptions(config, config.model().feature_dim())));
    bank_ = register_module("bank", MemoryBank(num_train_images, config.model().feature_dim(),
                                               config_.bank_momentum()));
    // NCE's normaliser Z is estimated once, on the first batch (InstDisc); saved with the bank.
    nce_z_ = register_buffer("nce_z", at::zeros({}, at::kDouble));
  }

  absl::StatusOr<StepOutput> Forward(const TrainBatch& batch, int64_t step) override {
    at::Tensor q = Normalize(encoder_q_->forward(batch.view_q));  // N x C
    const int64_t n = q.size(0);
    // One draw for the global batch, of which each rank takes its rows: the negatives one
    // process would have drawn.
    at::Tensor picks = bank_->SampleIndices(n * group_.world_size(), config_.num_negatives(),
                                            StepGenerator(seed_, step, 100));  // (P*N) x K
    picks = picks.narrow(0, group_.rank() * n, n).to(q.device());                 // N x K
    RECORD_USER_SCOPE("moco/head");
    Float32Scope fp32;
    at::Tensor logits = bank_->Logits(q, batch.indices, picks, temperature_);      // N x (1 + K)
    at::Tensor loss;
    if (config_.loss() == config::MemoryBankConfig::NCE) {
      if (nce_z_.item<double>() == 0.0) {
        torch::NoGradGuard no_grad;
        at::Tensor mean = logits.exp().mean().to(at::kDouble).reshape({1});
        MOCO_RETURN_IF_ERROR(group_.AllReduceSum(mean));
        nce_z_.fill_(mean.item<double>() / group_.world_size() * static_cast<double>(num_train_images_));
      }
      loss = NceLoss(logits, nce_z_.item<double>(), num_train_images_);
    } else {
      loss = InfoNceLoss(logits);
    }
    // Every rank applies every rank's update, so the banks stay identical.
    MOCO_ASSIGN_OR_RETURN(at::Tensor all_q, group_.AllGather(q.detach().contiguous()));
    MOCO_ASSIGN_OR_RETURN(at::Tensor all_idx, group_.AllGather(batch.indices.to(q.device()).contiguous()));
    bank_->Update(all_idx, all_q);
    return StepOutput{loss, logits.detach(), at::zeros({n}, at::TensorOptions().dtype(at::kLong).device(q.device()))};
  }

  ResNet query_encoder() override { return encoder_q_; }
  std::string name() const override { return "memory_bank"; }

 private:
  config::MemoryBankConfig config_;
  double temperature_;
  uint64_t seed_;
  int64_t num_train_images_;
  ProcessGroupHandle group_;
  ResNet encoder_q_{nullptr};
  MemoryBank bank_{nullptr};
  at::Tensor nce_z_;
};

class SupervisedMechanism : public Mechanism {
 public:
  SupervisedMechanism(const config::ExperimentConfig& config, int num_classes) {
    ResNetOptions options = EncoderOptions(config, num_classes);
    options.head(HeadKind::kLinear);
    encoder_q_ = register_module("encoder_q", ResNet(options));
  }

  absl::StatusOr<StepOutput> Forward(const TrainBatch& batch, int64_t) override {
    at::Tensor logits = encoder_q_->forward(batch.view_q);  // N x classes
    Float32Scope fp32;
    logits = logits.to(at::kFloat);
    at::Tensor labels = batch.labels.to(logits.device());
    return StepOutput{at::cross_entropy_loss(logits, labels), logits.detach(), labels};
  }

  ResNet query_encoder() override { return encoder_q_; }
  std::string name() const override { return "supervised"; }

 private:
  ResNet encoder_q_{nullptr};
};

}  // namespace

at::Generator StepGenerator(uint64_t seed, int64_t step, uint64_t stream) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(step) * 0xBF58476D1CE4E5B9ULL + stream;
  x ^= x >> 31;
  return at::make_generator<at::CPUGeneratorImpl>(x);
}

ResNetOptions EncoderOptions(const config::ExperimentConfig& config, int out_dim) {
  const auto& model = config.model();
  return ResNetOptions(model.depth())
      .width_multiplier(model.width_multiplier())
      .cifar_stem(model.stem() == config::ModelConfig::CIFAR)
      .bn_splits(model.bn_splits())
      .head(model.head() == config::ModelConfig::MLP ? HeadKind::kMlp : HeadKind::kLinear)
      .out_dim(out_dim);
}

absl::StatusOr<std::unique_ptr<Mechanism>> CreateMechanism(const config::ExperimentConfig& config,
                                                           int64_t num_train_images, int num_classes,
                                                           const ProcessGroupHandle& group) {
  switch (config.mechanism_case()) {
    case config::ExperimentConfig::kMoco:
      return std::unique_ptr<Mechanism>(new MocoMechanism(config, group));
    case config::ExperimentConfig::kEndToEnd:
      return std::unique_ptr<Mechanism>(new EndToEndMechanism(config, group));
    case config::ExperimentConfig::kMemoryBank:
      if (num_train_images < 1) return absl::InvalidArgumentError("memory bank: the training set is empty");
      return std::unique_ptr<Mechanism>(new MemoryBankMechanism(config, num_train_images, group));
    case config::ExperimentConfig::kSupervised:
      if (num_classes < 2) {
        return absl::InvalidArgumentError(absl::StrCat("supervised: need at least 2 classes, got ", num_classes));
      }
      return std::unique_ptr<Mechanism>(new SupervisedMechanism(config, num_classes));
    case config::ExperimentConfig::MECHANISM_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("mechanism: one of moco, end_to_end, memory_bank, supervised must be set");
}

}  // namespace moco
