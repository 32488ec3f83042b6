// Micro-benchmarks of the data path, no LibTorch: JPEG and PNG decoding of real files, the
// two-view augmentation (v1, v2, CIFAR recipes), decoding plus two views of a CIFAR-10 JPEG and of
// a real ImageNet JPEG on one core (the figures compared with PIL + torchvision), and reading a
// whole image folder.
//
//   bazel run //benchmarks:micro_data -- --benchmark_format=json > data.json
//   bazel run //benchmarks:micro_data -- --benchmark_filter=DecodeAugment --benchmark_min_time=0.5
//
// Files come from the datasets folder (moco/common/paths.h): CIFAR-10 JPEGs
// (cifar10-jpeg/train, 32x32) and Penn-Fudan PNGs (pennfudan/PennFudanPed/PNGImages, about
// 550x450). A benchmark whose files are missing stops with an error that names the folder.
// Counters: images/s (source images; each gives two views in the augmentation benchmarks) and
// bytes_per_second (encoded bytes read by the decoders). All but BM_ReadImageFolder run on one
// thread, and their rates are per CPU second of it (Google Benchmark's default), so other work on
// a shared machine does not lower them; BM_ReadImageFolder's are per wall-clock second.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "moco/augment/augment.h"
#include "moco/common/paths.h"
#include "moco/data/decode.h"
#include "moco/data/image_folder.h"

