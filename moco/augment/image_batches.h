// From datasets (in memory or streamed) to float batches: the two-view training loader (with batches
// prefetched in the background while the step runs) and evaluation batches.
//
// The epoch order is a permutation drawn from (seed, epoch); global batch b is positions
// [b * G, (b + 1) * G) of it, of which rank r takes its contiguous N = G / world share. Each
// view is drawn from (seed, epoch, image index, view), so batches are identical whatever the
// thread count, and a resumed run sees exactly the batches the uninterrupted one would have.
// With views_on_device the batch carries its images and one seed from (seed, epoch, batch,
// rank) for the device's draws instead (so those views depend on the number of processes too).
//
//   TwoViewLoader loader(&train, options);
//   loader.Start(/*epoch=*/0, /*first_batch=*/0);
//   for (int64_t b = 0; b < loader.batches_per_epoch(); ++b) {
//     MOCO_ASSIGN_OR_RETURN(TrainBatch batch, loader.Next());  // view_q, view_k: N x 3 x S x S; ...
//   }
#ifndef MOCO_AUGMENT_IMAGE_BATCHES_H_
#define MOCO_AUGMENT_IMAGE_BATCHES_H_

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "moco/augment/augment.h"
#include "moco/common/parallel.h"
#include "moco/data/batch.h"
#include "moco/data/image.h"

namespace moco {

struct LoaderOptions {
  int batch_size = 256;  // per process
  int rank = 0;
  int world_size = 1;
  uint64_t seed = 0;
  int threads = 0;  // augmentation threads; 0: one per core
  bool channels_last = true;
  AugmentOptions augment;
  // Where Next() hands the batch over: view_q and view_k on this device.
  c10::Device device = c10::kCPU;
  // Make the views on `device` (MakeViewsOnDevice, tensor_augment.h) from the batch's images and
  // view seed, instead of on the host's threads.
  bool views_on_device = false;
};

// The order of the images in `epoch`: a permutation of [0, n) that depends on (seed, epoch).
std::vector<int64_t> EpochOrder(uint64_t seed, int64_t epoch, int64_t n);

// The seed of both device-made views of global batch `batch` of `epoch` on `rank`.
uint64_t DeviceViewSeed(uint64_t seed, int64_t epoch, int64_t batch, int rank);

class TwoViewLoader {
 public:
  // `data` must outlive the loader.
  TwoViewLoader(const LabeledImages* data, const LoaderOptions& options);
  ~TwoViewLoader();

  // Full global batches per epoch (the remainder is dropped, as in the official code).
  int64_t batches_per_epoch() const;
  // Begins `epoch` at `first_batch` and starts preparing that batch (and the ones after it, up
  // to the prefetch depth).
  void Start(int64_t epoch, int64_t first_batch);
  // The next batch of the epoch, its views on options.device; starts preparing another. An image
  // that cannot be loaded (streamed, data.on_bad_image STOP) is an error naming its file.
  absl::StatusOr<TrainBatch> Next();

 private:
  // Batches prepared ahead while the step runs: 1 in memory, 2 streamed (decoding is slower and
  // varies with the image). Memory is bounded by this many batches, not by the dataset.
  int depth() const;
  void Prefetch();
  absl::StatusOr<TrainBatch> Make(int64_t batch) const;

  const LabeledImages* data_;
  LoaderOptions options_;
  int64_t epoch_ = 0;
  int64_t prepared_ = 0;  // the next batch to start preparing
  std::vector<int64_t> order_;
  std::unique_ptr<WorkerPool> pool_;  // decodes and augments, for the loader's life
  std::deque<std::future<absl::StatusOr<TrainBatch>>> pending_;
};

// Evaluation views (AugmentOptions' EvalView) of images [begin, end): (end - begin) x 3 x S x S.
// Streamed images are decoded here; one that cannot be is an error naming its file.
absl::StatusOr<at::Tensor> EvalBatch(const LabeledImages& data, int64_t begin, int64_t end,
                                     const AugmentOptions& options, int threads, bool channels_last);

}  // namespace moco

#endif  // MOCO_AUGMENT_IMAGE_BATCHES_H_
