#include "moco/common/duration.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_format.h"

namespace moco {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string ClockText(double seconds) {
  const int64_t s = static_cast<int64_t>(std::max(0.0, seconds));
  if (s >= 3600) return absl::StrFormat("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  return absl::StrFormat("%d:%02d", s / 60, s % 60);
}

std::string DurationText(double seconds) {
  if (seconds >= 3600) return absl::StrFormat("%.1f h", seconds / 3600);
  if (seconds >= 60) return absl::StrFormat("%.1f min", seconds / 60);
  return absl::StrFormat("%.0f s", seconds);
}

}  // namespace moco
