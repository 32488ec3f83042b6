// LibTorch links and computes: autograd gradients match closed forms, and a few SGD steps
// of a small conv net reduce its loss on a fixed batch.
#include <torch/torch.h>

#include "gtest/gtest.h"

namespace {

TEST(LibTorchTest, AutogradMatchesClosedForm) {
  torch::manual_seed(0);
  torch::Tensor x = torch::randn({4, 3});
  torch::Tensor w = torch::randn({3, 2}, torch::requires_grad());
  torch::Tensor loss = x.matmul(w).pow(2).sum();  // d/dw = 2 x^T (x w)
  loss.backward();
  torch::Tensor expected = 2 * x.t().matmul(x.matmul(w.detach()));
  EXPECT_TRUE(torch::allclose(w.grad(), expected, 1e-5, 1e-6));
}

TEST(LibTorchTest, ConvNetTrainsOnFixedBatch) {
  torch::manual_seed(0);
  torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1)),
                            torch::nn::BatchNorm2d(8), torch::nn::ReLU(),
                            torch::nn::AdaptiveAvgPool2d(1), torch::nn::Flatten(),
                            torch::nn::Linear(8, 3));
  torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  torch::Tensor images = torch::randn({16, 3, 8, 8});
  // Learnable labels: which channel is brightest on average.
  torch::Tensor labels = images.mean({2, 3}).argmax(1);
  float first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    sgd.zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy(net->forward(images), labels);
    loss.backward();
    sgd.step();
    if (step == 0) first = loss.item<float>();
    last = loss.item<float>();
  }
  EXPECT_LT(last, 0.5f * first);
}

TEST(LibTorchTest, CpuBuildReportsNoCudaHere) {
  // Every binary must start on a machine without a GPU; CUDA is then simply unavailable.
  if (torch::cuda::is_available()) GTEST_SKIP() << "a GPU is present";
  EXPECT_EQ(torch::cuda::device_count(), 0);
}

#ifdef MOCO_WITH_CUDA
TEST(LibTorchTest, CudaMatmulMatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "CUDA build, but no GPU on this machine";
  torch::manual_seed(0);
  torch::Tensor a = torch::randn({64, 32});
  torch::Tensor b = torch::randn({32, 16});
  torch::Tensor on_gpu = a.cuda().matmul(b.cuda()).cpu();
  EXPECT_TRUE(torch::allclose(on_gpu, a.matmul(b), 1e-3, 1e-3));
}
#endif

}  // namespace
