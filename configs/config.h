// Loading, validating and resolving ExperimentConfig, the one experiment schema.
//
//   MOCO_ASSIGN_OR_RETURN(ExperimentConfig config, LoadConfig("configs/cpu/moco.pbtxt"));
//   MOCO_RETURN_IF_ERROR(Validate(config, /*world_size=*/1));
//   ExperimentConfig resolved = Resolve(config);  // every default written out
#ifndef MOCO_CONFIGS_CONFIG_H_
#define MOCO_CONFIGS_CONFIG_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "configs/experiment.pb.h"
#include "google/protobuf/message.h"

namespace moco {

using config::ExperimentConfig;

// Parses text-format protobuf (any message: experiments, tables, expectations). Errors name
// `source` (or the file) with line and column, e.g. an unknown field.
absl::Status ParseTextProto(absl::string_view text, absl::string_view source, google::protobuf::Message* message);
absl::Status LoadTextProto(const std::string& path, google::protobuf::Message* message);

// Parses a text-format ExperimentConfig. Errors name `source` with line and column
// (for example an unknown field).
absl::StatusOr<ExperimentConfig> ParseConfig(absl::string_view text, absl::string_view source);

// Reads and parses a .pbtxt file.
absl::StatusOr<ExperimentConfig> LoadConfig(const std::string& path);

// Merges text-format overrides (a --set flag's value, named so in errors) into `config`;
// empty text changes nothing.
absl::Status MergeOverrides(absl::string_view text, ExperimentConfig* config);

// Range checks and cross-field rules; the error names the offending field with its value.
// `world_size` is the number of training processes (the global batch is split over them).
absl::Status Validate(const ExperimentConfig& config, int world_size = 1);

// The one way a binary goes from a config to the one it runs: the `--set` text `overrides`
// merged over `config`, then `edit` (the binary's own flags; may be empty) applied, then
// Validate(). `source` (the file, or the checkpoint the config came from) prefixes a
// validation error.
//
//   MOCO_ASSIGN_OR_RETURN(ExperimentConfig config,
//                         LoadExperiment(path, absl::GetFlag(FLAGS_set), [&](ExperimentConfig* c) {
//                           c->mutable_run()->set_threads(absl::GetFlag(FLAGS_threads));
//                           return absl::OkStatus();
//                         }));
using ConfigEdit = std::function<absl::Status(ExperimentConfig*)>;
absl::StatusOr<ExperimentConfig> CompleteConfig(ExperimentConfig config, const std::string& source,
                                                absl::string_view overrides, const ConfigEdit& edit);
// LoadConfig(path), then CompleteConfig.
absl::StatusOr<ExperimentConfig> LoadExperiment(const std::string& path, absl::string_view overrides,
                                                const ConfigEdit& edit = nullptr);

// Returns `config` with every default written out explicitly and derived values filled in
// (the lr drop epochs of a STEP schedule), so that a printed config says everything.
ExperimentConfig Resolve(const ExperimentConfig& config);

// What a pretraining run computes, as text: the config without the fields that do not change
// it (name, where outputs go, logging, when to stop, threads, device, the evaluation settings
// other than the kNN monitor's), and without the fields that hold their default value, so that
// adding a field to the schema leaves existing identities (and committed record hashes) as they
// were. A checkpoint must match it to be resumed; a record's config_hash is its hash. Change
// the version line in config.cc when a default changes what runs compute.
std::string ConfigIdentity(const ExperimentConfig& config);

// Text format, one field per line.
std::string ToText(const ExperimentConfig& config);

// The learning rate after linear scaling: lr * global_batch / lr_reference_batch.
double ScaledLearningRate(const ExperimentConfig& config);

}  // namespace moco

#endif  // MOCO_CONFIGS_CONFIG_H_
