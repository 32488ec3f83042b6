#include "moco/augment/image_batches.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>

#include "moco/augment/random.h"
#include "moco/augment/tensor_augment.h"
#include "moco/common/parallel.h"
#include "moco/common/status.h"
#include "moco/data/image_folder.h"

namespace moco {

std::vector<int64_t> EpochOrder(uint64_t seed, int64_t epoch, int64_t n) {
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  SplitMix64 rng(seed * 0xD1B54A32D192ED03ULL + static_cast<uint64_t>(epoch) + 1);
  for (int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates with our own generator: portable
    const int64_t j = static_cast<int64_t>(rng.Next() % static_cast<uint64_t>(i + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

uint64_t DeviceViewSeed(uint64_t seed, int64_t epoch, int64_t batch, int rank) {
  // A chain of SplitMix64 steps (Mix64 of the state plus the Weyl increment), each adding a
  // field; another stream than EpochOrder's and the views'.
  constexpr uint64_t kWeyl = 0x9E3779B97F4A7C15ULL;
  uint64_t h = Mix64(seed * 0xA0761D6478BD642FULL + 0x5EED + kWeyl) + static_cast<uint64_t>(epoch);
  h = Mix64(h + kWeyl) + static_cast<uint64_t>(batch);
  h = Mix64(h + kWeyl) + static_cast<uint64_t>(rank);
  return Mix64(h + kWeyl);
}

namespace {

// An uninitialised n x 3 x size x size float batch, in channels_last memory or not.
at::Tensor ViewBatch(int64_t n, int size, bool channels_last) {
  return at::empty({n, 3, size, size}, at::TensorOptions(at::kFloat).memory_format(
                                           channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous));
}

}  // namespace

TwoViewLoader::TwoViewLoader(const LabeledImages* data, const LoaderOptions& options)
    : data_(data), options_(options), pool_(std::make_unique<WorkerPool>(options.threads)) {}

TwoViewLoader::~TwoViewLoader() {
  for (auto& pending : pending_) pending.wait();
}

int64_t TwoViewLoader::batches_per_epoch() const {
  return data_->size() / (static_cast<int64_t>(options_.batch_size) * options_.world_size);
}

int TwoViewLoader::depth() const { return data_->streamed() ? 2 : 1; }

void TwoViewLoader::Prefetch() {
  while (static_cast<int>(pending_.size()) < depth() && prepared_ < batches_per_epoch()) {
    pending_.push_back(std::async(std::launch::async, [this, b = prepared_] { return Make(b); }));
    ++prepared_;
  }
}

void TwoViewLoader::Start(int64_t epoch, int64_t first_batch) {
  for (auto& pending : pending_) pending.wait();
  pending_.clear();
  epoch_ = epoch;
  prepared_ = first_batch;
  order_ = EpochOrder(options_.seed, epoch, data_->size());
  Prefetch();
}

absl::StatusOr<TrainBatch> TwoViewLoader::Next() {
  absl::StatusOr<TrainBatch> batch = pending_.front().get();
  pending_.pop_front();
  Prefetch();
  if (!batch.ok()) return batch;
  if (options_.views_on_device) {
    MOCO_RETURN_IF_ERROR(MakeViewsOnDevice(options_.device, options_.augment, &*batch));
  } else if (options_.device != c10::Device(c10::kCPU)) {
    batch->view_q = batch->view_q.to(options_.device, /*non_blocking=*/true);
    batch->view_k = batch->view_k.to(options_.device, /*non_blocking=*/true);
  }
  return batch;
}

absl::StatusOr<TrainBatch> TwoViewLoader::Make(int64_t batch) const {
  const int64_t n = options_.batch_size;
  const int64_t first = (batch * options_.world_size + options_.rank) * n;  // in order_
  TrainBatch out;
  out.indices = at::empty({n}, at::kLong);
  out.labels = at::empty({n}, at::kLong);
  int64_t* indices = out.indices.data_ptr<int64_t>();
  int64_t* labels = out.labels.data_ptr<int64_t>();
  if (options_.views_on_device) {  // in memory only (Validate refuses it with data.cache STREAM)
    out.images = at::empty({n, data_->height, data_->width, data_->channels}, at::kByte);
    uint8_t* images = out.images.data_ptr<uint8_t>();
    const size_t bytes = data_->image_bytes();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t index = order_[first + i];
      std::memcpy(images + i * bytes, data_->image_data(static_cast<int>(index)), bytes);
      indices[i] = index;
      labels[i] = data_->labels[index];
    }
    out.view_seed = DeviceViewSeed(options_.seed, epoch_, batch, options_.rank);
    return out;
  }
  const int size = options_.augment.out_size;
  const int64_t view_floats = 3LL * size * size;
  // Each view is written in the batch's layout: a channels_last batch is n images of
  // size x size x 3, filled in place (converting a finished batch would copy it whole).
  const ViewLayout layout = options_.channels_last ? ViewLayout::kHwc : ViewLayout::kChw;
  out.view_q = ViewBatch(n, size, options_.channels_last);
  out.view_k = ViewBatch(n, size, options_.channels_last);
  float* q = out.view_q.data_ptr<float>();
  float* k = out.view_k.data_ptr<float>();
  MOCO_RETURN_IF_ERROR(pool_->ForUntilError(n, [&](int64_t i) -> absl::Status {
    const int64_t index = order_[first + i];
    const uint64_t seeds[2] = {ViewSeed(options_.seed, epoch_, index, 0), ViewSeed(options_.seed, epoch_, index, 1)};
    DecodeScaleFn scale;  // full size unless data.decode FAST
    if (options_.augment.fast_decode) {
      scale = [&](int height, int width) { return TrainDecodeScale(height, width, options_.augment, seeds, 2); };
    }
    thread_local Image scratch;  // a streamed image, decoded here; kept by the pool's threads
    MOCO_ASSIGN_OR_RETURN(const ImageRef image, LoadImageScaled(*data_, index, &scratch, scale));
    AugmentView(image.pixels, image.height, image.width, image.channels, options_.augment, seeds[0],
                q + i * view_floats, layout);
    AugmentView(image.pixels, image.height, image.width, image.channels, options_.augment, seeds[1],
                k + i * view_floats, layout);
    indices[i] = index;
    labels[i] = data_->labels[index];
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<at::Tensor> EvalBatch(const LabeledImages& data, int64_t begin, int64_t end,
                                     const AugmentOptions& options, int threads, bool channels_last) {
  const int size = options.out_size;
  const int64_t view_floats = 3LL * size * size;
  const ViewLayout layout = channels_last ? ViewLayout::kHwc : ViewLayout::kChw;
  at::Tensor out = ViewBatch(end - begin, size, channels_last);
  float* dst = out.data_ptr<float>();
  MOCO_RETURN_IF_ERROR(ParallelForUntilError(end - begin, threads, [&](int64_t i) -> absl::Status {
    DecodeScaleFn scale;  // full size unless data.decode FAST
    if (options.fast_decode) scale = [&](int height, int width) { return EvalDecodeScale(height, width, options); };
    thread_local Image scratch;
    MOCO_ASSIGN_OR_RETURN(const ImageRef image, LoadImageScaled(data, begin + i, &scratch, scale));
    EvalView(image.pixels, image.height, image.width, image.channels, options, dst + i * view_floats, layout);
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace moco
