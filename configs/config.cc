#include "configs/config.h"

#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/message.h"
#include "google/protobuf/text_format.h"
#include "moco/common/files.h"
#include "moco/common/status.h"
#include "moco/common/status.h"

namespace moco {
namespace {

namespace pb = ::google::protobuf;

// Collects parser errors as "source:line:col: message".
class ErrorCollector : public pb::io::ErrorCollector {
 public:
  explicit ErrorCollector(absl::string_view source) : source_(source) {}
  void AddError(int line, pb::io::ColumnNumber column, const std::string& message) override {
    errors_.push_back(absl::StrCat(source_, ":", line + 1, ":", column + 1, ": ", message));
  }
  void AddWarning(int line, pb::io::ColumnNumber column, const std::string& message) override {
    AddError(line, column, message);
  }
  std::string Joined() const { return absl::StrJoin(errors_, "; "); }

 private:
  std::string source_;
  std::vector<std::string> errors_;
};

// Sets every unset singular field of `message` to its default, recursing into the sub-messages
// that are present (and into all of them at the top level, except unset oneof members).
void FillDefaults(pb::Message* message) {
  const pb::Descriptor* descriptor = message->GetDescriptor();
  const pb::Reflection* reflection = message->GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const pb::FieldDescriptor* field = descriptor->field(i);
    if (field->is_repeated()) {
      if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        for (int j = 0; j < reflection->FieldSize(*message, field); ++j) {
          FillDefaults(reflection->MutableRepeatedMessage(message, field, j));
        }
      }
      continue;
    }
    if (field->containing_oneof() != nullptr && !reflection->HasField(*message, field)) continue;
    switch (field->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_MESSAGE:
        FillDefaults(reflection->MutableMessage(message, field));
        break;
      case pb::FieldDescriptor::CPPTYPE_INT32:
        if (!reflection->HasField(*message, field))
          reflection->SetInt32(message, field, field->default_value_int32());
        break;
      case pb::FieldDescriptor::CPPTYPE_INT64:
        if (!reflection->HasField(*message, field))
          reflection->SetInt64(message, field, field->default_value_int64());
        break;
      case pb::FieldDescriptor::CPPTYPE_UINT32:
        if (!reflection->HasField(*message, field))
          reflection->SetUInt32(message, field, field->default_value_uint32());
        break;
      case pb::FieldDescriptor::CPPTYPE_UINT64:
        if (!reflection->HasField(*message, field))
          reflection->SetUInt64(message, field, field->default_value_uint64());
        break;
      case pb::FieldDescriptor::CPPTYPE_FLOAT:
        if (!reflection->HasField(*message, field))
          reflection->SetFloat(message, field, field->default_value_float());
        break;
      case pb::FieldDescriptor::CPPTYPE_DOUBLE:
        if (!reflection->HasField(*message, field))
          reflection->SetDouble(message, field, field->default_value_double());
        break;
      case pb::FieldDescriptor::CPPTYPE_BOOL:
        if (!reflection->HasField(*message, field))
          reflection->SetBool(message, field, field->default_value_bool());
        break;
      case pb::FieldDescriptor::CPPTYPE_ENUM:
        if (!reflection->HasField(*message, field))
          reflection->SetEnum(message, field, field->default_value_enum());
        break;
      case pb::FieldDescriptor::CPPTYPE_STRING:
        if (!reflection->HasField(*message, field) && field->has_default_value())
          reflection->SetString(message, field, field->default_value_string());
        break;
    }
  }
}

absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

// The paper drops at epochs 120 and 160 of 200: 60% and 80% of the run.
std::vector<int> ScaledDrops(int epochs) {
  const int first = static_cast<int>(std::lround(0.6 * epochs));
  const int second = static_cast<int>(std::lround(0.8 * epochs));
  if (second == first) return {first};  // short schedules: one drop, not the same one twice
  return {first, second};
}

