#include "moco/contrastive/info_nce.h"

#include <ATen/ATen.h>

namespace moco {

at::Tensor InfoNceLogits(const at::Tensor& q, const at::Tensor& k, const at::Tensor& negatives,
                         double temperature) {
  TORCH_CHECK(q.dim() == 2 && q.sizes() == k.sizes(), "InfoNceLogits: q ", q.sizes(), " and k ", k.sizes(),
              " must both be N x C");
  TORCH_CHECK(negatives.dim() == 2 && negatives.size(1) == q.size(1), "InfoNceLogits: negatives must be K x ",
              q.size(1), ", got ", negatives.sizes());
  at::Tensor l_pos = (q * k).sum(1, /*keepdim=*/true);  // N x 1
  at::Tensor l_neg = q.matmul(negatives.t());          // N x K
  return at::cat({l_pos, l_neg}, 1).div_(temperature);  // N x (1 + K)
}

at::Tensor InfoNceLogitsPerQuery(const at::Tensor& q, const at::Tensor& k, const at::Tensor& negatives,
                                 double temperature) {
  TORCH_CHECK(negatives.dim() == 3 && negatives.size(0) == q.size(0) && negatives.size(2) == q.size(1),
              "InfoNceLogitsPerQuery: negatives must be N x K x C, got ", negatives.sizes());
  at::Tensor l_pos = (q * k).sum(1, /*keepdim=*/true);                   // N x 1
  at::Tensor l_neg = at::bmm(negatives, q.unsqueeze(2)).squeeze(2);     // N x K
  return at::cat({l_pos, l_neg}, 1).div_(temperature);                   // N x (1 + K)
}

at::Tensor InfoNceLoss(const at::Tensor& logits) {
  at::Tensor targets = at::zeros({logits.size(0)}, logits.options().dtype(at::kLong));
  return at::cross_entropy_loss(logits, targets);
}

at::Tensor NceLoss(const at::Tensor& logits, double z, int64_t n_data) {
  const int64_t k = logits.size(1) - 1;
  const double noise = static_cast<double>(k) / static_cast<double>(n_data);  // K * P_n
  at::Tensor p = logits.exp() / z;                                             // N x (1 + K)
  at::Tensor log_h_pos = at::log(p.select(1, 0) / (p.select(1, 0) + noise));  // N
  at::Tensor p_neg = p.narrow(1, 1, k);
  at::Tensor log_1m_h_neg = at::log(noise / (p_neg + noise)).sum(1);           // N
  return -(log_h_pos + log_1m_h_neg).mean();
}

double TopOneAccuracy(const at::Tensor& logits, const at::Tensor& targets) {
  if (logits.size(0) == 0) return 0.0;
  at::Tensor correct = logits.detach().argmax(1).eq(targets.to(logits.device()));
  return correct.to(at::kDouble).mean().item<double>();
}

}  // namespace moco
