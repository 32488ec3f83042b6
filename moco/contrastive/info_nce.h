// The contrastive losses: InfoNCE over (1 + K)-way logits (MoCo, end-to-end, and the memory
// bank's default), InstDisc's binary NCE (the memory bank's option), and pretext accuracy.
//
//   torch::Tensor logits = InfoNceLogits(q, k, queue->keys().clone(), /*temperature=*/0.07);
//   torch::Tensor loss = InfoNceLoss(logits);  // positives sit in column 0
#ifndef MOCO_CONTRASTIVE_INFO_NCE_H_
#define MOCO_CONTRASTIVE_INFO_NCE_H_

#include <ATen/core/Tensor.h>

namespace moco {

// q: N x C queries, k: N x C positive keys, negatives: K x C (all unit rows).
// Returns N x (1 + K) logits: column 0 is q.k+, the rest q.negatives, all divided by T.
at::Tensor InfoNceLogits(const at::Tensor& q, const at::Tensor& k, const at::Tensor& negatives,
                         double temperature);

// Same, with per-query negatives: negatives N x K x C (the memory bank samples per query).
at::Tensor InfoNceLogitsPerQuery(const at::Tensor& q, const at::Tensor& k, const at::Tensor& negatives,
                                 double temperature);

// Mean cross-entropy of logits (N x (1 + K)) against class 0.
at::Tensor InfoNceLoss(const at::Tensor& logits);

// InstDisc's NCE (Wu et al. 2018, eq. 4-6) with noise distribution 1/n_data:
// P(i|v) = exp(logit) / Z, h = P / (P + K / n_data), loss = -log h(pos) - sum log(1 - h(neg)).
// `logits` are N x (1 + K) (already divided by T), `z` the normalising constant.
at::Tensor NceLoss(const at::Tensor& logits, double z, int64_t n_data);

// Fraction (in [0, 1]) of rows whose largest logit is at column `targets[row]`.
double TopOneAccuracy(const at::Tensor& logits, const at::Tensor& targets);

}  // namespace moco

#endif  // MOCO_CONTRASTIVE_INFO_NCE_H_
