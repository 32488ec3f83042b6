// BM_AugmentPair: the cost of one training image's two views, per recipe and view size.
//
//   bazel run -c opt //moco/augment:augment_benchmark -- --benchmark_out=augment.json
//
// size 32: a 32x32 RGB source (CIFAR-10) into 32x32 views. size 224: a 500x375 RGB source
// (about the mean ImageNet photo) into 224x224 views. One thread; images/s counts source
// images, each giving two views.
#include <cstdint>
#include <vector>

#include "benchmark/benchmark.h"
#include "moco/augment/augment.h"
#include "moco/augment/random.h"

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

void BM_AugmentPair(benchmark::State& state) {
  const int size = static_cast<int>(state.range(0));
  const auto recipe = static_cast<AugmentRecipe>(state.range(1));
  const int height = size == 32 ? 32 : 375;
  const int width = size == 32 ? 32 : 500;

  // A few distinct random images, so that the caches see more than one source.
  constexpr int kImages = 16;
  SplitMix64 rng(1);
  std::vector<std::vector<uint8_t>> images(kImages);
  for (auto& image : images) {
    image.resize(static_cast<size_t>(height) * width * 3);
    for (uint8_t& p : image) p = static_cast<uint8_t>(rng.Below(256));
  }
  AugmentOptions options;
  options.recipe = recipe;
  options.out_size = size;
  if (!CheckAugmentArgs(height, width, 3, options).ok()) {
    state.SkipWithError("invalid augmentation arguments");
    return;
  }
  std::vector<float> query(3 * size * size);
  std::vector<float> key(3 * size * size);

  int64_t index = 0;
  for (auto _ : state) {
    const std::vector<uint8_t>& image = images[index % kImages];
    AugmentView(image.data(), height, width, 3, options, ViewSeed(0, 0, index, 0),
                query.data());
    AugmentView(image.data(), height, width, 3, options, ViewSeed(0, 0, index, 1), key.data());
    benchmark::DoNotOptimize(query.data());
    benchmark::DoNotOptimize(key.data());
    benchmark::ClobberMemory();
    ++index;
  }
  state.SetLabel(RecipeName(recipe));
  state.counters["images/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

BENCHMARK(BM_AugmentPair)
    ->ArgNames({"size", "recipe"})
    ->ArgsProduct({{32, 224},
                   {static_cast<int>(AugmentRecipe::kV1), static_cast<int>(AugmentRecipe::kV2),
                    static_cast<int>(AugmentRecipe::kCifar)}});

}  // namespace
}  // namespace moco

BENCHMARK_MAIN();
