// What /proc/cpuinfo says of this machine's CPU: its model name and feature flags, for the
// checks that depend on them (bf16 autocast needs native bf16 instructions) and for the
// benchmarks' machine line.
//
//   const moco::CpuInfo& cpu = moco::ThisCpu();
//   if (!moco::HasNativeBf16(cpu)) ...  // cpu.model names it in the message
#ifndef MOCO_COMMON_CPU_INFO_H_
#define MOCO_COMMON_CPU_INFO_H_

#include <string>
#include <vector>

namespace moco {

struct CpuInfo {
  std::string model;               // "model name" of the first processor; "an unknown CPU" if none
  std::vector<std::string> flags;  // its "flags", in /proc/cpuinfo's order
  bool Has(const std::string& flag) const;
};

// Parses the text of /proc/cpuinfo (the first processor's lines).
CpuInfo ParseCpuInfo(const std::string& text);

// This machine's, read once.
const CpuInfo& ThisCpu();

// Whether bfloat16 arithmetic runs natively (AVX512_BF16 or AMX-BF16) rather than emulated.
bool HasNativeBf16(const CpuInfo& cpu);

}  // namespace moco

#endif  // MOCO_COMMON_CPU_INFO_H_
