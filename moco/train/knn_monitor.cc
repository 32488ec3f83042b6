#include "moco/train/knn_monitor.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/normalization.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <ostream>

#include "absl/strings/str_format.h"
#include "moco/common/duration.h"

#include "moco/augment/image_batches.h"
#include "moco/models/autocast.h"

namespace moco {

absl::StatusOr<at::Tensor> EncodeImages(ResNetImpl& encoder, const LabeledImages& data, const AugmentOptions& view,
                                        const EncodeOptions& options) {
  const bool was_training = encoder.is_training();
  encoder.eval();
  torch::NoGradGuard no_grad;
  const auto started = std::chrono::steady_clock::now();
  const int64_t n = data.size(), batch = options.batch_size;
  const int64_t report_every = std::max<int64_t>(batch, (n / 10 + batch - 1) / batch * batch);
  std::vector<at::Tensor> parts;
  for (int64_t begin = 0; begin < n; begin += batch) {
    const int64_t end = std::min<int64_t>(begin + batch, n);
    absl::StatusOr<at::Tensor> images = EvalBatch(data, begin, end, view, options.threads, /*channels_last=*/true);
    if (!images.ok()) {
      encoder.train(was_training);
      return images.status();
    }
    at::Tensor z;
    {
      Bf16Autocast autocast(options.device, options.bf16);
      const at::Tensor x = images->to(options.device);
      z = (options.features == Features::kPooled ? encoder.features(x) : encoder.forward(x)).to(at::kFloat);
    }
    if (options.features == Features::kEmbedding) {
      z = torch::nn::functional::normalize(z, torch::nn::functional::NormalizeFuncOptions().dim(1));
    }
    parts.push_back(z.cpu());
    if (options.log && (end % report_every == 0 || end == n)) {
      const double rate = end / std::max(1e-9, SecondsSince(started));
      *options.log << absl::StrFormat("%s %d/%d images, %.0f img/s, ETA %s\n", options.what, end, n, rate,
                                      ClockText((n - end) / rate));
      options.log->flush();
    }
  }
  encoder.train(was_training);
  if (parts.empty()) {
    return at::empty({0, options.features == Features::kPooled ? encoder.feature_dim() : encoder.options().out_dim()},
                     at::kFloat);
  }
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
