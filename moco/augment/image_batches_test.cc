#include "moco/augment/image_batches.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "moco/augment/tensor_augment.h"
#include "moco/common/files.h"
#include "moco/common/parallel.h"
#include "moco/common/paths.h"
#include "moco/data/image_folder.h"
#include "moco/data/test_data.h"

namespace moco {
namespace {

LabeledImages Synthetic(int n) {
  LabeledImages data;
  data.height = data.width = 12;
  data.channels = 3;
  data.class_names = {"a", "b", "c"};
  for (int i = 0; i < n; ++i) {
    for (size_t p = 0; p < data.image_bytes(); ++p) data.pixels.push_back(static_cast<uint8_t>((i * 37 + p * 11) % 251));
    data.labels.push_back(i % 3);
  }
  return data;
}

LoaderOptions Options(int threads, int rank = 0, int world = 1) {
  LoaderOptions options;
  options.batch_size = 8;
  options.rank = rank;
  options.world_size = world;
  options.seed = 5;
  options.threads = threads;
  options.augment.recipe = AugmentRecipe::kCifar;
  options.augment.out_size = 12;
  return options;
}

TEST(ImageBatchesTest, EpochOrderIsAPermutationThatChangesWithTheEpoch) {
  std::vector<int64_t> a = EpochOrder(1, 0, 100), b = EpochOrder(1, 1, 100);
  EXPECT_EQ(a, EpochOrder(1, 0, 100));
  EXPECT_NE(a, b);
  std::sort(a.begin(), a.end());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a[i], i);
}

// Every committed record's data order comes from EpochOrder (and device-made views from
// DeviceViewSeed): these values were printed by the code those records ran, so a change to
// either function that would change the records fails here.
TEST(ImageBatchesTest, EpochOrderAndDeviceViewSeedKeepTheirValues) {
  EXPECT_EQ(EpochOrder(0, 3, 12), (std::vector<int64_t>{2, 5, 3, 11, 9, 8, 4, 1, 0, 7, 6, 10}));
  EXPECT_EQ(EpochOrder(12345, 0, 12), (std::vector<int64_t>{2, 5, 6, 3, 1, 9, 8, 0, 4, 10, 7, 11}));
  EXPECT_EQ(DeviceViewSeed(5, 3, 0, 1), 0x93d4256d941d1433ULL);
  EXPECT_EQ(DeviceViewSeed(0, 0, 0, 0), 0x49f8d5b623ef1a6dULL);
}

TEST(ImageBatchesTest, BatchesDoNotDependOnTheThreadCount) {
  LabeledImages data = Synthetic(40);
  TwoViewLoader one(&data, Options(1)), two(&data, Options(2));
  EXPECT_EQ(one.batches_per_epoch(), 5);
  for (int64_t epoch : {0, 1}) {
    one.Start(epoch, 0);
    two.Start(epoch, 0);
    for (int b = 0; b < 5; ++b) {
      TrainBatch x = *one.Next(), y = *two.Next();
      ASSERT_TRUE(torch::equal(x.view_q, y.view_q));
      ASSERT_TRUE(torch::equal(x.view_k, y.view_k));
      ASSERT_TRUE(torch::equal(x.indices, y.indices));
      EXPECT_FALSE(torch::equal(x.view_q, x.view_k));  // two different views
    }
  }
}

// A channels_last batch is written in place, image by image, as height x width x 3: the same
// values, bit for bit, as a planar batch, in the memory format the model runs in.
TEST(ImageBatchesTest, ChannelsLastBatchesHoldThePlanarBatchesValues) {
  LabeledImages data = Synthetic(32);
  for (AugmentRecipe recipe : {AugmentRecipe::kCifar, AugmentRecipe::kV2}) {  // V2: grayscale and blur
    LoaderOptions planar_options = Options(2);
    planar_options.augment.recipe = recipe;
    planar_options.channels_last = false;
    LoaderOptions last_options = planar_options;
    last_options.channels_last = true;
    TwoViewLoader planar(&data, planar_options), last(&data, last_options);
    planar.Start(1, 0);
    last.Start(1, 0);
    for (int b = 0; b < planar.batches_per_epoch(); ++b) {
      TrainBatch x = *planar.Next(), y = *last.Next();
      ASSERT_TRUE(x.view_q.is_contiguous());
      ASSERT_TRUE(y.view_q.is_contiguous(at::MemoryFormat::ChannelsLast));
      ASSERT_TRUE(y.view_k.is_contiguous(at::MemoryFormat::ChannelsLast));
      ASSERT_TRUE(torch::equal(x.view_q, y.view_q)) << "batch " << b;
      ASSERT_TRUE(torch::equal(x.view_k, y.view_k)) << "batch " << b;
    }
  }
}

TEST(ImageBatchesTest, RanksSplitTheGlobalBatchAndResumeMidEpoch) {
  LabeledImages data = Synthetic(48);
  TwoViewLoader alone(&data, [] { LoaderOptions o = Options(1); o.batch_size = 16; return o; }());
  TwoViewLoader rank0(&data, Options(1, 0, 2)), rank1(&data, Options(1, 1, 2));
  EXPECT_EQ(rank0.batches_per_epoch(), 3);
  alone.Start(2, 1);  // the second batch of epoch 2, as after a resume
  rank0.Start(2, 1);
  rank1.Start(2, 1);
  TrainBatch whole = *alone.Next(), a = *rank0.Next(), b = *rank1.Next();
  EXPECT_TRUE(torch::equal(whole.view_q, torch::cat({a.view_q, b.view_q})));
  EXPECT_TRUE(torch::equal(whole.labels, torch::cat({a.labels, b.labels})));
  std::set<int64_t> seen;
  for (int64_t i : std::vector<int64_t>(whole.indices.data_ptr<int64_t>(), whole.indices.data_ptr<int64_t>() + 16)) {
    seen.insert(i);
  }
  EXPECT_EQ(seen.size(), 16u);
}

// views_on_device: each batch's views are made on the device (here the CPU) from its images (in
// the epoch's order, this rank's share) and a view seed that depends on (seed, epoch, batch,
// rank) only, so a resumed epoch gets it again.
TEST(ImageBatchesTest, ViewsOnDeviceBatchesAreMadeFromTheirImagesAndASeed) {
  LabeledImages data = Synthetic(40);
  LoaderOptions options = Options(1, /*rank=*/1, /*world=*/2);
  options.views_on_device = true;
  TwoViewLoader loader(&data, options);
  ASSERT_EQ(loader.batches_per_epoch(), 2);
  loader.Start(/*epoch=*/3, 0);
  TrainBatch first = *loader.Next(), second = *loader.Next();
  EXPECT_FALSE(first.images.defined());  // handed over as views
  ASSERT_EQ(first.view_q.sizes(), at::IntArrayRef({8, 3, 12, 12}));
  const std::vector<int64_t> order = EpochOrder(5, 3, 40);
  TrainBatch expected;
  expected.images = at::empty({8, 12, 12, 3}, at::kByte);
  for (int i = 0; i < 8; ++i) {
    const int64_t index = order[8 + i];  // rank 1 of 2: the second 8 of global batch 0
    EXPECT_EQ(first.indices[i].item<int64_t>(), index);
    expected.images[i].copy_(
        torch::from_blob(const_cast<uint8_t*>(data.image_data(static_cast<int>(index))), {12, 12, 3}, at::kByte));
  }
  expected.view_seed = DeviceViewSeed(5, 3, 0, 1);
  ASSERT_TRUE(MakeViewsOnDevice(c10::kCPU, options.augment, &expected).ok());
  EXPECT_TRUE(torch::equal(first.view_q, expected.view_q));
  EXPECT_TRUE(torch::equal(first.view_k, expected.view_k));
  EXPECT_EQ(first.view_seed, DeviceViewSeed(5, 3, 0, 1));
  EXPECT_EQ(second.view_seed, DeviceViewSeed(5, 3, 1, 1));
  EXPECT_NE(first.view_seed, second.view_seed);
  EXPECT_NE(DeviceViewSeed(5, 3, 0, 1), DeviceViewSeed(5, 3, 0, 0));
  EXPECT_NE(DeviceViewSeed(5, 3, 0, 1), DeviceViewSeed(5, 4, 0, 1));
  EXPECT_NE(DeviceViewSeed(5, 3, 0, 1), DeviceViewSeed(6, 3, 0, 1));
  loader.Start(3, /*first_batch=*/1);  // a resume at batch 1
  EXPECT_EQ(loader.Next()->view_seed, second.view_seed);
}

// The same 48 CIFAR-10 JPEGs held in memory and streamed from their files: the same batches,
// bit for bit, at any thread count (every committed record ran in memory).
TEST(ImageBatchesTest, StreamedBatchesEqualInMemoryOnes) {
  const std::string root = DataPath("cifar10-jpeg/test");
  ASSERT_TRUE(DataPresent(root));
  ImageFolderOptions options;
  options.max_images = 48;
  options.cache = ImageCache::kInMemory;
  absl::StatusOr<LabeledImages> memory = ReadImageFolder(root, options);
  options.cache = ImageCache::kStream;
  absl::StatusOr<LabeledImages> stream = ReadImageFolder(root, options);
  ASSERT_TRUE(memory.ok() && stream.ok());
  ASSERT_TRUE(stream->streamed());
  LoaderOptions loader_options = Options(1);
  loader_options.augment.out_size = 32;
  TwoViewLoader a(&*memory, loader_options);
  loader_options.threads = 2;
  TwoViewLoader b(&*stream, loader_options);
  ASSERT_EQ(a.batches_per_epoch(), 6);
  for (int64_t epoch : {0, 3}) {
    a.Start(epoch, 1);
    b.Start(epoch, 1);
    for (int64_t i = 1; i < a.batches_per_epoch(); ++i) {
      absl::StatusOr<TrainBatch> x = a.Next(), y = b.Next();
      ASSERT_TRUE(x.ok() && y.ok());
      EXPECT_TRUE(torch::equal(x->view_q, y->view_q)) << "epoch " << epoch << " batch " << i;
      EXPECT_TRUE(torch::equal(x->view_k, y->view_k));
      EXPECT_TRUE(torch::equal(x->indices, y->indices));
    }
  }
  AugmentOptions eval = loader_options.augment;
  EXPECT_TRUE(torch::equal(*EvalBatch(*memory, 3, 20, eval, 1, true), *EvalBatch(*stream, 3, 20, eval, 2, true)));
}

// Real ImageNet JPEGs of every size (and grayscale ones) give 224 px views; a truncated file
// stops the batch with an error naming it.
TEST(ImageBatchesTest, StreamedImagesOfEverySizeMakeViewsAndABadOneIsNamed) {
  const std::string root = DataPath("imagenet-sample/train");
  ASSERT_TRUE(DataPresent(root));
  ImageFolderOptions options;
  options.max_images = 16;
  options.cache = ImageCache::kStream;
  absl::StatusOr<LabeledImages> data = ReadImageFolder(root, options);
  ASSERT_TRUE(data.ok()) << data.status();
  LoaderOptions loader_options = Options(2);
  loader_options.augment.recipe = AugmentRecipe::kV2;
  loader_options.augment.out_size = 224;
  TwoViewLoader loader(&*data, loader_options);
  loader.Start(0, 0);
  absl::StatusOr<TrainBatch> batch = loader.Next();
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->view_q.sizes(), (std::vector<int64_t>{8, 3, 224, 224}));
  EXPECT_TRUE(batch->view_k.isfinite().all().item<bool>());

