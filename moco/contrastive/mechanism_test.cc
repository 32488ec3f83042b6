#include "moco/contrastive/mechanism.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "configs/config.h"
#include "gtest/gtest.h"
#include "moco/distributed/single_process_group.h"
#include "moco/models/autocast.h"

namespace moco {
namespace {

config::ExperimentConfig Config(const std::string& mechanism) {
  absl::StatusOr<config::ExperimentConfig> config = ParseConfig(
      "data { format: IMAGE_FOLDER root: \"x\" image_size: 16 }\n"
      "model { depth: 18 width_multiplier: 0.125 stem: CIFAR bn_splits: 2 feature_dim: 8 }\n"
      "temperature: 0.1\n"
      "optim { batch_size: 8 }\n" +
          mechanism,
      "test");
  EXPECT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(Validate(*config).ok()) << Validate(*config);
  return *config;
}

TrainBatch Batch(int n) {
  TrainBatch batch;
  batch.view_q = torch::randn({n, 3, 16, 16});
  batch.view_k = batch.view_q + 0.1 * torch::randn({n, 3, 16, 16});
  batch.indices = torch::arange(n, torch::kLong) * 3;
  batch.labels = torch::arange(n, torch::kLong) % 4;
  return batch;
}

std::unique_ptr<Mechanism> Create(const config::ExperimentConfig& config) {
  auto mechanism = CreateMechanism(config, /*num_train_images=*/100, /*num_classes=*/4, SingleProcessGroup());
  EXPECT_TRUE(mechanism.ok()) << mechanism.status();
  return std::move(*mechanism);
}

// Under bf16 autocast (run.precision BF16) only the encoders run in bfloat16: every mechanism's
// logits and loss, and the queue and bank, are float32.
TEST(MechanismTest, UnderBf16AutocastTheHeadStaysFloat32) {
  for (const std::string mechanism : {"moco { queue_size: 32 }", "end_to_end {}", "memory_bank { num_negatives: 16 }",
                                      "supervised {}"}) {
    SCOPED_TRACE(mechanism);
    torch::manual_seed(0);
    auto m = Create(Config(mechanism));
    absl::StatusOr<StepOutput> out;
    {
      Bf16Autocast autocast(c10::Device(c10::kCPU), /*enabled=*/true);
      out = m->Forward(Batch(8), 0);
    }
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->logits.scalar_type(), at::kFloat);
    EXPECT_EQ(out->loss.scalar_type(), at::kFloat);
    EXPECT_TRUE(std::isfinite(out->loss.item<double>()));
    for (const auto& buffer : m->named_buffers()) {
      if (buffer.value().is_floating_point()) {
        EXPECT_NE(buffer.value().scalar_type(), at::kBFloat16) << buffer.key();
      }
    }
  }
}

// InfoNCE written out plainly, in double: for each row, log(sum_j exp(l_j)) - l_target (with the
// row's maximum subtracted first), averaged over the rows. Independent of the cross-entropy
// call the mechanisms use.
double InfoNceByHand(const at::Tensor& logits, const at::Tensor& targets) {
  const at::Tensor l = logits.to(at::kDouble).contiguous();
  const double* p = l.data_ptr<double>();
  const int64_t rows = l.size(0), cols = l.size(1);
  double sum = 0;
  for (int64_t i = 0; i < rows; ++i) {
    double top = p[i * cols];
    for (int64_t j = 1; j < cols; ++j) top = std::max(top, p[i * cols + j]);
    double exps = 0;
    for (int64_t j = 0; j < cols; ++j) exps += std::exp(p[i * cols + j] - top);
    sum += top + std::log(exps) - p[i * cols + targets[i].item<int64_t>()];
  }
  return sum / rows;
}

TEST(MechanismTest, MocoLogitsQueueAndMomentum) {
  torch::manual_seed(0);
  auto mechanism = Create(Config("moco { queue_size: 32 momentum: 0 }"));
  auto buffers = mechanism->named_buffers();
  torch::Tensor queue_before = buffers["queue.queue"].clone();
  absl::StatusOr<StepOutput> out = mechanism->Forward(Batch(8), 0);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->logits.sizes(), torch::IntArrayRef({8, 33}));  // 1 positive + K negatives
  EXPECT_TRUE(torch::equal(out->targets, torch::zeros({8}, torch::kLong)));
  EXPECT_NEAR(out->loss.item<double>(), InfoNceByHand(out->logits, out->targets), 1e-5);
  // The views differ by little noise and f_k = f_q, while the queue holds random keys: the
  // positive is already easy to find, so the loss is well below chance, ln(1 + K).
  EXPECT_LT(out->loss.item<double>(), std::log(33.0) - 1.0);
  // The keys went into the first 8 slots of the queue; the rest is untouched.
  EXPECT_EQ(buffers["queue.queue_ptr"].item<int64_t>(), 8);
  EXPECT_FALSE(torch::allclose(buffers["queue.queue"].narrow(0, 0, 8), queue_before.narrow(0, 0, 8)));
  EXPECT_TRUE(torch::equal(buffers["queue.queue"].narrow(0, 8, 24), queue_before.narrow(0, 8, 24)));
  // m = 0: the key encoder equals the query encoder after the update.
  auto params = mechanism->named_parameters();
  EXPECT_TRUE(torch::equal(params["encoder_q.conv1.weight"], params["encoder_k.conv1.weight"]));
  // Only the query encoder is trained.
  out->loss.backward();
  EXPECT_TRUE(params["encoder_q.conv1.weight"].grad().defined());
  EXPECT_FALSE(params["encoder_k.conv1.weight"].grad().defined());
}

