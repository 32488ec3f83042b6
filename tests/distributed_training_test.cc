// Two training processes over Gloo on 127.0.0.1, each with half of the global batch, make the
// same updates as one process with the whole batch and split BN over 2 groups: same data,
// same shuffle-BN permutation, gradients averaged over the processes, queue filled with the
// keys of the global batch. Run for each mechanism on real Fashion-MNIST, for two steps (so
// that SGD momentum, the key encoder's momentum and the queue or bank carry over) at a small
// lr: float rounding differs between the two (about 1e-6 after one step), and tiny BN groups
// amplify such differences quickly at large learning rates. A logic error (other data, another
// permutation, missing gradients) shows as differences of 1e-3 and more after the first step.
#include <torch/serialize/input-archive.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>

#include "configs/config.h"
#include "gtest/gtest.h"
#include "moco/distributed/worker_launcher.h"
#include "moco/train/checkpoint.h"
#include "moco/train/trainer.h"

namespace moco {
namespace {

config::ExperimentConfig Config(const std::string& mechanism, int bn_splits, const std::string& output_dir) {
  absl::StatusOr<config::ExperimentConfig> config = ParseConfig(
      "name: \"test/distributed\"\n"
      "data { format: FASHION_MNIST root: \"/usr/share/datasets/fashion-mnist\" image_size: 28\n"
      "       augmentation: CIFAR max_train_images: 256 max_test_images: 64 loader_threads: 1 }\n"
      "model { depth: 18 width_multiplier: 0.125 stem: CIFAR bn_splits: " +
          std::to_string(bn_splits) +
          " }\n"
          "temperature: 0.1\n"
          "optim { batch_size: 32 lr_reference_batch: 32 epochs: 2 lr: 0.005 schedule: COSINE }\n"
          "eval { knn_every_epochs: 0 }\n"
          "run { threads: 1 seed: 7 max_steps: 2 output_dir: \"" +
          output_dir + "\" }\n" + mechanism,
      "distributed");
  if (!config.ok()) std::cerr << config.status() << "\n";
  return *config;
}

std::map<std::string, at::Tensor> ModelTensors(const std::string& path) {
  absl::StatusOr<std::map<std::string, at::Tensor>> tensors = ReadCheckpointTensors(path);
  EXPECT_TRUE(tensors.ok()) << tensors.status();
  return tensors.ok() ? *tensors : std::map<std::string, at::Tensor>();
}

// Worker mode: one of the processes that LaunchWorkers starts.
int RunWorker() {
  TrainOptions options;
  options.knn_at_init = false;
  absl::StatusOr<TrainResult> result =
      Train(Config(std::getenv("TEST_MECHANISM"), /*bn_splits=*/1, std::getenv("TEST_OUTPUT_DIR")), options);
  if (!result.ok()) {
    std::cerr << "worker: " << result.status() << "\n";
    return 1;
  }
  return 0;
}

class DistributedTrainingTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DistributedTrainingTest, TwoProcessesMatchOneWithTheWholeBatch) {
  const std::filesystem::path root = std::getenv("TEST_TMPDIR");
  const std::string two = (root / "two").string(), one = (root / "one").string();
  std::filesystem::remove_all(two);
  std::filesystem::remove_all(one);
  setenv("TEST_MECHANISM", GetParam().c_str(), 1);
  setenv("TEST_OUTPUT_DIR", two.c_str(), 1);
  LaunchOptions launch;
  launch.timeout = absl::Minutes(3);
  absl::Status launched = LaunchWorkers(2, {"/proc/self/exe", "--worker"}, launch);
  ASSERT_TRUE(launched.ok()) << launched;

  TrainOptions options;
  options.knn_at_init = false;
  absl::StatusOr<TrainResult> alone = Train(Config(GetParam(), /*bn_splits=*/2, one), options);
  ASSERT_TRUE(alone.ok()) << alone.status();

  auto a = ModelTensors(one + "/checkpoint.pt");
  auto b = ModelTensors(two + "/checkpoint.pt");
  int compared = 0;
  for (const auto& [name, tensor] : a) {
    // BN running statistics are per process (each rank's own groups), as in DDP without
    // buffer broadcast; they do not enter training-mode steps. Everything else must agree.
    if (name.find("running_") != std::string::npos || name.find("num_batches") != std::string::npos) continue;
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_TRUE(torch::allclose(tensor.to(torch::kDouble), b.at(name).to(torch::kDouble), 1e-4, 1e-5))
        << name << ": max difference " << (tensor.to(torch::kDouble) - b.at(name).to(torch::kDouble)).abs().max().item<double>();
    ++compared;
  }
  EXPECT_GT(compared, 20);
}

INSTANTIATE_TEST_SUITE_P(Mechanisms, DistributedTrainingTest,
                         ::testing::Values("moco { queue_size: 64 momentum: 0.9 }", "end_to_end {}",
                                           "memory_bank { num_negatives: 32 }", "supervised {}"),
                         [](const auto& info) { return std::to_string(info.index); });

}  // namespace
}  // namespace moco

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--worker") return moco::RunWorker();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