absl::Status ValidateDrops(const pb::RepeatedField<int32_t>& drops, int epochs,
                           absl::string_view field) {
  int previous = 0;
  for (int drop : drops) {
    if (drop <= previous || drop >= epochs) {
      return Invalid(field, absl::StrCat("must be strictly increasing epochs in (0, ", epochs,
                                         "), got [", absl::StrJoin(drops, ", "), "]"));
    }
    previous = drop;
  }
  return absl::OkStatus();
}

// eval.detection: ranges and cross-field rules; errors name "eval.detection.<field>".
absl::Status ValidateDetection(const config::DetectionEvalConfig& d) {
  const auto field = [](absl::string_view name) { return absl::StrCat("eval.detection.", name); };
  const auto at_least = [&](absl::string_view name, double value, double min) -> absl::Status {
    if (value >= min) return absl::OkStatus();
    return Invalid(field(name), absl::StrCat("must be >= ", min, ", got ", value));
  };
  const auto fraction = [&](absl::string_view name, double value, bool open_low) -> absl::Status {
    if ((open_low ? value > 0.0 : value >= 0.0) && value <= 1.0) return absl::OkStatus();
    return Invalid(field(name), absl::StrCat("must be in ", open_low ? "(" : "[", "0, 1], got ", value));
  };
  if (d.dataset() == config::DetectionEvalConfig::DATASET_UNSPECIFIED) return Invalid(field("dataset"), "must be set");
  if (d.root().empty()) return Invalid(field("root"), "must name the dataset folder");
  if (d.dataset() == config::DetectionEvalConfig::COCO_JSON && (d.train_images().empty() || d.test_images().empty()))
    return Invalid(field("train_images"), "COCO_JSON needs train_images and test_images (image folders under root)");
  for (const absl::Status& s : {
           at_least("max_test_images", d.max_test_images(), 0), at_least("min_size", d.min_size(), 16),
           at_least("max_size", d.max_size(), d.min_size()),
           fraction("flip_probability", d.flip_probability(), false),
           at_least("rpn_pre_nms_top_n_train", d.rpn_pre_nms_top_n_train(), 1),
           at_least("rpn_post_nms_top_n_train", d.rpn_post_nms_top_n_train(), 1),
           at_least("rpn_pre_nms_top_n_test", d.rpn_pre_nms_top_n_test(), 1),
           at_least("rpn_post_nms_top_n_test", d.rpn_post_nms_top_n_test(), 1),
           fraction("rpn_nms_threshold", d.rpn_nms_threshold(), true),
           at_least("rpn_batch_size_per_image", d.rpn_batch_size_per_image(), 1),
           fraction("rpn_positive_fraction", d.rpn_positive_fraction(), true),
           fraction("rpn_foreground_iou", d.rpn_foreground_iou(), true),
           fraction("rpn_background_iou", d.rpn_background_iou(), false),
           at_least("rpn_smooth_l1_beta", d.rpn_smooth_l1_beta(), 0),
           at_least("roi_batch_size_per_image", d.roi_batch_size_per_image(), 1),
           fraction("roi_positive_fraction", d.roi_positive_fraction(), true),
           fraction("roi_foreground_iou", d.roi_foreground_iou(), true),
           at_least("roi_smooth_l1_beta", d.roi_smooth_l1_beta(), 0),
           at_least("pooler_resolution", d.pooler_resolution(), 2),
           at_least("pooler_sampling_ratio", d.pooler_sampling_ratio(), 1),
           fraction("score_threshold", d.score_threshold(), false), fraction("nms_threshold", d.nms_threshold(), true),
           at_least("detections_per_image", d.detections_per_image(), 1), at_least("batch_size", d.batch_size(), 1),
           at_least("momentum", d.momentum(), 0), at_least("weight_decay", d.weight_decay(), 0),
           at_least("weight_decay_norm", d.weight_decay_norm(), 0), at_least("iterations", d.iterations(), 1),
           at_least("warmup_iterations", d.warmup_iterations(), 0),
           fraction("warmup_factor", d.warmup_factor(), true),
           at_least("log_every_iterations", d.log_every_iterations(), 1),
           at_least("visualize_images", d.visualize_images(), 0),
           at_least("precise_bn_iterations", d.precise_bn_iterations(), 0),
           fraction("visualize_score_threshold", d.visualize_score_threshold(), false)}) {
    if (!s.ok()) return s;
  }
  if (!(d.lr() > 0.0f)) return Invalid(field("lr"), absl::StrCat("must be > 0, got ", d.lr()));
  if (d.momentum() >= 1.0f) return Invalid(field("momentum"), absl::StrCat("must be < 1, got ", d.momentum()));
  if (d.rpn_background_iou() > d.rpn_foreground_iou())
    return Invalid(field("rpn_background_iou"), absl::StrCat("must be <= rpn_foreground_iou = ", d.rpn_foreground_iou(),
                                                             ", got ", d.rpn_background_iou()));
  if (d.pooler_resolution() % 2 != 0)
    return Invalid(field("pooler_resolution"),
                   absl::StrCat("must be even (res5 halves it), got ", d.pooler_resolution()));
  for (int size : d.train_min_sizes()) {
    if (size < 16 || size > d.max_size())
      return Invalid(field("train_min_sizes"), absl::StrCat("each must be in [16, max_size = ", d.max_size(), "], got ",
                                                            absl::StrJoin(d.train_min_sizes(), ", ")));
  }
  for (float size : d.anchor_sizes()) {
    if (!(size > 0.0f)) return Invalid(field("anchor_sizes"), absl::StrCat("must all be > 0, got ", size));
  }
  for (float ratio : d.aspect_ratios()) {
    if (!(ratio > 0.0f)) return Invalid(field("aspect_ratios"), absl::StrCat("must all be > 0, got ", ratio));
  }
  if (d.bn() == config::DetectionEvalConfig::BATCH_NORM_UNSPECIFIED) return Invalid(field("bn"), "must be set");
  if (d.schedule() == config::DetectionEvalConfig::SCHEDULE_UNSPECIFIED)
    return Invalid(field("schedule"), "must be set");
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseTextProto(absl::string_view text, absl::string_view source, pb::Message* message) {
  ErrorCollector errors(source);
  pb::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), message)) return absl::InvalidArgumentError(errors.Joined());
  return absl::OkStatus();
}