TEST(MechanismTest, MocoSymmetricEnqueuesBothViews) {
  auto mechanism = Create(Config("moco { queue_size: 32 symmetric_loss: true }"));
  ASSERT_TRUE(mechanism->Forward(Batch(8), 0).ok());
  EXPECT_EQ(mechanism->named_buffers()["queue.queue_ptr"].item<int64_t>(), 16);
}

TEST(MechanismTest, EndToEndNegativesAreTheOtherKeysOfTheBatch) {
  torch::manual_seed(0);
  auto mechanism = Create(Config("end_to_end {}"));
  absl::StatusOr<StepOutput> out = mechanism->Forward(Batch(8), 0);
  ASSERT_TRUE(out.ok()) << out.status();
  // Row i: its own key (the positive, column i) and the 7 other keys: K = batch - 1.
  EXPECT_EQ(out->logits.sizes(), torch::IntArrayRef({8, 8}));
  EXPECT_TRUE(torch::equal(out->targets, torch::arange(8, torch::kLong)));
  EXPECT_NEAR(out->loss.item<double>(), InfoNceByHand(out->logits, out->targets), 1e-5);
  // Keys come from the query encoder with gradients: the key view's pixels get a gradient.
  TrainBatch batch = Batch(8);
  batch.view_k.set_requires_grad(true);
  auto again = mechanism->Forward(batch, 1);
  ASSERT_TRUE(again.ok());
  again->loss.backward();
  ASSERT_TRUE(batch.view_k.grad().defined());
  EXPECT_GT(batch.view_k.grad().abs().sum().item<float>(), 0.0f);
}

TEST(MechanismTest, MemoryBankUsesAndUpdatesTheBankEntries) {
  torch::manual_seed(0);
  auto mechanism = Create(Config("memory_bank { num_negatives: 20 }"));
  torch::Tensor bank_before = mechanism->named_buffers()["bank.bank"].clone();
  TrainBatch batch = Batch(8);  // indices 0, 3, ..., 21
  absl::StatusOr<StepOutput> out = mechanism->Forward(batch, 0);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->logits.sizes(), torch::IntArrayRef({8, 21}));
  torch::Tensor bank = mechanism->named_buffers()["bank.bank"];
  for (int i = 0; i < 100; ++i) {
    const bool updated = i % 3 == 0 && i <= 21;
    EXPECT_EQ(torch::equal(bank[i], bank_before[i]), !updated) << "entry " << i;
  }
  EXPECT_TRUE(torch::allclose(bank.norm(2, 1), torch::ones({100}), 1e-5, 1e-5));
}

TEST(MechanismTest, MemoryBankNceLossIsFinite) {
  auto mechanism = Create(Config("memory_bank { num_negatives: 20 loss: NCE }"));
  absl::StatusOr<StepOutput> out = mechanism->Forward(Batch(8), 0);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(std::isfinite(out->loss.item<double>()));
  EXPECT_GT(mechanism->named_buffers()["nce_z"].item<double>(), 0.0);
}

TEST(MechanismTest, SupervisedClassifiesLabels) {
  auto mechanism = Create(Config("supervised {}"));
  absl::StatusOr<StepOutput> out = mechanism->Forward(Batch(8), 0);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->logits.sizes(), torch::IntArrayRef({8, 4}));
  EXPECT_TRUE(torch::equal(out->targets, torch::arange(8, torch::kLong) % 4));
}

}  // namespace
}  // namespace moco
