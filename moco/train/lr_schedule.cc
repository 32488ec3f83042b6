#include "moco/train/lr_schedule.h"

#include <cmath>

#include "configs/config.h"

namespace moco {

double LearningRate(const config::ExperimentConfig& config, int epoch, int64_t step_in_epoch,
                    int64_t steps_per_epoch) {
  const auto& optim = config.optim();
  double lr = ScaledLearningRate(config);
  if (optim.warmup_epochs() > 0 && epoch < optim.warmup_epochs()) {
    const double progress = (epoch * steps_per_epoch + step_in_epoch + 1.0) /
                            (static_cast<double>(optim.warmup_epochs()) * steps_per_epoch);
    return lr * progress;
  }
  if (optim.schedule() == config::OptimConfig::COSINE) {
    return lr * 0.5 * (1.0 + std::cos(M_PI * epoch / optim.epochs()));
  }
  if (optim.schedule() == config::OptimConfig::COSINE_NOTEBOOK) {
    return lr * 0.5 * (1.0 + std::cos(M_PI * (epoch + 1) / optim.epochs()));
  }
  for (int drop : optim.lr_drop_epochs()) {
    if (epoch >= drop) lr *= optim.lr_drop_factor();
  }
  return lr;
}

bool KnnAfterEpoch(const config::ExperimentConfig& config, int64_t epoch, int64_t steps_per_epoch,
                   int64_t total_steps) {
  const int64_t end = (epoch + 1) * steps_per_epoch;
  if (end > total_steps) return false;  // cut short
  const int every = config.eval().knn_every_epochs();
  return epoch + 1 == config.optim().epochs() || end == total_steps || (every > 0 && (epoch + 1) % every == 0);
}

int64_t KnnPassesLeft(const config::ExperimentConfig& config, int64_t step, int64_t steps_per_epoch,
                      int64_t total_steps) {
  int64_t passes = 0;
  const int64_t epoch = step == 0 ? 0 : (step - 1) / steps_per_epoch;  // the epoch of the last step done
  for (int64_t e = epoch; (e + 1) * steps_per_epoch <= total_steps; ++e) {
    passes += KnnAfterEpoch(config, e, steps_per_epoch, total_steps);
  }
  return passes;
}

}  // namespace moco
