// The two-view augmentation as batched tensor ops, for where the decoded images already sit on
// the training device (a GPU: no per-image CPU work, no host-to-device copy of float views).
// One call makes one view of every image of a batch: RandomResizedCrop (bilinear), horizontal
// flip, ColorJitter in a random order per image with probability jitter_p, RandomGrayscale, and
// the normalisation, with the steps of AugmentView (augment.h), grayscale after the jitter (the
// CIFAR recipe; before it in V1's). Not blur (V2's): refused.
//
//   at::Tensor images = batch_u8.to(device);        // N x H x W x C uint8 (C 1 or 3)
//   MOCO_ASSIGN_OR_RETURN(at::Tensor q, AugmentBatch(images, options, generator));
//   // q: N x 3 x S x S float32, channels_last, on images' device
//
// The same distribution as AugmentView's views, not the same pixels: the random draws come from
// `generator` (the device's), crop sizes and offsets are drawn as torchvision draws them (ten
// tries, else the whole image), and the ops run in float as AugmentView's do.
//
// In training (data { augment_on: DEVICE }) the loader leaves a batch as images and
// MakeViewsOnDevice makes both views on the device:
//   TrainBatch batch = loader.Next();              // images: N x H x W x C uint8, view_seed
//   MOCO_RETURN_IF_ERROR(MakeViewsOnDevice(device, options, &batch));
#ifndef MOCO_AUGMENT_TENSOR_AUGMENT_H_
#define MOCO_AUGMENT_TENSOR_AUGMENT_H_

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "absl/status/statusor.h"
#include "moco/augment/augment.h"
#include "moco/data/batch.h"

namespace moco {

absl::StatusOr<at::Tensor> AugmentBatch(const at::Tensor& images, const AugmentOptions& options,
                                        at::Generator generator);

// Copies batch->images to `device` and makes view_q and view_k there (in that order) with one
// generator of the device's kind seeded with batch->view_seed, then drops the images. The seed
// comes from the loader (run seed, epoch, batch, rank), so a resumed run makes the views the
// uninterrupted one made, on the same kind of device.
absl::Status MakeViewsOnDevice(c10::Device device, const AugmentOptions& options, TrainBatch* batch);

}  // namespace moco

#endif  // MOCO_AUGMENT_TENSOR_AUGMENT_H_
