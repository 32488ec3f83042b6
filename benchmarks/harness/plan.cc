#include "benchmarks/harness/plan.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "configs/config.h"
#include "configs/record.h"
#include "moco/common/status.h"

namespace moco {
namespace {

namespace fs = std::filesystem;

std::string FormatValue(double value) { return absl::StrFormat("%g", value); }

// Records are found by their config hash and, for a run stopped early on purpose
// (run.stop_after_epochs, outside the hash), the epoch where it stopped: each such piece of one
// run is a point of its own.
std::string RecordKey(const std::string& config_hash, int stop_after_epochs) {
  return stop_after_epochs > 0 ? absl::StrCat(config_hash, "@", stop_after_epochs) : config_hash;
}

struct IndexedRecord {
  std::string path;
  config::RunRecord record;
};

absl::StatusOr<std::map<std::string, IndexedRecord>> IndexRecords(const std::string& dir,
                                                                  std::map<std::string, IndexedRecord>* by_name) {
  std::map<std::string, IndexedRecord> by_hash;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return by_hash;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    MOCO_ASSIGN_OR_RETURN(config::RunRecord record, ReadRecord(file.string()));
    if (record.kind() != "pretrain") continue;
    IndexedRecord indexed{file.string(), record};
    (*by_name)[file.stem().string()] = indexed;
    const auto stop = record.metrics().find("stopped_at_epoch");
    by_hash.emplace(RecordKey(record.config_hash(), stop == record.metrics().end() ? 0 : static_cast<int>(stop->second)),
                    std::move(indexed));
  }
  return by_hash;
}

}  // namespace

const char* RunStateName(RunState state) {
  switch (state) {
    case RunState::kDone:
      return "done";
    case RunState::kStale:
      return "stale";
    default:
      return "to run";
  }
}

absl::StatusOr<config::TableConfig> LoadTable(const std::string& path) {
  config::TableConfig table;
  MOCO_RETURN_IF_ERROR(LoadTextProto(path, &table));
  if (table.table().empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": field 'table' is not set"));
  if (table.series_size() == 0) return absl::InvalidArgumentError(absl::StrCat(path, ": no 'series'"));
  if (table.seeds_size() == 0) return absl::InvalidArgumentError(absl::StrCat(path, ": no 'seeds'"));
  for (const config::Series& series : table.series()) {
    const std::string where = absl::StrCat(path, ": series '", series.label(), "'");
    if (series.id().empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": field 'id' is not set"));
    if (series.values_size() == 0) return absl::InvalidArgumentError(absl::StrCat(where, ": no 'values'"));
    if (series.axis().find('$') == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": 'axis' has no '$' for the value: \"", series.axis(),
                                                     "\""));
    }
    if (series.plot_values_size() != 0 && series.plot_values_size() != series.values_size()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", series.plot_values_size(), " plot_values for ",
                                                     series.values_size(), " values"));
    }
    if (series.published_size() != 0 && series.published_size() != series.values_size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", series.published_size(), " published for ", series.values_size(), " values"));
    }
  }
  return table;
}

