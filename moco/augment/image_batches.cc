#include "moco/augment/image_batches.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>

#include "moco/augment/random.h"
#include "moco/common/parallel.h"

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

TwoViewLoader::TwoViewLoader(const LabeledImages* data, const LoaderOptions& options)
    : data_(data), options_(options) {}

TwoViewLoader::~TwoViewLoader() {
  if (pending_.valid()) pending_.wait();
}

int64_t TwoViewLoader::batches_per_epoch() const {
  return data_->size() / (static_cast<int64_t>(options_.batch_size) * options_.world_size);
}

void TwoViewLoader::Start(int64_t epoch, int64_t first_batch) {
  if (pending_.valid()) pending_.wait();
  epoch_ = epoch;
  next_ = first_batch;
  order_ = EpochOrder(options_.seed, epoch, data_->size());
  pending_ = std::async(std::launch::async, [this, b = next_] { return Make(b); });
}

TrainBatch TwoViewLoader::Next() {
  TrainBatch batch = pending_.get();
  ++next_;
  if (next_ < batches_per_epoch()) {
    pending_ = std::async(std::launch::async, [this, b = next_] { return Make(b); });
  }
  return batch;
}

TrainBatch TwoViewLoader::Make(int64_t batch) const {
  const int64_t n = options_.batch_size;
  const int64_t first = (batch * options_.world_size + options_.rank) * n;  // in order_
  TrainBatch out;
  out.indices = at::empty({n}, at::kLong);
  out.labels = at::empty({n}, at::kLong);
  int64_t* indices = out.indices.data_ptr<int64_t>();
  int64_t* labels = out.labels.data_ptr<int64_t>();
  if (options_.views_on_device) {
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
  out.view_q = at::empty({n, 3, size, size}, at::kFloat);
  out.view_k = at::empty({n, 3, size, size}, at::kFloat);
  float* q = out.view_q.data_ptr<float>();
  float* k = out.view_k.data_ptr<float>();
  ParallelFor(n, options_.threads, [&](int64_t i) {
    const int64_t index = order_[first + i];
    const uint8_t* image = data_->image_data(static_cast<int>(index));
    AugmentView(image, data_->height, data_->width, data_->channels, options_.augment,
                ViewSeed(options_.seed, epoch_, index, 0), q + i * view_floats);
    AugmentView(image, data_->height, data_->width, data_->channels, options_.augment,
                ViewSeed(options_.seed, epoch_, index, 1), k + i * view_floats);
    indices[i] = index;
    labels[i] = data_->labels[index];
  });
  if (options_.channels_last) {
    out.view_q = out.view_q.contiguous(at::MemoryFormat::ChannelsLast);
    out.view_k = out.view_k.contiguous(at::MemoryFormat::ChannelsLast);
  }
  return out;
}

at::Tensor EvalBatch(const LabeledImages& data, int64_t begin, int64_t end, const AugmentOptions& options,
                     int threads, bool channels_last) {
  const int size = options.out_size;
  const int64_t view_floats = 3LL * size * size;
  at::Tensor out = at::empty({end - begin, 3, size, size}, at::kFloat);
  float* dst = out.data_ptr<float>();
  ParallelFor(end - begin, threads, [&](int64_t i) {
    EvalView(data.image_data(static_cast<int>(begin + i)), data.height, data.width, data.channels, options,
             dst + i * view_floats);
  });
  return channels_last ? out.contiguous(at::MemoryFormat::ChannelsLast) : out;
}

}  // namespace moco
