// Detection transfer of detection.h but its training loop (train_detector.cc): the detector's
// options and data from eval.detection, detector batches, the lr schedule, COCO evaluation and
// the whole protocol with its picture and record.
//
//   MOCO_ASSIGN_OR_RETURN(DetectionRunResult result, RunDetectionTransfer(config, encoder, options));
#include "eval/detection/detection.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>
#include <torch/headeronly/version.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "configs/config.h"
#include "google/protobuf/text_format.h"
#include "eval/detection/draw.h"
#include "moco/augment/augment.h"
#include "moco/common/duration.h"
#include "moco/common/paths.h"
#include "configs/record.h"
#include "moco/common/status.h"
#include "moco/data/decode.h"
#include "moco/train/run_setup.h"

namespace moco {
namespace {

using Clock = std::chrono::steady_clock;
using config::DetectionEvalConfig;

// detectron2's ResizeShortestEdge: (height, width) with the shorter side min_size, unless
// the longer would then exceed max_size.
std::array<int64_t, 2> ResizedSize(int64_t height, int64_t width, int min_size, int max_size) {
  double scale = static_cast<double>(min_size) / std::min(height, width);
  if (std::max(height, width) * scale > max_size) scale = static_cast<double>(max_size) / std::max(height, width);
  return {static_cast<int64_t>(height * scale + 0.5), static_cast<int64_t>(width * scale + 0.5)};
}

int64_t RoundUp(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

std::vector<double> Doubles(const google::protobuf::RepeatedField<float>& values) {
  return std::vector<double>(values.begin(), values.end());
}

// What a detection run's training depends on, which a checkpoint must match to be resumed: the
// config's identity (ConfigIdentity: not the output folder, threads or device) and eval.detection
// but for how often it logs and saves and what it draws.
std::string DetectionIdentity(const config::ExperimentConfig& resolved) {
  DetectionEvalConfig d = resolved.eval().detection();
  d.clear_log_every_iterations();
  d.clear_checkpoint_every_iterations();
  d.clear_visualize_images();
  d.clear_visualize_score_threshold();
  std::string text;
  google::protobuf::TextFormat::PrintToString(d, &text);
  return absl::StrCat(ConfigIdentity(resolved), "# eval.detection\n", text);
}

// Every process's rows (M_r x C double, CPU) on every process, in rank order: the row counts are
// gathered first, each table padded to the largest, gathered, and the padding dropped.
absl::StatusOr<at::Tensor> GatherRows(const at::Tensor& rows, const ProcessGroupHandle& group) {
  const c10::Device device = CollectiveDevice(group);
  MOCO_ASSIGN_OR_RETURN(at::Tensor counts, group.AllGather(at::full({1}, rows.size(0), at::kLong).to(device)));
  counts = counts.cpu();
  const int64_t most = counts.max().item<int64_t>();
  at::Tensor padded = at::zeros({most, rows.size(1)}, rows.options());
  padded.slice(0, 0, rows.size(0)).copy_(rows);
  MOCO_ASSIGN_OR_RETURN(at::Tensor all, group.AllGather(padded.to(device)));
  all = all.cpu();
  std::vector<at::Tensor> parts;
  for (int r = 0; r < group.world_size(); ++r) parts.push_back(all.slice(0, r * most, r * most + counts[r].item<int64_t>()));
  return at::cat(parts).contiguous();
}

// A sum over the processes of a group whose gradient is the sum over the processes of theirs:
// the CrossProcessSum of synchronised BN. (The group travels as an integer, the one kind of
// value autograd's saved data holds; it outlives the run's backward passes.)
class AllReduceSumFunction : public torch::autograd::Function<AllReduceSumFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, int64_t group) {
    ctx->saved_data["group"] = group;
    return Sum(x, group);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    return {Sum(grads[0], ctx->saved_data["group"].toInt()), at::Tensor()};
  }

 private:
  static at::Tensor Sum(const at::Tensor& x, int64_t group) {
    at::Tensor y = x.contiguous().clone();
    const absl::Status status = reinterpret_cast<const ProcessGroupHandle*>(group)->AllReduceSum(y);
    if (!status.ok()) throw std::runtime_error(absl::StrCat("synchronised BN: ", status.message()));
    return y;
  }
};

}  // namespace

