#include "moco/train/run_log.h"

#include <filesystem>
#include <ostream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "moco/common/duration.h"
#include "moco/common/status.h"
#include "moco/train/curves.h"

namespace moco {
namespace {

// Temporary files of a write a killed run left (WriteFileAtomic's), which no one will finish.
void RemoveTornWrites(const std::filesystem::path& dir) {
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ignored)) {
    const std::string name = entry.path().filename().string();
    for (const char* file : {"checkpoint.pt.tmp.", "metrics.jsonl.tmp.", "record.json.tmp."}) {
      if (absl::StartsWith(name, file)) std::filesystem::remove(entry.path(), ignored);
    }
  }
}

}  // namespace

RunLog::RunLog(std::string name, std::string dir, bool lead, std::ostream* progress)
    : name_(std::move(name)), dir_(std::move(dir)), lead_(lead), progress_(lead ? progress : nullptr) {}

absl::Status RunLog::Begin(int64_t epochs_done) {
  std::error_code error;
  std::filesystem::create_directories(dir_, error);
  if (error) return absl::InternalError(absl::StrCat("cannot create ", dir_, ": ", error.message()));
  if (!lead_) return absl::OkStatus();
  RemoveTornWrites(dir_);
  // A run killed after writing an epoch's line but before its checkpoint redoes that epoch.
  MOCO_RETURN_IF_ERROR(KeepEpochMetricsUpTo(metrics_path(), epochs_done));
  MOCO_ASSIGN_OR_RETURN(EventWriter events, EventWriter::Open(dir_));
  events_ = std::make_unique<EventWriter>(std::move(events));
  return absl::OkStatus();
}

std::string RunLog::metrics_path() const { return (std::filesystem::path(dir_) / "metrics.jsonl").string(); }

void RunLog::Say(const std::string& text) {
  if (!progress_) return;
  *progress_ << "[" << name_ << "] " << text << "\n";
  progress_->flush();
}

absl::Status RunLog::KnnAtInit(double top1) {
  if (!events_) return absl::OkStatus();
  MOCO_RETURN_IF_ERROR(events_->Scalar("knn/top1", 0, top1));
  return events_->Flush();
}

absl::Status RunLog::StepDone(const StepReport& s) {
  if (!events_ || !s.report) return absl::OkStatus();
  MOCO_RETURN_IF_ERROR(events_->Scalar("train/loss", s.step, s.loss));
  MOCO_RETURN_IF_ERROR(events_->Scalar("train/pretext_top1", s.step, s.pretext_top1));
  MOCO_RETURN_IF_ERROR(events_->Scalar("train/lr", s.step, s.lr));
  if (s.images_per_second > 0) MOCO_RETURN_IF_ERROR(events_->Scalar("train/images_per_second", s.step, s.images_per_second));
  MOCO_RETURN_IF_ERROR(events_->Scalar("train/data_wait_percent", s.step, s.data_wait_percent));
  MOCO_RETURN_IF_ERROR(events_->Flush());
  Say(absl::StrFormat("epoch %d/%d step %d/%d  loss %.4f  pretext top-1 %5.1f%%  lr %.4g  "
                      "%.0f img/s (data wait %.1f%%)  ETA %s",
                      s.epoch + 1, s.epochs, s.batch + 1, s.batches, s.loss, s.pretext_top1, s.lr,
                      s.images_per_second, s.data_wait_percent,
                      s.images_per_second <= 0 ? std::string("-")
                      : s.eta_lacks_knn        ? ClockText(s.eta_seconds) + " + kNN passes"
                                               : ClockText(s.eta_seconds)));
  return absl::OkStatus();
}

absl::Status RunLog::EpochDone(const EpochMetrics& m) {
  if (!events_) return absl::OkStatus();
  MOCO_RETURN_IF_ERROR(events_->Scalar("epoch/loss", m.step, m.loss));
  MOCO_RETURN_IF_ERROR(events_->Scalar("epoch/pretext_top1", m.step, m.pretext_top1));
  if (m.knn_top1 >= 0) MOCO_RETURN_IF_ERROR(events_->Scalar("knn/top1", m.step, m.knn_top1));
  MOCO_RETURN_IF_ERROR(events_->Flush());
  return AppendEpochMetrics(metrics_path(), m);
}

absl::StatusOr<std::vector<EpochMetrics>> RunLog::Finish(double random_init_knn) {
  if (!events_) return absl::NotFoundError("the run's log is rank 0's");
  absl::StatusOr<std::vector<EpochMetrics>> epochs = ReadEpochMetrics(metrics_path());
  const absl::Status drawn = epochs.ok() ? WriteCurves(*epochs, random_init_knn,
                                                       (std::filesystem::path(dir_) / "curves.png").string())
                                         : epochs.status();
  if (!drawn.ok()) Say(absl::StrCat("no curves.png: ", drawn.message()));
  return epochs;
}

}  // namespace moco