absl::Status LoadTextProto(const std::string& path, pb::Message* message) {
  MOCO_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseTextProto(text, path, message);
}

absl::StatusOr<ExperimentConfig> ParseConfig(absl::string_view text, absl::string_view source) {
  ExperimentConfig config;
  MOCO_RETURN_IF_ERROR(ParseTextProto(text, source, &config));
  return config;
}

absl::StatusOr<ExperimentConfig> LoadConfig(const std::string& path) {
  ExperimentConfig config;
  MOCO_RETURN_IF_ERROR(LoadTextProto(path, &config));
  return config;
}

absl::Status MergeOverrides(absl::string_view text, ExperimentConfig* config) {
  if (text.empty()) return absl::OkStatus();
  MOCO_ASSIGN_OR_RETURN(const ExperimentConfig overrides, ParseConfig(text, "--set"));
  config->MergeFrom(overrides);
  return absl::OkStatus();
}

absl::Status Validate(const ExperimentConfig& config, int world_size) {
  const auto& data = config.data();
  const auto& model = config.model();
  const auto& optim = config.optim();
  const auto& eval = config.eval();
  const auto& run = config.run();
  if (world_size < 1) return Invalid("world_size", absl::StrCat("must be >= 1, got ", world_size));

  if (data.format() == config::DataConfig::FORMAT_UNSPECIFIED)
    return Invalid("data.format", "must be set");
  if (data.root().empty()) return Invalid("data.root", "must name the dataset folder");
  if (data.image_size() < 8 || data.image_size() > 1024)
    return Invalid("data.image_size", absl::StrCat("must be in [8, 1024], got ", data.image_size()));
  if (data.augmentation() == config::DataConfig::AUGMENTATION_UNSPECIFIED)
    return Invalid("data.augmentation", "must be set");
  if (data.augment_on() == config::DataConfig::AUGMENT_ON_UNSPECIFIED) return Invalid("data.augment_on", "must be set");
  if (data.augment_on() == config::DataConfig::DEVICE && data.augmentation() == config::DataConfig::V2) {
    return Invalid("data.augment_on", "DEVICE has no Gaussian blur, which the V2 recipe needs: use HOST with V2");
  }
  if (data.max_train_images() < 0)
    return Invalid("data.max_train_images", absl::StrCat("must be >= 0, got ", data.max_train_images()));
  if (data.max_test_images() < 0)
    return Invalid("data.max_test_images", absl::StrCat("must be >= 0, got ", data.max_test_images()));
  if (data.loader_threads() < 0)
    return Invalid("data.loader_threads", absl::StrCat("must be >= 0, got ", data.loader_threads()));
  if (data.cache() == config::DataConfig::CACHE_UNSPECIFIED) return Invalid("data.cache", "must be set");
  if (data.cache() == config::DataConfig::STREAM && data.format() != config::DataConfig::IMAGE_FOLDER) {
    return Invalid("data.cache", "STREAM reads image folders; idx and CIFAR binary files are read IN_MEMORY");
  }
  if (data.cache() == config::DataConfig::STREAM && data.augment_on() == config::DataConfig::DEVICE) {
    return Invalid("data.cache", "STREAM gives images of every size, which DEVICE views (one batch tensor) cannot "
                                 "take: use augment_on HOST");
  }
  if (data.decode() == config::DataConfig::DECODE_UNSPECIFIED) return Invalid("data.decode", "must be set");
  if (data.on_bad_image() == config::DataConfig::ON_BAD_IMAGE_UNSPECIFIED) {
    return Invalid("data.on_bad_image", "must be set");
  }
  if (!data.class_list().empty() && data.format() != config::DataConfig::IMAGE_FOLDER) {
    return Invalid("data.class_list", "only applies to IMAGE_FOLDER");
  }

  if (model.depth() != 18 && model.depth() != 34 && model.depth() != 50)
    return Invalid("model.depth", absl::StrCat("must be 18, 34 or 50, got ", model.depth()));
  if (!(model.width_multiplier() > 0.0f && model.width_multiplier() <= 8.0f))
    return Invalid("model.width_multiplier",
                   absl::StrCat("must be in (0, 8], got ", model.width_multiplier()));
  if (model.stem() == config::ModelConfig::STEM_UNSPECIFIED) return Invalid("model.stem", "must be set");
  if (model.head() == config::ModelConfig::HEAD_UNSPECIFIED) return Invalid("model.head", "must be set");
  if (model.feature_dim() < 1)
    return Invalid("model.feature_dim", absl::StrCat("must be >= 1, got ", model.feature_dim()));

  const int batch = optim.batch_size();
  if (batch < 1) return Invalid("optim.batch_size", absl::StrCat("must be >= 1, got ", batch));
  if (batch % world_size != 0)
    return Invalid("optim.batch_size", absl::StrCat("global batch ", batch,
                                                    " must be divisible by the world size ", world_size));
  const int per_process = batch / world_size;
  if (model.bn_splits() < 1)
    return Invalid("model.bn_splits", absl::StrCat("must be >= 1, got ", model.bn_splits()));
  if (per_process % model.bn_splits() != 0)
    return Invalid("model.bn_splits", absl::StrCat("per-process batch ", per_process,
                                                   " must be divisible by bn_splits ", model.bn_splits()));

  switch (config.mechanism_case()) {
    case ExperimentConfig::kMoco: {
      const auto& moco = config.moco();
      if (moco.queue_size() < 1)
        return Invalid("moco.queue_size", absl::StrCat("must be >= 1, got ", moco.queue_size()));
      // A symmetric loss enqueues the keys of both views: twice the batch per step.
      const int enqueued = moco.symmetric_loss() ? 2 * batch : batch;
      if (moco.queue_size() % enqueued != 0)
        return Invalid("moco.queue_size",
                       absl::StrCat("K = ", moco.queue_size(), " must be divisible by the keys enqueued per step, ",
                                    enqueued, " (optim.batch_size", moco.symmetric_loss() ? " x 2 for symmetric_loss" : "",
                                    "), so the queue pointer stays aligned"));
      if (!(moco.momentum() >= 0.0f && moco.momentum() <= 1.0f))
        return Invalid("moco.momentum", absl::StrCat("must be in [0, 1], got ", moco.momentum()));
      break;
    }
    case ExperimentConfig::kEndToEnd:
      if (batch < 2) return Invalid("optim.batch_size", "end-to-end needs a batch of at least 2");
      break;
    case ExperimentConfig::kMemoryBank: {
      const auto& bank = config.memory_bank();
      if (bank.num_negatives() < 1)
        return Invalid("memory_bank.num_negatives",
                       absl::StrCat("must be >= 1, got ", bank.num_negatives()));
      if (!(bank.bank_momentum() >= 0.0f && bank.bank_momentum() < 1.0f))
        return Invalid("memory_bank.bank_momentum",
                       absl::StrCat("must be in [0, 1), got ", bank.bank_momentum()));
      if (bank.loss() == config::MemoryBankConfig::LOSS_UNSPECIFIED)
        return Invalid("memory_bank.loss", "must be set");
      break;
    }
    case ExperimentConfig::kSupervised:
      break;
    case ExperimentConfig::MECHANISM_NOT_SET:
      return Invalid("mechanism", "one of moco, end_to_end, memory_bank, supervised must be set");
  }
  if (!(config.temperature() > 0.0f))
    return Invalid("temperature", absl::StrCat("must be > 0, got ", config.temperature()));

  if (optim.epochs() < 1) return Invalid("optim.epochs", absl::StrCat("must be >= 1, got ", optim.epochs()));
  if (!(optim.lr() > 0.0f)) return Invalid("optim.lr", absl::StrCat("must be > 0, got ", optim.lr()));
  if (optim.lr_reference_batch() < 1)
    return Invalid("optim.lr_reference_batch", absl::StrCat("must be >= 1, got ", optim.lr_reference_batch()));
  if (!(optim.momentum() >= 0.0f && optim.momentum() < 1.0f))
    return Invalid("optim.momentum", absl::StrCat("must be in [0, 1), got ", optim.momentum()));
  if (!(optim.weight_decay() >= 0.0f))
    return Invalid("optim.weight_decay", absl::StrCat("must be >= 0, got ", optim.weight_decay()));
  if (optim.schedule() == config::OptimConfig::SCHEDULE_UNSPECIFIED)
    return Invalid("optim.schedule", "must be set");
  if (optim.schedule() != config::OptimConfig::STEP && optim.lr_drop_epochs_size() > 0)
    return Invalid("optim.lr_drop_epochs", "only applies to a STEP schedule");
  if (absl::Status s = ValidateDrops(optim.lr_drop_epochs(), optim.epochs(), "optim.lr_drop_epochs"); !s.ok())
    return s;
  if (!(optim.lr_drop_factor() > 0.0f && optim.lr_drop_factor() <= 1.0f))
    return Invalid("optim.lr_drop_factor", absl::StrCat("must be in (0, 1], got ", optim.lr_drop_factor()));
  if (optim.warmup_epochs() < 0 || optim.warmup_epochs() >= optim.epochs())
    return Invalid("optim.warmup_epochs", absl::StrCat("must be in [0, epochs = ", optim.epochs(),
                                                       "), got ", optim.warmup_epochs()));

  if (eval.knn_k() < 1) return Invalid("eval.knn_k", absl::StrCat("must be >= 1, got ", eval.knn_k()));
  if (!(eval.knn_t() > 0.0f)) return Invalid("eval.knn_t", absl::StrCat("must be > 0, got ", eval.knn_t()));
  if (eval.knn_every_epochs() < 0)
    return Invalid("eval.knn_every_epochs", absl::StrCat("must be >= 0, got ", eval.knn_every_epochs()));
  if (eval.linear_epochs() < 1)
    return Invalid("eval.linear_epochs", absl::StrCat("must be >= 1, got ", eval.linear_epochs()));
  if (!(eval.linear_lr() > 0.0f))
    return Invalid("eval.linear_lr", absl::StrCat("must be > 0, got ", eval.linear_lr()));
  if (!(eval.linear_weight_decay() >= 0.0f))
    return Invalid("eval.linear_weight_decay", absl::StrCat("must be >= 0, got ", eval.linear_weight_decay()));
  if (absl::Status s = ValidateDrops(eval.linear_lr_drop_epochs(), eval.linear_epochs(),
                                     "eval.linear_lr_drop_epochs");
      !s.ok())
    return s;
  if (eval.linear_batch_size() < 1)
    return Invalid("eval.linear_batch_size", absl::StrCat("must be >= 1, got ", eval.linear_batch_size()));
  if (eval.has_detection()) {
    if (absl::Status s = ValidateDetection(eval.detection()); !s.ok()) return s;
  }

  if (run.output_dir().empty()) return Invalid("run.output_dir", "must not be empty");
  if (run.threads() < 0) return Invalid("run.threads", absl::StrCat("must be >= 0, got ", run.threads()));
  if (run.device() == config::RunConfig::DEVICE_UNSPECIFIED) return Invalid("run.device", "must be set");
  if (run.precision() == config::RunConfig::PRECISION_UNSPECIFIED) return Invalid("run.precision", "must be set");
  if (run.checkpoint_every_epochs() < 1)
    return Invalid("run.checkpoint_every_epochs",
                   absl::StrCat("must be >= 1, got ", run.checkpoint_every_epochs()));
  if (run.log_every_steps() < 1)
    return Invalid("run.log_every_steps", absl::StrCat("must be >= 1, got ", run.log_every_steps()));
  if (run.max_steps() < 0) return Invalid("run.max_steps", absl::StrCat("must be >= 0, got ", run.max_steps()));
  if (run.checkpoint_every_steps() < 0) {
    return Invalid("run.checkpoint_every_steps", absl::StrCat("must be >= 0, got ", run.checkpoint_every_steps()));
  }
  if (run.stop_after_epochs() < 0 || run.stop_after_epochs() > optim.epochs()) {
    return Invalid("run.stop_after_epochs", absl::StrCat("must be in [0, optim.epochs = ", optim.epochs(),
                                                         "], got ", run.stop_after_epochs()));
  }
  return absl::OkStatus();
}