c10::Device CollectiveDevice(const ProcessGroupHandle& group) {
  return group.backend() == Backend::kNccl ? c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(group.env().local_rank))
                                           : c10::Device(c10::kCPU);
}

FasterRcnnOptions FasterRcnnOptionsFor(const DetectionEvalConfig& d, int num_classes) {
  FasterRcnnOptions options(num_classes);
  if (d.anchor_sizes_size() > 0) options.anchor_sizes(Doubles(d.anchor_sizes()));
  if (d.aspect_ratios_size() > 0) options.aspect_ratios(Doubles(d.aspect_ratios()));
  options.rpn_pre_nms_top_n_train(d.rpn_pre_nms_top_n_train())
      .rpn_post_nms_top_n_train(d.rpn_post_nms_top_n_train())
      .rpn_pre_nms_top_n_test(d.rpn_pre_nms_top_n_test())
      .rpn_post_nms_top_n_test(d.rpn_post_nms_top_n_test())
      .rpn_nms_threshold(d.rpn_nms_threshold())
      .rpn_batch_size_per_image(d.rpn_batch_size_per_image())
      .rpn_positive_fraction(d.rpn_positive_fraction())
      .rpn_foreground_iou(d.rpn_foreground_iou())
      .rpn_background_iou(d.rpn_background_iou())
      .rpn_smooth_l1_beta(d.rpn_smooth_l1_beta())
      .roi_batch_size_per_image(d.roi_batch_size_per_image())
      .roi_positive_fraction(d.roi_positive_fraction())
      .roi_foreground_iou(d.roi_foreground_iou())
      .roi_smooth_l1_beta(d.roi_smooth_l1_beta())
      .pooler_resolution(d.pooler_resolution())
      .pooler_sampling_ratio(d.pooler_sampling_ratio())
      .score_threshold(d.score_threshold())
      .nms_threshold(d.nms_threshold())
      .detections_per_image(d.detections_per_image())
      .bn(d.bn() == DetectionEvalConfig::FROZEN ? DetectorBatchNorm::kFrozen : DetectorBatchNorm::kTrained);
  return options;
}

absl::StatusOr<DetectionDataset> LoadDetectionSplit(const DetectionEvalConfig& d, bool train) {
  const std::string root = DataPath(d.root());
  const std::string& split = train ? d.train_split() : d.test_split();
  absl::StatusOr<DetectionDataset> data;
  switch (d.dataset()) {
    case DetectionEvalConfig::PENN_FUDAN:
      data = ReadPennFudanDetection(root, train ? PennFudanSplit::kTrain : PennFudanSplit::kTest);
      break;
    case DetectionEvalConfig::VOC:
      data = ReadVoc(root, split);
      break;
    case DetectionEvalConfig::COCO_JSON: {
      const std::filesystem::path base(root);
      data = ReadCocoJson((base / split).string(), (base / (train ? d.train_images() : d.test_images())).string());
      break;
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("eval.detection.dataset: unsupported value ", DetectionEvalConfig::Dataset_Name(d.dataset())));
  }
  if (!data.ok()) {
    return absl::Status(data.status().code(), absl::StrCat("eval.detection (root ", root, ", ",
                                                           train ? "train" : "test", " split): ",
                                                           data.status().message()));
  }
  if (data->images.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("eval.detection: the ", train ? "train" : "test", " split of ", root, " has no images"));
  }
  return data;
}

ResNet SingleSplitCopy(const ResNet& encoder) {
  ResNetOptions options = encoder->options();
  options.bn_splits(1);
  ResNet copy(options);
  at::NoGradGuard no_grad;
  auto source_parameters = encoder->named_parameters();
  for (auto& item : copy->named_parameters()) item.value().copy_(source_parameters[item.key()]);
  auto source_buffers = encoder->named_buffers();
  for (auto& item : copy->named_buffers()) item.value().copy_(source_buffers[item.key()]);
  return copy;
}