namespace moco {
namespace {

const char* RecipeName(AugmentRecipe recipe) {
  switch (recipe) {
    case AugmentRecipe::kV1:
      return "v1";
    case AugmentRecipe::kV2:
      return "v2";
    case AugmentRecipe::kCifar:
      return "cifar";
  }
  return "?";
}

// The encoded bytes of up to `count` images of an image folder (class-balanced when it has classes)
// or of a flat folder of images.
absl::StatusOr<std::vector<std::string>> ReadEncoded(const std::string& root, int count, bool class_folders) {
  std::vector<std::string> paths;
  if (class_folders) {
    absl::StatusOr<ImageFolderIndex> index = ListImageFolder(root, count);
    if (!index.ok()) return index.status();
    paths = index->paths;
  } else {
    // A folder of images without classes (Penn-Fudan): its files, by name.
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
      if (entry.is_regular_file()) paths.push_back(entry.path().string());
    }
    std::sort(paths.begin(), paths.end());
    if (static_cast<int>(paths.size()) > count) paths.resize(count);
    if (paths.empty()) return absl::NotFoundError(absl::StrCat("no images in ", root));
  }
  std::vector<std::string> files;
  for (const std::string& path : paths) {
    absl::StatusOr<std::string> bytes = ReadFile(path);
    if (!bytes.ok()) return bytes.status();
    files.push_back(*std::move(bytes));
  }
  return files;
}

void Decode(benchmark::State& state, const std::string& root, int count, bool class_folders) {
  absl::StatusOr<std::vector<std::string>> files = ReadEncoded(root, count, class_folders);
  if (!files.ok()) {
    state.SkipWithError(files.status().ToString().c_str());
    return;
  }
  int64_t index = 0, bytes = 0;
  for (auto _ : state) {
    const std::string& file = (*files)[index++ % files->size()];
    absl::StatusOr<Image> image = DecodeImage(file, "benchmark");
    if (!image.ok()) {
      state.SkipWithError(image.status().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(image->pixels.data());
    bytes += static_cast<int64_t>(file.size());
  }
  state.SetBytesProcessed(bytes);
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// CIFAR-10 training JPEGs, 32x32.
void BM_DecodeJpeg(benchmark::State& state) { Decode(state, DataPath("cifar10-jpeg/train"), 1000, true); }
BENCHMARK(BM_DecodeJpeg);

// The 1,000 ImageNet sample JPEGs (68-2400 px wide), full decode: the decode's share of
// BM_DecodeAugmentPair/imagenet/fast:0.
void BM_DecodeJpegImageNet(benchmark::State& state) { Decode(state, DataPath("imagenet-sample/train"), 1000, true); }
BENCHMARK(BM_DecodeJpegImageNet)->Name("BM_DecodeJpeg/imagenet");

// Penn-Fudan PNGs, about 550x450 RGB.
void BM_DecodePng(benchmark::State& state) { Decode(state, DataPath("pennfudan/PennFudanPed/PNGImages"), 32, false); }
BENCHMARK(BM_DecodePng)->Unit(benchmark::kMillisecond);

// The two views of one training image, per recipe and view size. size 32: a 32x32 RGB source
// (CIFAR-10) into 32x32 views; size 224: a 500x375 RGB source (about the mean ImageNet photo) into
// 224x224 views. Random pixels: the cost does not depend on content.
void BM_AugmentPair(benchmark::State& state) {
  const int size = static_cast<int>(state.range(0));
  const auto recipe = static_cast<AugmentRecipe>(state.range(1));
  const int height = size == 32 ? 32 : 375;
  const int width = size == 32 ? 32 : 500;
  constexpr int kImages = 16;  // a few distinct sources, so that the caches see more than one
  std::mt19937 rng(1);
  std::vector<std::vector<uint8_t>> images(kImages);
  for (auto& image : images) {
    image.resize(static_cast<size_t>(height) * width * 3);
    for (uint8_t& p : image) p = static_cast<uint8_t>(rng() & 0xFF);
  }
  AugmentOptions options;
  options.recipe = recipe;
  options.out_size = size;
  if (!CheckAugmentArgs(height, width, 3, options).ok()) {
    state.SkipWithError("invalid augmentation arguments");
    return;
  }
  std::vector<float> query(3 * size * size), key(3 * size * size);
  int64_t index = 0;
  for (auto _ : state) {
    const std::vector<uint8_t>& image = images[index % kImages];
    AugmentView(image.data(), height, width, 3, options, ViewSeed(0, 0, index, 0), query.data());
    AugmentView(image.data(), height, width, 3, options, ViewSeed(0, 0, index, 1), key.data());
    benchmark::DoNotOptimize(query.data());
    benchmark::DoNotOptimize(key.data());
    benchmark::ClobberMemory();
    ++index;
  }
  state.SetLabel(RecipeName(recipe));
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AugmentPair)
    ->ArgNames({"size", "recipe"})
    ->ArgsProduct({{32, 224},
                   {static_cast<int>(AugmentRecipe::kV1), static_cast<int>(AugmentRecipe::kV2),
                    static_cast<int>(AugmentRecipe::kCifar)}});

// One core's decode + two CIFAR-recipe views per CIFAR-10 JPEG: what one DataLoader worker does
// per image with PIL and torchvision (the Python reference's augment mode measures that).
void BM_DecodeAugmentPair(benchmark::State& state) {
  absl::StatusOr<std::vector<std::string>> files = ReadEncoded(DataPath("cifar10-jpeg/train"), 1000, true);
  if (!files.ok()) {
    state.SkipWithError(files.status().ToString().c_str());
    return;
  }
  AugmentOptions options;
  options.recipe = AugmentRecipe::kCifar;
  options.out_size = 32;
  options.mean = kCifar10Mean;
  options.stddev = kCifar10Stddev;
  std::vector<float> query(3 * 32 * 32), key(3 * 32 * 32);
  int64_t index = 0;
  for (auto _ : state) {
    absl::StatusOr<Image> image = DecodeImage((*files)[index % files->size()], "benchmark");
    if (!image.ok()) {
      state.SkipWithError(image.status().ToString().c_str());
      return;
    }
    AugmentView(image->pixels.data(), image->height, image->width, 3, options, ViewSeed(0, 0, index, 0), query.data());
    AugmentView(image->pixels.data(), image->height, image->width, 3, options, ViewSeed(0, 0, index, 1), key.data());
    benchmark::DoNotOptimize(query.data());
    benchmark::DoNotOptimize(key.data());
    ++index;
  }
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DecodeAugmentPair)->Name("BM_DecodeAugmentPair/cifar");

// One core's decode + two V2 views at 224 px per real ImageNet JPEG (the 1,000-image sample, 68-2400
// px wide, some grayscale), as the streaming loader makes them: the figure compared with PIL +
// torchvision's MoCo v2 views. fast 0: full decode (data.decode EXACT, as PIL); fast 1: decoded at
// the DCT scale the two crops allow (data.decode FAST).
void BM_DecodeAugmentPairImageNet(benchmark::State& state) {
  const bool fast = state.range(0) != 0;
  absl::StatusOr<std::vector<std::string>> files = ReadEncoded(DataPath("imagenet-sample/train"), 1000, true);
  if (!files.ok()) {
    state.SkipWithError(files.status().ToString().c_str());
    return;
  }
  AugmentOptions options;
  options.recipe = AugmentRecipe::kV2;
  options.out_size = 224;
  std::vector<float> query(3 * 224 * 224), key(3 * 224 * 224);
  int64_t index = 0;
  for (auto _ : state) {
    const std::string& file = (*files)[index % files->size()];
    const uint64_t seeds[2] = {ViewSeed(0, 0, index, 0), ViewSeed(0, 0, index, 1)};
    absl::StatusOr<Image> image = absl::InternalError("unset");
    if (fast) {
      absl::StatusOr<ImageSize> size = ReadImageSize(file, "benchmark");
      if (size.ok()) image = DecodeImageScaled(file, "benchmark", TrainDecodeScale(size->height, size->width, options, seeds, 2));
    } else {
      image = DecodeImage(file, "benchmark");
    }
    if (!image.ok()) {
      state.SkipWithError(image.status().ToString().c_str());
      return;
    }
    AugmentView(image->pixels.data(), image->height, image->width, 3, options, seeds[0], query.data());
    AugmentView(image->pixels.data(), image->height, image->width, 3, options, seeds[1], key.data());
    benchmark::DoNotOptimize(query.data());
    benchmark::DoNotOptimize(key.data());
    ++index;
  }
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DecodeAugmentPairImageNet)->Name("BM_DecodeAugmentPair/imagenet")->ArgNames({"fast"})->Arg(0)->Arg(1);

// Listing and decoding 10,000 CIFAR-10 training JPEGs into memory, by decoding threads (0: one
// per core). Real time: the decoding runs on worker threads.
void BM_ReadImageFolder(benchmark::State& state) {
  const std::string root = DataPath("cifar10-jpeg/train");
  ImageFolderOptions options;
  options.threads = static_cast<int>(state.range(0));
  options.max_images = 10000;
  int64_t images = 0;
  for (auto _ : state) {
    absl::StatusOr<LabeledImages> data = ReadImageFolder(root, options);
    if (!data.ok()) {
      state.SkipWithError(data.status().ToString().c_str());
      return;
    }
    images += data->size();
  }
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(images), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ReadImageFolder)
    ->ArgNames({"threads"})
    ->Arg(1)
    ->Arg(2)
    ->Iterations(2)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace moco

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("hardware_threads", std::to_string(std::thread::hardware_concurrency()));
  benchmark::AddCustomContext("data", moco::DataDir());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