absl::StatusOr<std::vector<PlannedRun>> PlanTable(const config::TableConfig& table, const std::string& records_dir,
                                                  const std::string& runs_dir) {
  std::map<std::string, IndexedRecord> by_name;
  MOCO_ASSIGN_OR_RETURN(auto by_hash, IndexRecords(records_dir, &by_name));
  config::ExperimentConfig base;
  if (!table.base_file().empty()) {
    absl::StatusOr<config::ExperimentConfig> loaded = LoadConfig(table.base_file());
    if (!loaded.ok()) {
      return absl::Status(loaded.status().code(), absl::StrCat("table ", table.table(), ", base_file: ",
                                                               loaded.status().message()));
    }
    base = *loaded;
  }
  base.MergeFrom(table.base());
  std::vector<PlannedRun> runs;
  for (uint64_t seed : table.seeds()) {
    for (const config::Series& series : table.series()) {
      for (int i = 0; i < series.values_size(); ++i) {
        PlannedRun run;
        run.series_id = series.id();
        run.series_label = series.label();
        run.value = series.values(i);
        run.plot_value = series.plot_values_size() > 0 ? series.plot_values(i) : run.value;
        run.published =
            series.published_size() > 0 ? series.published(i) : std::numeric_limits<double>::quiet_NaN();
        run.seed = seed;
        run.relative_cost = series.relative_cost();
        run.name = absl::StrCat(series.id(), "-", FormatValue(run.value), "-s", seed);
        if (series.stops_of_one_run() && i > 0) {
          run.continues = absl::StrCat(series.id(), "-", FormatValue(series.values(i - 1)), "-s", seed);
        }

        config::ExperimentConfig config = base;
        config.MergeFrom(series.set());
        const std::string axis = absl::StrReplaceAll(series.axis(), {{"$", FormatValue(run.value)}});
        absl::StatusOr<config::ExperimentConfig> point = ParseConfig(axis, absl::StrCat("axis of series ", series.id()));
        if (!point.ok()) return point.status();
        config.MergeFrom(*point);
        config.set_name(absl::StrCat(table.table(), "/", run.name));
        config.set_tier(table.tier());
        config.mutable_run()->set_seed(seed);
        // The pieces of one run share its folder (stops_of_one_run); every other run has its own.
        const std::string folder = series.stops_of_one_run() ? absl::StrCat(series.id(), "-s", seed) : run.name;
        config.mutable_run()->set_output_dir((fs::path(runs_dir) / folder).string());
        if (absl::Status valid = Validate(config, 1); !valid.ok()) {
          return absl::InvalidArgumentError(absl::StrCat("table ", table.table(), ", run ", run.name, ": ",
                                                         valid.message()));
        }
        run.config = Resolve(config);
        run.config_hash = ConfigHash(ConfigIdentity(run.config));
        run.record_path = (fs::path(records_dir) / (run.name + ".json")).string();
        if (series.stops_of_one_run() && (config.run().stop_after_epochs() != run.value ||
                                          (i > 0 && run.value <= series.values(i - 1)))) {
          return absl::InvalidArgumentError(absl::StrCat(
              "table ", table.table(), ", series ", series.id(),
              ": stops_of_one_run needs an axis that sets run.stop_after_epochs to each value, in rising order"));
        }
        if (auto found = by_hash.find(RecordKey(run.config_hash, run.config.run().stop_after_epochs()));
            found != by_hash.end()) {
          run.state = RunState::kDone;
          run.record = found->second.record;
          run.record_path = found->second.path;
        } else if (by_name.count(run.name) > 0) {
          run.state = RunState::kStale;
        }
        runs.push_back(std::move(run));
      }
    }
  }
  return runs;
}

int64_t TrainImagesPerEpoch(const config::ExperimentConfig& config) {
  if (config.data().max_train_images() > 0) return config.data().max_train_images();
  const std::string& root = config.data().root();
  if (root.find("cifar") != std::string::npos) return 50000;
  if (root.find("fashion") != std::string::npos || config.data().format() == config::DataConfig::FASHION_MNIST)
    return 60000;
  if (root.find("imagenet") != std::string::npos) return 1281167;
  return 0;
}

double EstimateSeconds(const config::TableConfig& table, const PlannedRun& run,
                       const std::vector<PlannedRun>& all_runs) {
  // A piece of a run stopped on purpose trains from the piece it continues to its own stop, and
  // its record's wall time includes that piece's.
  const PlannedRun* previous = nullptr;
  for (const PlannedRun& other : all_runs) {
    if (!run.continues.empty() && other.name == run.continues) previous = &other;
  }
  if (run.state == RunState::kDone && run.record->wall_seconds() > 0) {
    const bool previous_done = previous != nullptr && previous->state == RunState::kDone;
    return run.record->wall_seconds() - (previous_done ? previous->record->wall_seconds() : 0);
  }
  const int stop = run.config.run().stop_after_epochs();
  const int epochs = stop > 0 ? stop - (previous != nullptr ? previous->config.run().stop_after_epochs() : 0)
                              : run.config.optim().epochs();
  const double images = static_cast<double>(TrainImagesPerEpoch(run.config)) * epochs;
  if (images <= 0) return 0;
  // Measured seconds per training image (all overheads included) of done runs.
  double same_series = 0, any_series = 0;
  int same_count = 0, any_count = 0;
  for (const PlannedRun& other : all_runs) {
    if (other.state != RunState::kDone) continue;
    const auto& m = other.record->metrics();
    auto epochs = m.find("epochs");
    auto train_images = m.find("train_images");
    if (epochs == m.end() || train_images == m.end() || epochs->second <= 0) continue;
    const double per_image = other.record->wall_seconds() / (epochs->second * train_images->second);
    if (other.series_id == run.series_id) {
      same_series += per_image;
      ++same_count;
    }
    any_series += per_image / other.relative_cost;
    ++any_count;
  }
  if (same_count > 0) return images * same_series / same_count;
  if (any_count > 0) return images * run.relative_cost * any_series / any_count;
  if (table.estimate_images_per_second() > 0) return images * run.relative_cost / table.estimate_images_per_second();
  return 0;
}

}  // namespace moco