DetectionPreprocessing PreprocessingFor(const config::ExperimentConfig& config, const FasterRcnnC4Impl& model) {
  DetectionPreprocessing preprocessing;
  if (config.data().augmentation() == config::DataConfig::CIFAR) {
    preprocessing.mean = kCifar10Mean;
    preprocessing.stddev = kCifar10Stddev;
  } else {
    preprocessing.mean = kImageNetMean;
    preprocessing.stddev = kImageNetStddev;
  }
  preprocessing.max_size = config.eval().detection().max_size();
  preprocessing.size_divisibility = model.feature_stride();
  return preprocessing;
}

std::array<int64_t, 2> PaddedBatchSize(const DetectionDataset& data, const std::vector<int>& image_indices,
                                       const std::vector<int>& min_sizes, const DetectionPreprocessing& preprocessing) {
  std::array<int64_t, 2> padded = {0, 0};
  for (size_t k = 0; k < image_indices.size(); ++k) {
    const DetectionImage& image = data.images.at(image_indices[k]);
    const std::array<int64_t, 2> size = ResizedSize(image.height, image.width, min_sizes[k], preprocessing.max_size);
    padded = {std::max(padded[0], size[0]), std::max(padded[1], size[1])};
  }
  const int64_t m = preprocessing.size_divisibility;
  return {(padded[0] + m - 1) / m * m, (padded[1] + m - 1) / m * m};
}

absl::StatusOr<std::vector<at::Tensor>> DecodeDetectionImages(const DetectionDataset& data,
                                                              const std::vector<int>& indices) {
  std::vector<at::Tensor> pixels(indices.size());
  std::vector<absl::Status> statuses(indices.size());
  at::parallel_for(0, static_cast<int64_t>(indices.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const DetectionImage& entry = data.images.at(indices[k]);
      absl::StatusOr<Image> image = ReadImage(entry.path);
      if (!image.ok()) {
        statuses[k] = image.status();
        continue;
      }
      if (image->width != entry.width || image->height != entry.height) {
        statuses[k] = absl::DataLossError(absl::StrCat(entry.path, ": image is ", image->width, " x ", image->height,
                                                       ", its annotation says ", entry.width, " x ", entry.height));
        continue;
      }
      at::Tensor hwc = at::from_blob(image->pixels.data(), {image->height, image->width, 3}, at::kByte);
      pixels[k] = hwc.permute({2, 0, 1}).contiguous();  // 3 x H x W
    }
  });
  for (const absl::Status& status : statuses) MOCO_RETURN_IF_ERROR(status);
  return pixels;
}

