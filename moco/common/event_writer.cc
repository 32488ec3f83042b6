#include "moco/common/event_writer.h"

#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "moco/common/tensorboard_event.pb.h"

namespace moco {
namespace {

// The byte-at-a-time table of the reflected Castagnoli polynomial 0x82F63B78.
const std::array<uint32_t, 256>& CrcTable() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string LittleEndian(uint64_t value, int bytes) {
  std::string out(bytes, '\0');
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  return out;
}

}  // namespace

uint32_t Crc32c(absl::string_view data) {
  uint32_t crc = 0xffffffffu;
  for (unsigned char byte : data) crc = CrcTable()[(crc ^ byte) & 0xff] ^ (crc >> 8);
  return crc ^ 0xffffffffu;
}

uint32_t MaskedCrc32c(absl::string_view data) {
  const uint32_t crc = Crc32c(data);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string TfRecord(absl::string_view data) {
  const std::string length = LittleEndian(data.size(), 8);
  return absl::StrCat(length, LittleEndian(MaskedCrc32c(length), 4), data, LittleEndian(MaskedCrc32c(data), 4));
}

absl::StatusOr<EventWriter> EventWriter::Open(const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) std::strcpy(host, "localhost");
  // <seconds>.<host>.<pid>.<n>: n counts the writers of this process, so two opened in the
  // same second do not share a file.
  static std::atomic<int> opened{0};
  const std::string name = absl::StrCat("events.out.tfevents.", static_cast<int64_t>(Now()), ".", host, ".",
                                        getpid(), ".", opened++);
  const std::string path = (std::filesystem::path(dir) / name).string();
  FILE* file = std::fopen(path.c_str(), "ab");
  if (file == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat("cannot create the TensorBoard event file ", path, ": ",
                                                    std::strerror(errno)));
  }
  EventWriter writer(path, file);
  tensorboard::Event version;
  version.set_wall_time(Now());
  version.set_file_version("brain.Event:2");
  if (absl::Status status = writer.Write(version.SerializeAsString()); !status.ok()) return status;
  if (absl::Status status = writer.Flush(); !status.ok()) return status;
  return writer;
}

absl::Status EventWriter::Scalar(absl::string_view tag, int64_t step, double value) {
  tensorboard::Event event;
  event.set_wall_time(Now());
  event.set_step(step);
  tensorboard::SummaryValue* v = event.mutable_summary()->add_value();
  v->set_tag(std::string(tag));
  v->set_simple_value(static_cast<float>(value));
  return Write(event.SerializeAsString());
}

absl::Status EventWriter::Write(const std::string& event) {
  const std::string record = TfRecord(event);
  if (std::fwrite(record.data(), 1, record.size(), file_.get()) != record.size()) {
    return absl::DataLossError(absl::StrCat("cannot write the TensorBoard event file ", path_));
  }
  return absl::OkStatus();
}

absl::Status EventWriter::Flush() {
  if (std::fflush(file_.get()) != 0) {
    return absl::DataLossError(absl::StrCat("cannot write the TensorBoard event file ", path_));
  }
  return absl::OkStatus();
}

}  // namespace moco
