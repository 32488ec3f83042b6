// A training run's curves: the per-epoch lines of its metrics.jsonl read back, and curves.png
// (loss and kNN top-1 against epochs) drawn with gnuplot beside them at the end of the run.
//
//   MOCO_ASSIGN_OR_RETURN(std::vector<EpochMetrics> epochs, ReadEpochMetrics(dir + "/metrics.jsonl"));
//   MOCO_RETURN_IF_ERROR(WriteCurves(epochs, random_init_knn, dir + "/curves.png"));
#ifndef MOCO_TRAIN_CURVES_H_
#define MOCO_TRAIN_CURVES_H_

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
  double pretext_top1 = 0;
  double knn_top1 = -1;  // -1 where the kNN monitor did not run
  double lr = 0;         // of the epoch's last step; 0 in lines written before the field
};

// The lines of a metrics.jsonl (as the trainer writes it), in order; errors name the file and
// the line.
absl::StatusOr<std::vector<EpochMetrics>> ReadEpochMetrics(const std::string& path);

// curves.png: the loss (left axis) and the kNN top-1 (right axis; with the encoder at
// initialisation as epoch 0 when `random_init_knn` >= 0) against epochs.
absl::Status WriteCurves(const std::vector<EpochMetrics>& epochs, double random_init_knn,
                         const std::string& png_path);

}  // namespace moco

#endif  // MOCO_TRAIN_CURVES_H_