DetectorBatch MakeDetectorBatch(const DetectionDataset& data, const std::vector<int>& image_indices,
                                const std::vector<at::Tensor>& pixels, const std::vector<int>& min_sizes,
                                const std::vector<bool>& flips, const DetectionPreprocessing& preprocessing,
                                const std::array<int64_t, 2>* pad_to) {
  const size_t n = image_indices.size();
  TORCH_CHECK(pixels.size() == n && min_sizes.size() == n && flips.size() == n, "MakeDetectorBatch: ", n, " images, ",
              pixels.size(), " pixel tensors, ", min_sizes.size(), " sizes, ", flips.size(), " flips");
  const at::Tensor mean = at::tensor(std::vector<float>(preprocessing.mean.begin(), preprocessing.mean.end())).view({3, 1, 1});
  const at::Tensor stddev =
      at::tensor(std::vector<float>(preprocessing.stddev.begin(), preprocessing.stddev.end())).view({3, 1, 1});
  DetectorBatch batch;
  std::vector<at::Tensor> resized;
  int64_t max_h = 0, max_w = 0;
  for (size_t k = 0; k < n; ++k) {
    const at::Tensor& original = pixels[k];  // 3 x H x W uint8
    const int64_t h = original.size(1), w = original.size(2);
    const auto [new_h, new_w] = ResizedSize(h, w, min_sizes[k], preprocessing.max_size);
    at::Tensor x = original.unsqueeze(0).to(at::kFloat).div_(255.0);
    if (new_h != h || new_w != w) x = at::_upsample_bilinear2d_aa(x, {new_h, new_w}, /*align_corners=*/false);
    x = x.squeeze(0);
    if (flips[k]) x = x.flip({2});
    resized.push_back(x.sub_(mean).div_(stddev));
    batch.image_sizes.push_back({new_h, new_w});
    const double sx = static_cast<double>(new_w) / w, sy = static_cast<double>(new_h) / h;
    batch.scales.push_back({sx, sy});
    std::vector<float> boxes;
    std::vector<int64_t> labels;
    for (const GroundTruthBox& box : data.images.at(image_indices[k]).boxes) {
      if (box.crowd) continue;
      float x1 = static_cast<float>(box.x1 * sx), x2 = static_cast<float>(box.x2 * sx);
      if (flips[k]) std::tie(x1, x2) = std::make_pair(new_w - x2, new_w - x1);
      boxes.insert(boxes.end(), {x1, static_cast<float>(box.y1 * sy), x2, static_cast<float>(box.y2 * sy)});
      labels.push_back(box.label);
    }
    const int64_t g = static_cast<int64_t>(labels.size());
    batch.targets.push_back({at::tensor(boxes).view({g, 4}), at::tensor(labels).view({g})});
    max_h = std::max(max_h, new_h);
    max_w = std::max(max_w, new_w);
  }
  max_h = RoundUp(max_h, preprocessing.size_divisibility);
  max_w = RoundUp(max_w, preprocessing.size_divisibility);
  if (pad_to != nullptr) {
    TORCH_CHECK((*pad_to)[0] >= max_h && (*pad_to)[1] >= max_w, "MakeDetectorBatch: pad_to ", (*pad_to)[0], " x ",
                (*pad_to)[1], " is smaller than the images' ", max_h, " x ", max_w);
    max_h = (*pad_to)[0];
    max_w = (*pad_to)[1];
  }
  batch.images = at::zeros({static_cast<int64_t>(n), 3, max_h, max_w});
  for (size_t k = 0; k < n; ++k) {
    batch.images[k].slice(1, 0, resized[k].size(1)).slice(2, 0, resized[k].size(2)).copy_(resized[k]);
  }
  return batch;
}

double DetectionLearningRate(const DetectionEvalConfig& d, int64_t iteration, int64_t schedule_iterations) {
  double lr = d.lr();
  if (iteration < d.warmup_iterations()) {
    const double alpha = static_cast<double>(iteration) / d.warmup_iterations();
    lr *= d.warmup_factor() * (1.0 - alpha) + alpha;
  }
  if (iteration >= std::llround(schedule_iterations * 3.0 / 4.0)) lr *= 0.1;
  if (iteration >= std::llround(schedule_iterations * 11.0 / 12.0)) lr *= 0.1;
  return lr;
}

