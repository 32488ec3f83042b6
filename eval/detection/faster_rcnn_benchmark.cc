// The cost of a Faster R-CNN C4 training step on the CPU, whole and by part, for sizing the
// detection tiers: ResNet-18 at width 0.25, two images of 256 x 340 (Penn-Fudan at the cpu
// tier's short side) with three boxes each.
//
//   bazel run -c opt //eval/detection:faster_rcnn_benchmark -- --benchmark_out=detection.json
//
// Arguments: stem (1: CIFAR, feature stride 4; 0: ImageNet, stride 16), RoIs sampled per image,
// intra-op threads.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/utils.h>

#include "benchmark/benchmark.h"
#include "eval/detection/faster_rcnn.h"

namespace moco {
namespace {

struct Setup {
  FasterRcnnC4 model{nullptr};
  at::Tensor images = at::randn({2, 3, 256, 340});
  std::vector<std::array<int64_t, 2>> sizes = {{256, 340}, {256, 340}};
  std::vector<ImageTargets> targets;

  Setup(bool cifar_stem, int rois) {
    torch::manual_seed(0);
    model = FasterRcnnC4(ResNet(ResNetOptions(18).width_multiplier(0.25).cifar_stem(cifar_stem)),
                         FasterRcnnOptions(1)
                             .anchor_sizes({16, 32, 64, 128, 256})
                             .rpn_pre_nms_top_n_train(2000)
                             .rpn_post_nms_top_n_train(1000)
                             .roi_batch_size_per_image(rois));
    const at::Tensor boxes = at::tensor({20.f, 30.f, 80.f, 200.f, 150.f, 40.f, 210.f, 230.f, 250.f, 10.f, 330.f, 250.f});
    for (int i = 0; i < 2; ++i) targets.push_back({boxes.view({3, 4}), at::zeros({3}, at::kLong)});
    model->train();
  }
};

void BM_TrainStep(benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(2)));
  Setup setup(state.range(0) == 1, static_cast<int>(state.range(1)));
  for (auto _ : state) {
    setup.model->zero_grad();
    setup.model->Losses(setup.images, setup.sizes, setup.targets).Total().backward();
  }
  state.counters["images/s"] = benchmark::Counter(2.0 * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_TrainStep)->ArgNames({"cifar_stem", "rois", "threads"})
    ->Args({1, 128, 2})->Args({1, 128, 1})->Args({1, 64, 2})->Args({0, 128, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

// The backbone to res4, forward and backward. (NHWC images and weights were no faster here.)
void BM_Features(benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(2)));
  Setup setup(state.range(0) == 1, static_cast<int>(state.range(1)));
  for (auto _ : state) setup.model->Features(setup.images).sum().backward();
}
BENCHMARK(BM_Features)->ArgNames({"cifar_stem", "rois", "threads"})
    ->Args({1, 0, 2})->Args({1, 0, 1})->Unit(benchmark::kMillisecond)->UseRealTime();

// RoIAlign and res5 on 2 x rois RoIs, forward and backward.
void BM_BoxHead(benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(2)));
  Setup setup(state.range(0) == 1, static_cast<int>(state.range(1)));
  at::Tensor features = setup.model->Features(setup.images).detach().requires_grad_();
  const int64_t k = 2 * state.range(1);
  at::Tensor xy = at::rand({k, 2}) * 200, wh = at::rand({k, 2}) * 100 + 20;
  at::Tensor rois = at::cat({at::arange(k).remainder(2).to(at::kFloat).unsqueeze(1), xy, xy + wh}, 1);
  for (auto _ : state) {
    auto [logits, deltas] = setup.model->BoxHead(features, rois);
    (logits.sum() + deltas.sum()).backward();
  }
}
BENCHMARK(BM_BoxHead)->ArgNames({"cifar_stem", "rois", "threads"})
    ->Args({1, 128, 2})->Args({1, 64, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace moco

BENCHMARK_MAIN();
