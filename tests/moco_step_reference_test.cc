// MoCo, end-to-end and memory-bank training steps against an independent PyTorch-Python implementation
// (tests/moco_step_reference_test.py, written from the paper's Algorithm 1): the same initial
// weights and images, three SGD steps, then the losses, both encoders' weights and BN
// statistics, and the queue must agree. This checks the whole step (momentum update before the
// keys, logits against the queue, loss, weight decay and momentum SGD, enqueue and the
// pointer's wrap-around) rather than each piece alone; with BN over two groups of the batch in
// float64, shuffle BN too (which images share BN statistics, and the groups' running averages).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "configs/config.h"
#include "eval/encoder_io.h"
#include "moco/contrastive/mechanism.h"
#include "moco/distributed/single_process_group.h"
#include "moco/train/trainer.h"
#include "tests/python_reference.h"

namespace moco {
namespace {

// ResNet-18 at full width, so that torchvision's resnet18 (with the CIFAR stem swapped in)
// is the Python side's encoder. With one BN group, shuffling the keys' batch changes nothing
// but the summation order; with several (shuffle BN on one process: each contiguous group of the
// shuffled batch normalised on its own, as if on its own GPU), it decides which images share
// BN statistics, and the Python side replays the permutation with its own per-group BN.
config::ExperimentConfig Config(const std::string& mechanism, int bn_splits = 1) {
  absl::StatusOr<config::ExperimentConfig> config = ParseConfig(
      "data { format: IMAGE_FOLDER root: \"x\" image_size: 16 }\n"
      "model { depth: 18 width_multiplier: 1 stem: CIFAR bn_splits: " +
          std::to_string(bn_splits) +
          " feature_dim: 128 head: LINEAR }\n"
          "temperature: 0.1\n"
          "optim { batch_size: 8 lr: 0.06 lr_reference_batch: 8 momentum: 0.9 weight_decay: 5e-4 }\n" +
          mechanism,
      "test");
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

void AddState(const std::string& prefix, torch::nn::Module& module,
              std::vector<std::pair<std::string, at::Tensor>>* out) {
  for (const auto& p : module.named_parameters()) out->emplace_back(prefix + p.key(), p.value().detach().clone());
  for (const auto& b : module.named_buffers()) out->emplace_back(prefix + b.key(), b.value().clone());
}

constexpr int64_t kTrainImages = 64;  // the memory bank's entries

// Trains `steps` steps of `config` and has the Python reference redo them from the same start.
// In float64 both sides compute to ~1e-16, so they must agree to 1e-9 whatever order either sums
// in; float32 agrees only where both sum in the same order (see key_perm below).
void CompareWithPython(const config::ExperimentConfig& config, const std::string& kind, int steps,
                       torch::Dtype dtype = torch::kFloat) {
  torch::manual_seed(7);
  absl::StatusOr<std::unique_ptr<Mechanism>> created =
      CreateMechanism(config, kTrainImages, /*num_classes=*/10, SingleProcessGroup());
  ASSERT_TRUE(created.ok()) << created.status();
  Mechanism& mechanism = **created;
  mechanism.to(dtype);
  std::unique_ptr<torch::optim::SGD> sgd = MakeSgd(config, mechanism);
  mechanism.train();

  std::vector<std::pair<std::string, at::Tensor>> tensors;
  AddState("init.", mechanism, &tensors);
  tensors.emplace_back("lr", at::scalar_tensor(sgd->param_groups()[0].options().get_lr(), at::kDouble));
  for (int step = 0; step < steps; ++step) {
    TrainBatch batch;
    batch.view_q = torch::randn({8, 3, 16, 16}).to(dtype);
    batch.view_k = batch.view_q + 0.5 * torch::randn({8, 3, 16, 16}).to(dtype);  // two "views" of 8 images
    batch.indices = torch::arange(8, torch::kLong);
    batch.labels = torch::zeros({8}, torch::kLong);
    absl::StatusOr<StepOutput> out = mechanism.Forward(batch, step);
    ASSERT_TRUE(out.ok()) << out.status();
    sgd->zero_grad();
    out->loss.backward();
    sgd->step();
    const std::string name = absl::StrCat("step", step, ".");
    tensors.emplace_back(name + "view_q", batch.view_q);
    tensors.emplace_back(name + "view_k", batch.view_k);
    tensors.emplace_back(name + "loss", out->loss.detach());
    // The order the keys were encoded in (the key shuffle's permutation). With BN groups it
    // decides which images share statistics. With one group it does not change the result in
    // exact arithmetic, but it changes the rounding, and end-to-end's gradient through the keys
    // amplifies that: in another order the weights after three steps differ by 2e-4 to 3e-3 on
    // an AVX-512 CPU, in the same one by under 1e-5.
    tensors.emplace_back(name + "key_perm",
                         at::randperm(8, StepGenerator(config.run().seed(), step, /*stream=*/0), at::kLong));
    if (config.has_memory_bank()) {
      // The memory bank's negatives: the step's draw (stream 100) of K of the bank's entries per query.
      tensors.emplace_back(name + "indices", batch.indices);
      tensors.emplace_back(name + "picks",
                           at::randint(kTrainImages, {8, config.memory_bank().num_negatives()},
                                       StepGenerator(config.run().seed(), step, /*stream=*/100), at::kLong));
    }
  }
  AddState("final.", mechanism, &tensors);
  const std::string path = TempPath(kind + "_steps.pth");
  ASSERT_TRUE(WriteTensorDict(path, tensors).ok());
  ASSERT_NO_FATAL_FAILURE(RunPython("tests/moco_step_reference_test.py",
                                    absl::StrCat(kind, " --steps ", steps, " --bn_splits ", config.model().bn_splits(),
                                                 dtype == torch::kDouble ? " --float64" : "", " --input ", path,
                                                 kind == "moco" ? " --speed_reference benchmarks/python/moco_reference.py" : "")));
}

TEST(MocoStepReferenceTest, ThreeMocoStepsMatchPyTorchPython) {
  // K = 16 with a batch of 8: the third step's keys wrap around to the queue's start. m = 0.9
  // moves the key encoder enough in three steps for a wrong update to show.
  CompareWithPython(Config("moco { queue_size: 16 momentum: 0.9 shuffle_bn: true }"), "moco", 3);
}

TEST(MocoStepReferenceTest, ThreeEndToEndStepsMatchPyTorchPython) {
  CompareWithPython(Config("end_to_end {}"), "end_to_end", 3);
}

// The memory bank: the same 8 images every step, so the later steps' positives are the entries
// the earlier steps updated (v <- normalize(0.5 v + 0.5 q)).
TEST(MocoStepReferenceTest, ThreeMemoryBankStepsMatchPyTorchPython) {
  CompareWithPython(Config("memory_bank { num_negatives: 16 bank_momentum: 0.5 loss: INFO_NCE }"), "memory_bank", 3);
}

// Shuffle BN over 2 groups of 4: the BN statistics of both encoders come from each group alone
// and the running statistics are the groups' average, in both passes of end-to-end too. In
// float64: in float32 the two sides' per-group BN sum in different orders, and three steps turn
// that into 3e-4 (MoCo) to 4e-3 (end-to-end) between float32 and float64 on either side.
TEST(MocoStepReferenceTest, ThreeMocoStepsWithShuffleBnOverTwoGroupsMatchPyTorchPythonInFloat64) {
  CompareWithPython(Config("moco { queue_size: 16 momentum: 0.9 shuffle_bn: true }", /*bn_splits=*/2), "moco", 3,
                    torch::kDouble);
}

TEST(MocoStepReferenceTest, ThreeEndToEndStepsWithBnOverTwoGroupsMatchPyTorchPythonInFloat64) {
  CompareWithPython(Config("end_to_end {}", /*bn_splits=*/2), "end_to_end", 3, torch::kDouble);
}

}  // namespace
}  // namespace moco