absl::StatusOr<EvaluateDetectorResult> EvaluateDetector(FasterRcnnC4Impl& model, const DetectionDataset& test,
                                                        const DetectionEvalConfig& d,
                                                        const DetectionPreprocessing& preprocessing,
                                                        c10::Device device, const ProcessGroupHandle* group) {
  const Clock::time_point start = Clock::now();
  const int world = group != nullptr ? group->world_size() : 1;
  const int rank = group != nullptr ? group->rank() : 0;
  // This process's detections, one row each: test image index, label, x1, y1, x2, y2, score (the
  // floats held exactly in double), in the original image's pixels.
  std::vector<double> rows;
  const bool was_training = model.is_training();
  model.eval();
  {
    at::NoGradGuard no_grad;
    for (int i = rank; i < static_cast<int>(test.images.size()); i += world) {
      MOCO_ASSIGN_OR_RETURN(std::vector<at::Tensor> pixels, DecodeDetectionImages(test, {i}));
      DetectorBatch batch = MakeDetectorBatch(test, {i}, pixels, {d.min_size()}, {false}, preprocessing);
      ImageDetections found = model.Detect(batch.images.to(device), batch.image_sizes)[0];
      at::Tensor boxes = found.boxes.to(at::kCPU, at::kFloat).contiguous();
      at::Tensor scores = found.scores.to(at::kCPU, at::kFloat).contiguous();
      at::Tensor labels = found.labels.to(at::kCPU, at::kLong).contiguous();
      const auto [sx, sy] = batch.scales[0];
      for (int64_t k = 0; k < boxes.size(0); ++k) {
        const float* b = boxes.data_ptr<float>() + 4 * k;
        rows.insert(rows.end(), {static_cast<double>(i), static_cast<double>(labels.data_ptr<int64_t>()[k]),
                                 static_cast<float>(b[0] / sx), static_cast<float>(b[1] / sy),
                                 static_cast<float>(b[2] / sx), static_cast<float>(b[3] / sy), scores.data_ptr<float>()[k]});
      }
    }
  }
  model.train(was_training);
  at::Tensor table = at::tensor(rows, at::kDouble).view({-1, 7});
  if (world > 1) {
    MOCO_ASSIGN_OR_RETURN(table, GatherRows(table, *group));
  }

  // Every process has every detection: the AP is the one a single process computes.
  EvaluateDetectorResult result;
  result.detections.resize(test.images.size());
  const double* row = table.data_ptr<double>();
  for (int64_t r = 0; r < table.size(0); ++r, row += 7) {
    const int i = static_cast<int>(row[0]);
    result.detections[i].push_back({test.images[i].id, static_cast<int>(row[1]), static_cast<float>(row[2]),
                                    static_cast<float>(row[3]), static_cast<float>(row[4]), static_cast<float>(row[5]),
                                    static_cast<float>(row[6])});
  }
  CocoEvaluator evaluator(&test);
  evaluator.Reset();
  for (const std::vector<Detection>& detections : result.detections) MOCO_RETURN_IF_ERROR(evaluator.Process({detections}));
  MOCO_ASSIGN_OR_RETURN(result.metrics, evaluator.Evaluate());
  result.seconds = SecondsSince(start);
  return result;
}

