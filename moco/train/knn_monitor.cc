#include "moco/train/knn_monitor.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/normalization.h>
#include <torch/utils.h>

#include <algorithm>

#include "moco/augment/image_batches.h"
#include "moco/models/autocast.h"

namespace moco {

absl::StatusOr<at::Tensor> EmbedImages(ResNetImpl& encoder, const LabeledImages& data, const AugmentOptions& view,
                                       int batch_size, c10::Device device, int threads, bool bf16) {
  const bool was_training = encoder.is_training();
  encoder.eval();
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> parts;
  for (int64_t begin = 0; begin < data.size(); begin += batch_size) {
    const int64_t end = std::min<int64_t>(begin + batch_size, data.size());
    absl::StatusOr<at::Tensor> images = EvalBatch(data, begin, end, view, threads, /*channels_last=*/true);
    if (!images.ok()) {
      encoder.train(was_training);
      return images.status();
    }
    at::Tensor z;
    {
      Bf16Autocast autocast(device, bf16);
      z = encoder.forward(images->to(device)).to(at::kFloat);
    }
    parts.push_back(torch::nn::functional::normalize(z, torch::nn::functional::NormalizeFuncOptions().dim(1)).cpu());
  }
  encoder.train(was_training);
  return at::cat(parts);
}

double KnnTopOne(const at::Tensor& memory, const at::Tensor& memory_labels, const at::Tensor& queries,
                 const at::Tensor& query_labels, int k, double t, int num_classes) {
  TORCH_CHECK(memory.size(0) == memory_labels.size(0) && queries.size(0) == query_labels.size(0),
              "KnnTopOne: features and labels differ in count");
  const int64_t kk = std::min<int64_t>(k, memory.size(0));
  int64_t correct = 0;
  const int64_t chunk = 512;  // bounds the Q x M similarity matrix held at once
  for (int64_t begin = 0; begin < queries.size(0); begin += chunk) {
    const int64_t n = std::min(chunk, queries.size(0) - begin);
    at::Tensor sim = queries.narrow(0, begin, n).matmul(memory.t());  // n x M
    auto [top_sim, top_idx] = sim.topk(kk, 1);                        // n x k
    at::Tensor votes = at::zeros({n, num_classes}, at::kFloat);
    votes.scatter_add_(1, memory_labels.index_select(0, top_idx.reshape(-1)).view({n, kk}),
                       (top_sim / t).exp());
    correct += votes.argmax(1).eq(query_labels.narrow(0, begin, n)).sum().item<int64_t>();
  }
  return queries.size(0) == 0 ? 0.0 : static_cast<double>(correct) / static_cast<double>(queries.size(0));
}

at::Tensor LabelTensor(const LabeledImages& data) {
  std::vector<int64_t> labels(data.labels.begin(), data.labels.end());
  return at::tensor(labels, at::kLong);
}

}  // namespace moco
