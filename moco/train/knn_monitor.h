// The weighted kNN monitor of InstDisc (Wu et al. 2018), as the official MoCo CIFAR notebook
// runs it: embed the training set (the memory) and the test set with the encoder in eval mode,
// take each test image's k most cosine-similar training images, weight each neighbour's vote
// for its class by exp(similarity / t), and predict the class with the largest total.
// It sits below the trainer, which runs it every few epochs; //eval:knn runs it on a checkpoint.
// EncodeImages, the encoder over a dataset, is also the linear probe's feature pass.
//
//   EncodeOptions options;  // the embedding kNN uses; device, threads, bf16 from the run
//   MOCO_ASSIGN_OR_RETURN(at::Tensor memory, EncodeImages(*encoder, train, eval_view, options));
//   MOCO_ASSIGN_OR_RETURN(at::Tensor queries, EncodeImages(*encoder, test, eval_view, options));
//   double top1 = KnnTopOne(memory, train_labels, queries, test_labels, 200, 0.1, 10);
#ifndef MOCO_TRAIN_KNN_MONITOR_H_
#define MOCO_TRAIN_KNN_MONITOR_H_

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <iosfwd>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "moco/augment/augment.h"
#include "moco/data/image.h"
#include "moco/models/resnet.h"

namespace moco {

// What EncodeImages gives for each image.
enum class Features {
  kEmbedding,  // encoder.forward(): the output the pretext task trained (head included), L2-normalised (kNN)
  kPooled,     // encoder.features(): the backbone's pooled output, as it is (the linear probe)
};

struct EncodeOptions {
  Features features = Features::kEmbedding;
  int batch_size = 512;
  c10::Device device = c10::kCPU;
  int threads = 0;    // decoding and views; 0: one per core
  bool bf16 = false;  // the encoder under bf16 autocast (PickBf16)
  std::ostream* log = nullptr;  // a progress line with ETA about every 10% of the images
  std::string what;             // the line's prefix
};

// The encoder over the evaluation view of every image of `data`: N x C, float32, on the CPU.
// The encoder runs in eval mode without gradients and is put back in its previous mode.
// Streamed images are decoded batch by batch; one that cannot be is an error naming its file.
absl::StatusOr<at::Tensor> EncodeImages(ResNetImpl& encoder, const LabeledImages& data, const AugmentOptions& view,
                                        const EncodeOptions& options);

// Weighted kNN top-1 accuracy (fraction in [0, 1]) of `queries` (Q x C) against `memory`
// (M x C), both L2-normalised; labels are int64 vectors.
double KnnTopOne(const at::Tensor& memory, const at::Tensor& memory_labels, const at::Tensor& queries,
                 const at::Tensor& query_labels, int k, double t, int num_classes);

// Labels of a dataset as an int64 tensor.
at::Tensor LabelTensor(const LabeledImages& data);

}  // namespace moco

#endif  // MOCO_TRAIN_KNN_MONITOR_H_