namespace {

// The config as a run over `world` processes resolves it: several processes sample per image (so
// the samples do not depend on the split; the record says so), and TORCH_RNG, one process's
// generator, is refused for them.
absl::StatusOr<config::ExperimentConfig> ResolveForProcesses(const config::ExperimentConfig& config, int world) {
  config::ExperimentConfig resolved = Resolve(config);
  DetectionEvalConfig* d = resolved.mutable_eval()->mutable_detection();
  if (world > 1 && d->sampling() == DetectionEvalConfig::TORCH_RNG) {
    return absl::InvalidArgumentError(absl::StrCat(
        "eval.detection.sampling TORCH_RNG samples from one process's generator; with ", world,
        " processes use PER_IMAGE (or leave it unset)"));
  }
  if (world > 1 && d->sampling() == DetectionEvalConfig::SAMPLING_UNSPECIFIED) d->set_sampling(DetectionEvalConfig::PER_IMAGE);
  return resolved;
}

// The first visualize_images test images with their ground truth and confident detections, as
// out_dir/detections.png; "" when none are asked for.
absl::StatusOr<std::string> WritePicture(const DetectionDataset& test, const DetectionEvalConfig& d,
                                         const EvaluateDetectorResult& evaluated, const std::filesystem::path& out_dir) {
  const int shown = std::min<int>(d.visualize_images(), static_cast<int>(test.images.size()));
  if (shown <= 0) return std::string();
  std::vector<AnnotatedImage> images;
  for (int i = 0; i < shown; ++i) {
    MOCO_ASSIGN_OR_RETURN(Image image, ReadImage(test.images[i].path));
    images.push_back({std::move(image), test.images[i].boxes, evaluated.detections[i]});
  }
  MOCO_ASSIGN_OR_RETURN(Image grid, RenderDetections(images, d.visualize_score_threshold(), /*columns=*/4));
  const std::string path = (out_dir / "detections.png").string();
  MOCO_RETURN_IF_ERROR(WriteRgbPng(grid, path));
  return path;
}

// The run's record (kind "detection"), but its wall time.
config::RunRecord DetectionRecord(const config::ExperimentConfig& resolved, const DetectionRunOptions& options,
                                  const TrainDetectorResult& trained, const EvaluateDetectorResult& evaluated,
                                  c10::Device device, int world, int64_t schedule, const std::string& final_model_path) {
  const DetectionEvalConfig& d = resolved.eval().detection();
  config::RunRecord record;
  record.set_kind("detection");
  record.set_name(resolved.name());
  auto& metrics = *record.mutable_metrics();
  for (const auto& [name, value] : evaluated.metrics) metrics[name] = value;
  metrics["iterations"] = static_cast<double>(trained.iterations);
  metrics["seconds_per_iteration"] = trained.seconds_per_iteration;
  metrics["train_seconds"] = trained.seconds;
  metrics["eval_seconds"] = evaluated.seconds;
  metrics["precise_bn_seconds"] = trained.precise_bn_seconds;
  if (!trained.total_losses.empty()) {
    const size_t tail = std::min<size_t>(20, trained.total_losses.size());
    double sum = 0;
    for (size_t k = trained.total_losses.size() - tail; k < trained.total_losses.size(); ++k) sum += trained.total_losses[k];
    metrics["final_loss"] = sum / tail;
  }
  StampRecord(resolved, device, options.context.threads, world, &record);
  // The detection result depends on eval.detection, which a config's identity leaves out; not on
  // how often the training state is saved. (Fields added since the first detection records are
  // left out where they hold their defaults, so those records keep their hashes.)
  config::ExperimentConfig hashed = resolved;
  hashed.mutable_eval()->mutable_detection()->clear_checkpoint_every_iterations();
  if (d.sampling() == DetectionEvalConfig::SAMPLING_UNSPECIFIED) hashed.mutable_eval()->mutable_detection()->clear_sampling();
  record.set_config_hash(ConfigHash(ToText(hashed)));
  record.set_checkpoint(options.init);
  record.set_data(DataPath(d.root()));
  std::string note = absl::StrCat("init=", options.init, "; bn=", d.bn() == DetectionEvalConfig::FROZEN ? "frozen" : "trained",
                                  "; schedule=", d.schedule() == DetectionEvalConfig::SCHEDULE_2X ? "2x" : "1x", " (",
                                  schedule, " iterations); detector ", final_model_path);
  if (trained.resumed_from > 0) absl::StrAppend(&note, "; resumed from iteration ", trained.resumed_from);
  if (trained.iterations < schedule) {
    absl::StrAppend(&note, "; stopped by --max_iters after ", trained.iterations, " of ", schedule, " iterations");
  }
  record.set_note(note);
  return record;
}

}  // namespace

