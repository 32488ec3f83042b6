// The weighted kNN monitor of InstDisc (Wu et al. 2018), as the official MoCo CIFAR notebook
// runs it: embed the training set (the memory) and the test set with the encoder in eval mode,
// take each test image's k most cosine-similar training images, weight each neighbour's vote
// for its class by exp(similarity / t), and predict the class with the largest total.
// It sits below the trainer, which runs it every few epochs; //eval:knn runs it on a checkpoint.
//
//   MOCO_ASSIGN_OR_RETURN(at::Tensor memory, EmbedImages(*encoder, train, eval_view, 256, device, threads));
//   MOCO_ASSIGN_OR_RETURN(at::Tensor queries, EmbedImages(*encoder, test, eval_view, 256, device, threads));
//   double top1 = KnnTopOne(memory, train_labels, queries, test_labels, 200, 0.1, 10);
#ifndef MOCO_TRAIN_KNN_MONITOR_H_
#define MOCO_TRAIN_KNN_MONITOR_H_

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <vector>

#include "absl/status/statusor.h"
#include "moco/augment/augment.h"
#include "moco/data/image.h"
#include "moco/models/resnet.h"

namespace moco {

// L2-normalised encoder outputs of every image of `data` (its evaluation view), N x C, on the
// CPU, in float32; the encoder runs under bf16 autocast when `bf16` (PickBf16). The encoder is
// put in eval mode and restored to its previous mode afterwards. Streamed images are decoded
// batch by batch; one that cannot be is an error naming its file.
absl::StatusOr<at::Tensor> EmbedImages(ResNetImpl& encoder, const LabeledImages& data, const AugmentOptions& view,
                                       int batch_size, c10::Device device, int threads, bool bf16 = false);

// Weighted kNN top-1 accuracy (fraction in [0, 1]) of `queries` (Q x C) against `memory`
// (M x C), both L2-normalised; labels are int64 vectors.
double KnnTopOne(const at::Tensor& memory, const at::Tensor& memory_labels, const at::Tensor& queries,
                 const at::Tensor& query_labels, int k, double t, int num_classes);

// Labels of a dataset as an int64 tensor.
at::Tensor LabelTensor(const LabeledImages& data);

}  // namespace moco

#endif  // MOCO_TRAIN_KNN_MONITOR_H_