  const std::string bad = TempPath("streamed_bad/n0/x.JPEG");
  absl::StatusOr<std::string> bytes = ReadFile(data->files[0]);
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(WriteFile(bad, bytes->substr(0, bytes->size() / 3)).ok());
  data->files[0] = bad;
  TwoViewLoader broken(&*data, loader_options);
  bool named = false;
  for (int64_t epoch = 0; epoch < 4 && !named; ++epoch) {  // image 0 is in one of the two batches
    broken.Start(epoch, 0);
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<TrainBatch> b = broken.Next();
      if (!b.ok()) {
        EXPECT_THAT(b.status().message(), testing::HasSubstr(bad));
        named = true;
        break;
      }
    }
  }
  EXPECT_TRUE(named);
}

// data.decode FAST against EXACT over the 1,000 ImageNet sample JPEGs (68-2400 px), one V2 view
// of each at 224 px with the same seed: the fast path decodes at 1/2-1/8 where the crop allows,
// and its views keep the exact ones' per-channel mean and spread, and stay close pixel by pixel
// (the same crop, at lower source resolution). Tolerances from the measured values, printed.
TEST(ImageBatchesTest, FastDecodeViewsMatchExactOnesInDistribution) {
  const std::string root = DataPath("imagenet-sample/train");
  ASSERT_TRUE(DataPresent(root));
  ImageFolderOptions folder;
  folder.cache = ImageCache::kStream;
  absl::StatusOr<LabeledImages> data = ReadImageFolder(root, folder);
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->size(), 1000);
  AugmentOptions options;
  options.recipe = AugmentRecipe::kV2;
  options.out_size = 224;
  const int64_t n = data->size(), plane = 224 * 224, floats = 3 * plane;
  std::vector<double> sums(12 * n, 0.0);  // per image: exact sum, sum sq (x3); fast (x3 x2)
  std::vector<double> abs_diff(n, 0.0);
  std::vector<int> scales(n, 1);
  ParallelFor(n, 2, [&](int64_t i) {
    const uint64_t seed = ViewSeed(7, 0, i, 0);
    std::vector<float> exact(floats), fast(floats);
    Image scratch;
    absl::StatusOr<ImageRef> full = LoadImage(*data, i, &scratch);
    ASSERT_TRUE(full.ok()) << full.status();
    AugmentView(full->pixels, full->height, full->width, full->channels, options, seed, exact.data());
    absl::StatusOr<ImageRef> small = LoadImageScaled(*data, i, &scratch, [&](int h, int w) {
      return scales[i] = TrainDecodeScale(h, w, options, &seed, 1);
    });
    ASSERT_TRUE(small.ok()) << small.status();
    AugmentView(small->pixels, small->height, small->width, small->channels, options, seed, fast.data());
    for (int c = 0; c < 3; ++c) {
      for (int64_t p = 0; p < plane; ++p) {
        const double x = exact[c * plane + p], y = fast[c * plane + p];
        sums[12 * i + c] += x;
        sums[12 * i + 3 + c] += x * x;
        sums[12 * i + 6 + c] += y;
        sums[12 * i + 9 + c] += y * y;
        abs_diff[i] += std::abs(x - y);
      }
    }
    abs_diff[i] /= floats;
  });
  // Images whose crop was too small for any scale decode identically on both paths; compare
  // the ones the fast path did decode smaller.
  std::vector<int64_t> scaled;
  for (int64_t i = 0; i < n; ++i) {
    if (scales[i] > 1) scaled.push_back(i);
  }
  double mean_abs_diff = 0, worst_abs_diff = 0;
  for (int64_t i : scaled) {
    mean_abs_diff += abs_diff[i] / scaled.size();
    worst_abs_diff = std::max(worst_abs_diff, abs_diff[i]);
  }
  const double count = static_cast<double>(scaled.size()) * plane;
  for (int c = 0; c < 3; ++c) {
    double ex = 0, ex2 = 0, fx = 0, fx2 = 0;
    for (int64_t i : scaled) {
      ex += sums[12 * i + c];
      ex2 += sums[12 * i + 3 + c];
      fx += sums[12 * i + 6 + c];
      fx2 += sums[12 * i + 9 + c];
    }
    const double exact_mean = ex / count, fast_mean = fx / count;
    const double exact_std = std::sqrt(ex2 / count - exact_mean * exact_mean);
    const double fast_std = std::sqrt(fx2 / count - fast_mean * fast_mean);
    std::cout << "channel " << c << ": exact mean " << exact_mean << " std " << exact_std << ", fast mean "
              << fast_mean << " std " << fast_std << "\n";
    EXPECT_NEAR(fast_mean, exact_mean, 0.01) << "channel " << c;  // normalised units (1 = one stddev)
    EXPECT_NEAR(fast_std / exact_std, 1.0, 0.02) << "channel " << c;
  }
  std::cout << scaled.size() << " of " << n << " images decoded below full size; over them, mean |fast - exact| "
            << mean_abs_diff << " (worst image " << worst_abs_diff << ") in normalised units\n";
  // Only crops of at least 448 px decode at 1/2 or less: on this sample (mean 468 px wide) a few
  // percent of the training views.
  EXPECT_GE(scaled.size(), 20u);
  EXPECT_LT(mean_abs_diff, 0.1);
}

TEST(ImageBatchesTest, EvalBatchIsDeterministic) {
  LabeledImages data = Synthetic(6);
  AugmentOptions options;
  options.recipe = AugmentRecipe::kCifar;
  options.out_size = 12;
  at::Tensor a = *EvalBatch(data, 1, 5, options, 2, true);
  EXPECT_EQ(a.sizes(), torch::IntArrayRef({4, 3, 12, 12}));
  EXPECT_TRUE(a.is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(torch::equal(a, *EvalBatch(data, 1, 5, options, 1, false)));
}

}  // namespace
}  // namespace moco
