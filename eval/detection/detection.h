// Detection transfer, the MoCo paper's protocol (section 4.2): fine-tune a Faster R-CNN C4
// (faster_rcnn.h) initialised from an encoder on a detection dataset, then report COCO box AP
// on its test split. Training follows detectron2: images resized so the shorter side is
// min_size (capped by max_size), flipped at random, normalised with the pretrainer's mean and
// stddev, padded to a common size divisible by the feature stride; SGD with momentum, linear
// warm-up, lr x 0.1 at 3/4 and 11/12 of the schedule. (TrainDetector is defined in
// train_detector.cc, the rest in detection.cc.)
//
//   MOCO_ASSIGN_OR_RETURN(ResNet encoder, LoadEncoder(path, &config.model()));
//   DetectionRunOptions options;
//   options.init = path;
//   options.output_dir = "runs/detection/pennfudan";
//   MOCO_ASSIGN_OR_RETURN(DetectionRunResult result, RunDetectionTransfer(config, encoder, options));
//   // result.metrics.at("AP50"); output_dir holds checkpoint.pt, model_final.pt, record.json, detections.json
//   // (COCO's results format: pycocotools or COCO's server score it) and detections.png.
#ifndef MOCO_EVAL_DETECTION_DETECTION_H_
#define MOCO_EVAL_DETECTION_DETECTION_H_

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <array>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "configs/experiment.pb.h"
#include "eval/detection/annotations.h"
#include "eval/detection/coco_eval.h"
#include "eval/detection/faster_rcnn.h"
#include "eval/evaluator.h"
#include "moco/distributed/process_group.h"
#include "moco/models/resnet.h"
#include "moco/train/run_setup.h"

namespace moco {

// The detector's options from eval.detection (empty anchor_sizes / aspect_ratios mean the
// paper's 32..512 and 0.5, 1, 2).
FasterRcnnOptions FasterRcnnOptionsFor(const config::DetectionEvalConfig& detection, int num_classes);

// The dataset split named by eval.detection (train: train_split, else test_split). The root
// resolves with DataPath. Errors name the field and the path.
absl::StatusOr<DetectionDataset> LoadDetectionSplit(const config::DetectionEvalConfig& detection, bool train);

// A copy of `encoder` (parameters and buffers) with bn_splits 1, as the detector needs.
ResNet SingleSplitCopy(const ResNet& encoder);

// How images become detector inputs.
struct DetectionPreprocessing {
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};  // of RGB in [0, 1]
  std::array<float, 3> stddev{0.229f, 0.224f, 0.225f};
  int max_size = 1333;
  int size_divisibility = 16;  // the detector's feature stride
};

// The pretrainer's normalisation (data.augmentation CIFAR: the CIFAR-10 statistics, else
// ImageNet's), max_size from eval.detection, divisibility from the model.
DetectionPreprocessing PreprocessingFor(const config::ExperimentConfig& config, const FasterRcnnC4Impl& model);

// Images are decoded when a batch needs them, never all up front: a COCO-size training set
// (118 k images) is its annotations in memory, not its pixels.
// Images `indices` of `data`, each 3 x H x W uint8, decoded in parallel. The error of the first
// that fails names its file (also when its size is not its annotation's).
absl::StatusOr<std::vector<at::Tensor>> DecodeDetectionImages(const DetectionDataset& data,
                                                              const std::vector<int>& indices);

// A batch as the detector takes it.
struct DetectorBatch {
  at::Tensor images;                                // N x 3 x H x W float, normalised, zero-padded
  std::vector<std::array<int64_t, 2>> image_sizes;  // (height, width) of each before padding
  std::vector<ImageTargets> targets;                // non-crowd boxes in input pixels
  std::vector<std::array<double, 2>> scales;        // (x, y): input pixels per original pixel
};

// Resizes (shorter side to min_sizes[k], longer <= max_size, antialiased bilinear), flips
// (flips[k]), normalises and pads the images `pixels[k]` of dataset images `image_indices[k]`:
// to the smallest size divisible by the stride that holds them all, or to *pad_to (at least that).
DetectorBatch MakeDetectorBatch(const DetectionDataset& data, const std::vector<int>& image_indices,
                                const std::vector<at::Tensor>& pixels, const std::vector<int>& min_sizes,
                                const std::vector<bool>& flips, const DetectionPreprocessing& preprocessing,
                                const std::array<int64_t, 2>* pad_to = nullptr);

// Where `group`'s collectives take their tensors: the process's GPU for NCCL, else the CPU.
c10::Device CollectiveDevice(const ProcessGroupHandle& group);

// The (height, width) MakeDetectorBatch pads images `image_indices` resized to `min_sizes` to,
// from their annotated sizes: what every process pads its share of a global batch to, so that
// its BN statistics are those one process would compute over the whole batch.
std::array<int64_t, 2> PaddedBatchSize(const DetectionDataset& data, const std::vector<int>& image_indices,
                                       const std::vector<int>& min_sizes, const DetectionPreprocessing& preprocessing);

// The learning rate of `iteration` (0-based) in a schedule of `schedule_iterations`: lr,
// ramped linearly from warmup_factor * lr over warmup_iterations, x 0.1 from iteration
// round(3/4 T) and again from round(11/12 T) (T = 24000: 18000 and 22000, detectron2's VOC).
double DetectionLearningRate(const config::DetectionEvalConfig& detection, int64_t iteration,
                             int64_t schedule_iterations);