ExperimentConfig Resolve(const ExperimentConfig& config) {
  ExperimentConfig resolved = config;
  FillDefaults(&resolved);
  auto* optim = resolved.mutable_optim();
  if (optim->schedule() == config::OptimConfig::STEP && optim->lr_drop_epochs_size() == 0) {
    for (int drop : ScaledDrops(optim->epochs())) {
      if (drop > 0 && drop < optim->epochs()) optim->add_lr_drop_epochs(drop);
    }
  }
  auto* eval = resolved.mutable_eval();
  if (eval->linear_lr_drop_epochs_size() == 0) {
    for (int drop : ScaledDrops(eval->linear_epochs())) {
      if (drop > 0 && drop < eval->linear_epochs()) eval->add_linear_lr_drop_epochs(drop);
    }
  }
  return resolved;
}

namespace {

// Clears every singular field that holds its default value, recursively, so that a config
// reads the same whether defaults were written out (Resolve) or left implicit. Sub-messages
// left empty are cleared too, except a oneof's member (`end_to_end {}` says which mechanism).
void ClearDefaults(google::protobuf::Message* message) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* reflection = message->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(*message, &fields);
  for (const FieldDescriptor* field : fields) {
    if (field->is_repeated()) continue;
    bool is_default = false;
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_MESSAGE: {
        google::protobuf::Message* child = reflection->MutableMessage(message, field);
        ClearDefaults(child);
        is_default = child->ByteSizeLong() == 0 && field->containing_oneof() == nullptr;
        break;
      }
      case FieldDescriptor::CPPTYPE_INT32:
        is_default = reflection->GetInt32(*message, field) == field->default_value_int32();
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        is_default = reflection->GetInt64(*message, field) == field->default_value_int64();
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        is_default = reflection->GetUInt32(*message, field) == field->default_value_uint32();
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        is_default = reflection->GetUInt64(*message, field) == field->default_value_uint64();
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        is_default = reflection->GetFloat(*message, field) == field->default_value_float();
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        is_default = reflection->GetDouble(*message, field) == field->default_value_double();
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        is_default = reflection->GetBool(*message, field) == field->default_value_bool();
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        is_default = reflection->GetEnumValue(*message, field) == field->default_value_enum()->number();
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        is_default = reflection->GetString(*message, field) == field->default_value_string();
        break;
    }
    if (is_default) reflection->ClearField(message, field);
  }
}

}  // namespace

