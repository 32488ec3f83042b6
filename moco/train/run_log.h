// What a pretraining run tells the world as it goes, in one place: the progress lines (with
// rate and ETA), TensorBoard's scalars, metrics.jsonl (metrics_log.h) and, at the end,
// curves.png. Only rank 0 writes; the other ranks hold a log whose calls do nothing.
//
//   RunLog log(name, output_dir, lead, &std::cout);
//   log.Say("resumed ...");
//   MOCO_RETURN_IF_ERROR(log.Begin(epochs_done));      // the files: metrics.jsonl, events
//   MOCO_RETURN_IF_ERROR(log.StepDone(step_report));   // every step (writes every few)
//   MOCO_RETURN_IF_ERROR(log.EpochDone(epoch_metrics));
//   absl::StatusOr<std::vector<EpochMetrics>> epochs = log.Finish(random_init_knn);
#ifndef MOCO_TRAIN_RUN_LOG_H_
#define MOCO_TRAIN_RUN_LOG_H_

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "moco/common/event_writer.h"
#include "moco/train/metrics_log.h"

namespace moco {

// One optimizer step, as the progress line and TensorBoard show it.
struct StepReport {
  int64_t epoch = 0;  // 0-based
  int64_t epochs = 0;
  int64_t batch = 0;  // 0-based, in the epoch
  int64_t batches = 0;
  int64_t step = 0;  // steps done, this one included
  int64_t total_steps = 0;
  int64_t global_batch = 0;
  double loss = 0;
  double pretext_top1 = 0;  // %
  double lr = 0;
  // This session's pace: a resumed run's earlier sessions (another machine, another load) do not
  // count. The rate and data wait are of its timed steps (0 until one is timed); the ETA is the
  // steps left at its wall-clock pace (checkpoints included) and the kNN passes left at its last
  // pass's time, or without them (eta_lacks_knn) before the session has timed one.
  double images_per_second = 0;
  double data_wait_percent = 0;
  double eta_seconds = 0;
  bool eta_lacks_knn = false;
  bool report = false;  // write this one (every run.log_every_steps, an epoch's last, the run's last)
};

class RunLog {
 public:
  // The log of the run `name` in `dir`; `progress` (may be null) gets the lines. With `lead`
  // false (not rank 0) it says and writes nothing.
  RunLog(std::string name, std::string dir, bool lead, std::ostream* progress);

  // Opens the files, once the run knows where it starts: creates `dir`, removes the temporary
  // files of a write a killed run left, keeps metrics.jsonl's lines of the `epochs_done` epochs
  // the checkpoint holds, and starts a TensorBoard event file (each session of a run adds one).
  absl::Status Begin(int64_t epochs_done);

  // A progress line of its own: "[name] text".
  void Say(const std::string& text);
  // The calls below write files after Begin() only (before it they do nothing).
  // The kNN top-1 of the encoder at initialisation, as TensorBoard's point at step 0.
  absl::Status KnnAtInit(double top1);
  // The step's TensorBoard scalars and progress line, when `s.report`.
  absl::Status StepDone(const StepReport& s);
  // An epoch completed: its TensorBoard scalars and its metrics.jsonl line.
  absl::Status EpochDone(const EpochMetrics& m);
  // metrics.jsonl read back (the record's curve) and curves.png drawn beside it; a plot that
  // cannot be drawn is said in a line and costs the run nothing. NotFound on other ranks.
  absl::StatusOr<std::vector<EpochMetrics>> Finish(double random_init_knn);

  std::string metrics_path() const;

 private:
  std::string name_;
  std::string dir_;
  bool lead_ = false;
  std::ostream* progress_ = nullptr;
  std::unique_ptr<EventWriter> events_;  // from Begin(), on rank 0
};

}  // namespace moco

#endif  // MOCO_TRAIN_RUN_LOG_H_