absl::StatusOr<DetectionRunResult> RunDetectionTransfer(const config::ExperimentConfig& config, const ResNet& encoder,
                                                        const DetectionRunOptions& options) {
  const ProcessGroupHandle* group = options.group;
  const int world = group != nullptr ? group->world_size() : 1;
  const bool lead = group == nullptr || group->rank() == 0;
  MOCO_ASSIGN_OR_RETURN(const config::ExperimentConfig resolved, ResolveForProcesses(config, world));
  const DetectionEvalConfig& d = resolved.eval().detection();
  const config::RunConfig& run = resolved.run();
  const Clock::time_point start = Clock::now();
  const c10::Device device = options.context.device;

  MOCO_ASSIGN_OR_RETURN(DetectionDataset train, LoadDetectionSplit(d, /*train=*/true));
  MOCO_ASSIGN_OR_RETURN(DetectionDataset test, LoadDetectionSplit(d, /*train=*/false));
  if (d.max_test_images() > 0 && static_cast<int>(test.images.size()) > d.max_test_images()) {
    test.images.resize(d.max_test_images());
  }
  torch::manual_seed(run.seed());  // every process builds the same detector
  FasterRcnnC4 model(SingleSplitCopy(encoder), FasterRcnnOptionsFor(d, static_cast<int>(train.class_names.size())));
  model->to(device);
  if (world > 1 && d.bn() == DetectionEvalConfig::TRAINED) {
    model->backbone()->SynchronizeBatchNorm(std::make_shared<const CrossProcessSum>(
        [group](const at::Tensor& x) { return AllReduceSumFunction::apply(x, reinterpret_cast<int64_t>(group)); }));
  }
  const DetectionPreprocessing preprocessing = PreprocessingFor(resolved, *model);

  const std::filesystem::path out_dir(options.output_dir);
  std::error_code error;
  std::filesystem::create_directories(out_dir, error);
  if (error) return absl::PermissionDeniedError(absl::StrCat(out_dir.string(), ": cannot create: ", error.message()));
  const int64_t schedule = static_cast<int64_t>(d.iterations()) * (d.schedule() == DetectionEvalConfig::SCHEDULE_2X ? 2 : 1);
  TrainDetectorOptions train_options;
  train_options.schedule_iterations = schedule;
  train_options.iterations = options.max_iterations > 0 ? std::min(options.max_iterations, schedule) : schedule;
  train_options.seed = run.seed();
  train_options.device = device;
  train_options.log = lead ? &std::cout : nullptr;
  train_options.checkpoint_path = (out_dir / "checkpoint.pt").string();
  train_options.checkpoint_every = d.checkpoint_every_iterations();
  train_options.final_model_path = (out_dir / "model_final.pt").string();
  train_options.config_text = DetectionIdentity(resolved);
  train_options.group = group;
  train_options.per_image_sampling = d.sampling() == DetectionEvalConfig::PER_IMAGE;
  if (options.fresh && lead) {
    std::filesystem::remove(train_options.checkpoint_path, error);
    if (error) return absl::PermissionDeniedError(absl::StrCat(train_options.checkpoint_path, ": cannot delete: ", error.message()));
  }
  if (group != nullptr) MOCO_RETURN_IF_ERROR(group->Barrier());  // every process resumes from what rank 0 left
  if (lead) {
    std::cout << absl::StrFormat(
        "detection: Faster R-CNN C4 on %s (%d train / %d test images, %d classes), encoder %s, bn %s, %d of %d "
        "iterations, batch %d over %d process(es), lr %g, feature stride %d, device %s\n",
        DetectionEvalConfig::Dataset_Name(d.dataset()), train.images.size(), test.images.size(),
        train.class_names.size(), options.init, DetectionEvalConfig::BatchNorm_Name(d.bn()), train_options.iterations,
        schedule, d.batch_size(), world, d.lr(), model->feature_stride(), device.str());
  }
  MOCO_ASSIGN_OR_RETURN(TrainDetectorResult trained, TrainDetector(*model, train, d, preprocessing, train_options));
  MOCO_ASSIGN_OR_RETURN(EvaluateDetectorResult evaluated, EvaluateDetector(*model, test, d, preprocessing, device, group));

  DetectionRunResult result;
  result.metrics = evaluated.metrics;
  result.iterations = trained.iterations;
  result.resumed_from = trained.resumed_from;
  result.seconds_per_iteration = trained.seconds_per_iteration;
  result.train_seconds = trained.seconds;
  result.eval_seconds = evaluated.seconds;
  result.checkpoint_path = train_options.checkpoint_path;
  result.final_model_path = train_options.final_model_path;
  if (!lead) return result;  // rank 0 writes the detections, picture and record
  std::vector<Detection> detections;
  for (const std::vector<Detection>& found : evaluated.detections) detections.insert(detections.end(), found.begin(), found.end());
  result.detections_path = (out_dir / "detections.json").string();
  MOCO_RETURN_IF_ERROR(WriteCocoDetections(test, detections, result.detections_path));
  MOCO_ASSIGN_OR_RETURN(result.picture_path, WritePicture(test, d, evaluated, out_dir));
  config::RunRecord record =
      DetectionRecord(resolved, options, trained, evaluated, device, world, schedule, result.final_model_path);
  record.set_wall_seconds(SecondsSince(start));
  result.record_path = (out_dir / "record.json").string();
  MOCO_RETURN_IF_ERROR(WriteRecord(result.record_path, record));
  return result;
}

}  // namespace moco
