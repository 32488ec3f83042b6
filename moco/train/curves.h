// A training run's curves.png (loss and kNN top-1 against epochs), drawn with gnuplot from its
// metrics.jsonl (metrics_log.h) at the end of the run.
//
//   MOCO_ASSIGN_OR_RETURN(std::vector<EpochMetrics> epochs, ReadEpochMetrics(dir + "/metrics.jsonl"));
//   MOCO_RETURN_IF_ERROR(WriteCurves(epochs, random_init_knn, dir + "/curves.png"));
#ifndef MOCO_TRAIN_CURVES_H_
#define MOCO_TRAIN_CURVES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "moco/train/metrics_log.h"

namespace moco {

// curves.png: the loss (left axis) and the kNN top-1 (right axis; with the encoder at
// initialisation as epoch 0 when `random_init_knn` >= 0) against epochs.
absl::Status WriteCurves(const std::vector<EpochMetrics>& epochs, double random_init_knn,
                         const std::string& png_path);

}  // namespace moco

#endif  // MOCO_TRAIN_CURVES_H_