std::string ConfigIdentity(const ExperimentConfig& config) {
  ExperimentConfig identity = Resolve(config);
  identity.clear_name();
  config::RunConfig* run = identity.mutable_run();
  run->clear_output_dir();
  run->clear_max_steps();
  run->clear_stop_after_epochs();  // a run stopped early and resumed further is one run
  run->clear_log_every_steps();
  run->clear_checkpoint_every_epochs();
  run->clear_checkpoint_every_steps();
  run->clear_threads();
  run->clear_device();
  // How the images are held changes no pixel: an in-memory and a streamed run are one run.
  identity.mutable_data()->clear_cache();
  // Of the evaluation settings only the kNN monitor's change what a pretraining run reports.
  config::EvalConfig eval;
  eval.set_knn_k(identity.eval().knn_k());
  eval.set_knn_t(identity.eval().knn_t());
  *identity.mutable_eval() = eval;
  ClearDefaults(&identity);
  return absl::StrCat("# identity v1\n", ToText(identity));
}

std::string ToText(const ExperimentConfig& config) {
  std::string text;
  pb::TextFormat::PrintToString(config, &text);
  return text;
}

double ScaledLearningRate(const ExperimentConfig& config) {
  return static_cast<double>(config.optim().lr()) * config.optim().batch_size() /
         config.optim().lr_reference_batch();
}

absl::StatusOr<ExperimentConfig> CompleteConfig(ExperimentConfig config, const std::string& source,
                                                absl::string_view overrides, const ConfigEdit& edit) {
  MOCO_RETURN_IF_ERROR(MergeOverrides(overrides, &config));
  if (edit) MOCO_RETURN_IF_ERROR(edit(&config));
  if (absl::Status status = Validate(config); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", status.message()));
  }
  return config;
}

absl::StatusOr<ExperimentConfig> LoadExperiment(const std::string& path, absl::string_view overrides,
                                                const ConfigEdit& edit) {
  MOCO_ASSIGN_OR_RETURN(ExperimentConfig config, LoadConfig(path));
  return CompleteConfig(std::move(config), path, overrides, edit);
}

}  // namespace moco
