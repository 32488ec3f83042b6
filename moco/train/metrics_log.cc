#include "moco/train/metrics_log.h"

#include <filesystem>
#include <fstream>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "moco/common/files.h"
#include "moco/common/status.h"
#include "nlohmann/json.hpp"

namespace moco {
namespace {

// One line parsed; nullopt when it is not a metrics line.
std::optional<EpochMetrics> ParseLine(const std::string& line) {
  const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("epoch") || !j["epoch"].is_number_integer() ||
      !j.contains("loss") || !j["loss"].is_number()) {
    return std::nullopt;
  }
  auto number = [&](const char* key, double missing) {
    return j.contains(key) && j[key].is_number() ? j[key].get<double>() : missing;
  };
  EpochMetrics m;
  m.epoch = j["epoch"].get<int64_t>();
  m.step = j.contains("step") && j["step"].is_number_integer() ? j["step"].get<int64_t>() : 0;
  m.loss = j["loss"].get<double>();
  m.pretext_top1 = number("pretext_top1", 0);
  m.knn_top1 = number("knn_top1", -1);  // null where the monitor did not run
  m.epoch_seconds = number("epoch_seconds", 0);
  m.lr = number("lr", 0);
  return m;
}

absl::Status BadLine(const std::string& path, int number, const std::string& line) {
  return absl::DataLossError(absl::StrCat(path, ":", number, ": not a metrics line: ", line));
}

}  // namespace

std::string EpochMetricsLine(const EpochMetrics& m) {
  return absl::StrFormat(
      "{\"epoch\": %d, \"step\": %d, \"loss\": %.6f, \"pretext_top1\": %.4f, \"knn_top1\": %s, "
      "\"epoch_seconds\": %.2f, \"lr\": %.8g}",
      m.epoch, m.step, m.loss, m.pretext_top1, m.knn_top1 >= 0 ? absl::StrFormat("%.4f", m.knn_top1) : "null",
      m.epoch_seconds, m.lr);
}

absl::Status AppendEpochMetrics(const std::string& path, const EpochMetrics& m) {
  std::ofstream out(path, std::ios::app);
  out << EpochMetricsLine(m) << "\n";
  out.flush();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<EpochMetrics>> ReadEpochMetrics(const std::string& path) {
  MOCO_ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  std::vector<EpochMetrics> out;
  int number = 0;
  for (absl::string_view piece : absl::StrSplit(text, '\n')) {
    ++number;
    const std::string line(piece);
    if (line.empty()) continue;
    std::optional<EpochMetrics> m = ParseLine(line);
    if (!m) return BadLine(path, number, line);
    out.push_back(*m);
  }
  return out;
}

absl::Status KeepEpochMetricsUpTo(const std::string& path, int64_t max_epoch) {
  if (!std::filesystem::exists(path)) return absl::OkStatus();
  MOCO_ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  const std::vector<std::string> lines = absl::StrSplit(text, '\n');
  std::string kept;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    const std::optional<EpochMetrics> m = ParseLine(lines[i]);
    if (!m && i + 1 == lines.size()) continue;  // torn: the run was killed while writing it
    if (!m) return BadLine(path, static_cast<int>(i) + 1, lines[i]);
    if (m->epoch <= max_epoch) absl::StrAppend(&kept, lines[i], "\n");
  }
  return kept == text ? absl::OkStatus() : WriteFileAtomic(path, kept);
}

}  // namespace moco
