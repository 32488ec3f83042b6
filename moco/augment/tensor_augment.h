// The two-view augmentation as batched tensor ops, for where the decoded images already sit on
// the training device (a GPU: no per-image CPU work, no host-to-device copy of float views).
// One call makes one view of every image of a batch: RandomResizedCrop (bilinear), horizontal
// flip, ColorJitter in a random order per image with probability jitter_p, RandomGrayscale, and
// the normalisation, with the steps of AugmentView (augment.h), grayscale after the jitter (the
// CIFAR and V2 recipes). Not blur (V2's): refused.
//
//   at::Tensor images = batch_u8.to(device);        // N x H x W x C uint8 (C 1 or 3)
//   MOCO_ASSIGN_OR_RETURN(at::Tensor q, AugmentBatch(images, options, generator));
//   // q: N x 3 x S x S float32, channels_last, on images' device
//
// The same distribution as AugmentView's views, not the same pixels: the random draws come from
// `generator` (the device's), crop sizes and offsets are drawn as torchvision draws them (ten
// tries, else the whole image), and the ops run in float as AugmentView's do.
#ifndef MOCO_AUGMENT_TENSOR_AUGMENT_H_
#define MOCO_AUGMENT_TENSOR_AUGMENT_H_

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "moco/augment/augment.h"

namespace moco {

absl::StatusOr<at::Tensor> AugmentBatch(const at::Tensor& images, const AugmentOptions& options,
                                        at::Generator generator);

}  // namespace moco

#endif  // MOCO_AUGMENT_TENSOR_AUGMENT_H_
