// metrics.jsonl: one JSON line per epoch a pretraining run completed. This module alone writes,
// reads and truncates it (the run log appends, resume truncates, curves and reports read).
//
//   MOCO_RETURN_IF_ERROR(AppendEpochMetrics(path, {.epoch = 1, .step = 97, .loss = 6.91}));
//   MOCO_RETURN_IF_ERROR(KeepEpochMetricsUpTo(path, checkpoint_epochs));  // on resume
//   MOCO_ASSIGN_OR_RETURN(std::vector<EpochMetrics> epochs, ReadEpochMetrics(path));
#ifndef MOCO_TRAIN_METRICS_LOG_H_
#define MOCO_TRAIN_METRICS_LOG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace moco {

struct EpochMetrics {
  int64_t epoch = 0;  // 1-based
  int64_t step = 0;   // optimizer steps done at its end
  double loss = 0;    // mean over the epoch
  double pretext_top1 = 0;    // in %, mean over the epoch
  double knn_top1 = -1;       // in %; -1 where the kNN monitor did not run
  double epoch_seconds = 0;   // of the session that finished the epoch
  double lr = 0;              // of the epoch's last step; 0 in lines written before the field
};

// The line of one epoch, without its newline.
std::string EpochMetricsLine(const EpochMetrics& m);

// Adds `m`'s line at the end of `path` (created if missing).
absl::Status AppendEpochMetrics(const std::string& path, const EpochMetrics& m);

// The lines of `path`, in order; a line that is not a metrics line is an error naming the file
// and the line.
absl::StatusOr<std::vector<EpochMetrics>> ReadEpochMetrics(const std::string& path);

// Keeps the lines of epochs 1..max_epoch, as written, and drops the others, so that a run resumed
// from a checkpoint of `max_epoch` epochs does not repeat the lines written after it. A torn last
// line (a run killed while writing it) is dropped; a bad line before it is an error naming the
// file and the line. A missing file is fine (nothing to keep).
absl::Status KeepEpochMetricsUpTo(const std::string& path, int64_t max_epoch);

}  // namespace moco

#endif  // MOCO_TRAIN_METRICS_LOG_H_