struct TrainDetectorResult {
  std::vector<double> total_losses;  // per iteration (those before a resume from the checkpoint)
  int64_t resumed_from = 0;          // the checkpoint's iteration (0: started afresh)
  int64_t iterations = 0;
  double seconds = 0;
  double seconds_per_iteration = 0;  // mean, after the first iteration
  double precise_bn_seconds = 0;     // recomputing BN statistics after training (PreciseBN)
};

struct TrainDetectorOptions {
  int64_t iterations = 0;           // to run: at most schedule_iterations
  int64_t schedule_iterations = 0;  // of the lr schedule (warm-up, steps at 3/4 and 11/12)
  uint64_t seed = 0;                // image order, flips, sizes (torch's RNG samples anchors and RoIs)
  c10::Device device = c10::kCPU;   // where the model is
  std::ostream* log = nullptr;      // progress lines, every log_every_iterations
  // The training state (model, optimizer, torch's RNG, iteration, losses so far), written
  // atomically every checkpoint_every iterations (0: never on the way) and where training stops,
  // before PreciseBN. When the file exists, training resumes from it: the image order, sizes and
  // flips are drawn again up to its iteration, so a resumed run is bit-identical to one never
  // stopped (on the CPU). Empty: no checkpoint.
  std::string checkpoint_path;
  int64_t checkpoint_every = 0;
  // The detector as evaluated (after PreciseBN), in the checkpoint's format, when not empty.
  std::string final_model_path;
  // Stored in the checkpoint; a checkpoint written with another text is refused.
  std::string config_text;
  // The processes the run is split over (nullptr: this one alone). Each takes its contiguous share
  // of every global batch (eval.detection.batch_size, which their number must divide), padded as
  // the whole batch is; the losses and gradients are averaged over them (BN is synchronised by
  // the backbone: ResNet::SynchronizeBatchNorm), and only rank 0 writes files.
  const ProcessGroupHandle* group = nullptr;
  // Anchors and RoIs sampled per image of the global batch (eval.detection.sampling PER_IMAGE).
  bool per_image_sampling = false;
};

// Fine-tunes `model` on the images of `train` that have a non-crowd box, with SGD as
// eval.detection says, from options.checkpoint_path where it exists. A non-finite loss stops
// training with an error naming the iteration. With bn TRAINED and precise_bn_iterations > 0,
// BN statistics are then recomputed over that many more training batches (PreciseBN).
absl::StatusOr<TrainDetectorResult> TrainDetector(FasterRcnnC4Impl& model, const DetectionDataset& train,
                                                  const config::DetectionEvalConfig& detection,
                                                  const DetectionPreprocessing& preprocessing,
                                                  const TrainDetectorOptions& options);

struct EvaluateDetectorResult {
  Metrics metrics;                                 // CocoEvaluate's, in percent
  std::vector<std::vector<Detection>> detections;  // per image of the test set, original pixels
  double seconds = 0;
};

// Detects on every image of `test` (one at a time, shorter side min_size, eval mode) and
// evaluates with CocoEvaluator. With a group of several processes, each detects every
// world_size-th image (from its rank), the detections are gathered, and every process returns
// them all and the AP one process computes over them.
absl::StatusOr<EvaluateDetectorResult> EvaluateDetector(FasterRcnnC4Impl& model, const DetectionDataset& test,
                                                        const config::DetectionEvalConfig& detection,
                                                        const DetectionPreprocessing& preprocessing, c10::Device device,
                                                        const ProcessGroupHandle* group = nullptr);

struct DetectionRunOptions {
  std::string init = "random";  // what the encoder is, for the record: "random" (kRandomInit) or its file
  // checkpoint.pt (the training state, resumed from when present), model_final.pt (the detector
  // as evaluated), record.json, detections.json and detections.png go here.
  std::string output_dir;
  bool fresh = false;           // delete checkpoint.pt first: start over
  int64_t max_iterations = 0;   // stop early after this many (0: the whole schedule)
  RunContext context;           // the device it runs on and the threads (SetUpRun), as the caller chose them
  // The processes the run is split over (nullptr: this one alone): each trains on its share of
  // every batch with BN synchronised (bn TRAINED) and detects a share of the test images; rank 0
  // writes every file.
  const ProcessGroupHandle* group = nullptr;
};

struct DetectionRunResult {
  Metrics metrics;
  int64_t iterations = 0;
  int64_t resumed_from = 0;  // the checkpoint's iteration this session started from (0: afresh)
  double seconds_per_iteration = 0;
  double train_seconds = 0;
  double eval_seconds = 0;
  std::string record_path, checkpoint_path, final_model_path, picture_path;
  std::string detections_path;  // the test split's detections in COCO's results format
};

// The whole protocol: the config must be validated; `encoder` is copied (with bn_splits 1)
// into the detector. Seeds torch with run.seed, trains on the train split, saves the
// checkpoint, evaluates on the test split, draws the first visualize_images test images and
// writes a RunRecord (kind "detection").
absl::StatusOr<DetectionRunResult> RunDetectionTransfer(const config::ExperimentConfig& config, const ResNet& encoder,
                                                        const DetectionRunOptions& options);

}  // namespace moco

#endif  // MOCO_EVAL_DETECTION_DETECTION_H_
