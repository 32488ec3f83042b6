// The training batch: two augmented views of the same N images, as the loaders
// (moco/augment/image_batches.h) make them and the mechanisms (moco/contrastive/mechanism.h)
// consume them. Only tensors: data loading knows nothing of the mechanisms.
//
//   TrainBatch batch = loader.Next();
//   StepOutput out = mechanism->Forward(batch, step).value();
#ifndef MOCO_DATA_BATCH_H_
#define MOCO_DATA_BATCH_H_

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace moco {

struct TrainBatch {
  at::Tensor view_q;   // N x 3 x H x W, float
  at::Tensor view_k;   // N x 3 x H x W, float (a second augmentation of the same images)
  at::Tensor indices;  // N, int64: dataset index of each image
  at::Tensor labels;   // N, int64: class of each image (used by the supervised reference only)
  // Set instead of the views when these are made on the training device (data.augment_on
  // DEVICE): the decoded images, N x H x W x C uint8, and the seed of the views' random draws.
  at::Tensor images;
  uint64_t view_seed = 0;
};

}  // namespace moco

#endif  // MOCO_DATA_BATCH_H_
