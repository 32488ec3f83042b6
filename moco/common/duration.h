// Wall-clock durations, measured and printed the one way every binary of the suite does.
//
//   const auto start = std::chrono::steady_clock::now();
//   ...
//   log << "ETA " << ClockText(remaining) << ", took " << DurationText(SecondsSince(start));
#ifndef MOCO_COMMON_DURATION_H_
#define MOCO_COMMON_DURATION_H_

#include <chrono>
#include <string>

namespace moco {

// Seconds from `start` to now, on the steady clock.
double SecondsSince(std::chrono::steady_clock::time_point start);

// "m:ss", or "h:mm:ss" from an hour: progress lines and ETAs. Negative reads as 0.
std::string ClockText(double seconds);

// "12 s", "3.4 min" or "1.5 h": wall and compute times in reports.
std::string DurationText(double seconds);

}  // namespace moco

#endif  // MOCO_COMMON_DURATION_H_
