// TensorBoard event files, written natively: TFRecord framing (length, masked CRC32C of the
// length, the serialized Event, its masked CRC32C) of scalar-summary Events, so that
// `tensorboard --logdir runs/` shows a run's curves live. One file per writer, named as
// TensorBoard expects (events.out.tfevents.<seconds>.<host>.<pid>.<n>); a resumed run adds a file.
//
//   MOCO_ASSIGN_OR_RETURN(EventWriter events, EventWriter::Open(output_dir));
//   events.Scalar("train/loss", step, 5.21);
//   MOCO_RETURN_IF_ERROR(events.Flush());
#ifndef MOCO_COMMON_EVENT_WRITER_H_
#define MOCO_COMMON_EVENT_WRITER_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace moco {

// CRC-32C (Castagnoli) of `data`, and TFRecord's masked form of a CRC.
uint32_t Crc32c(absl::string_view data);
uint32_t MaskedCrc32c(absl::string_view data);

// One TFRecord: the framing around `data`.
std::string TfRecord(absl::string_view data);

class EventWriter {
 public:
  // Creates `dir` if needed and a new event file in it, starting with the file-version event.
  static absl::StatusOr<EventWriter> Open(const std::string& dir);

  // A scalar point of the curve `tag` at `step`, stamped with the current time.
  absl::Status Scalar(absl::string_view tag, int64_t step, double value);
  // Pushes what was written to the file, so that TensorBoard sees it now.
  absl::Status Flush();

  const std::string& path() const { return path_; }

 private:
  EventWriter(std::string path, FILE* file) : path_(std::move(path)), file_(file, &std::fclose) {}
  absl::Status Write(const std::string& event);

  std::string path_;
  std::unique_ptr<FILE, int (*)(FILE*)> file_;
};

}  // namespace moco

#endif  // MOCO_COMMON_EVENT_WRITER_H_
