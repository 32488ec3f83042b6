#include "moco/common/cpu_info.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"

namespace moco {

bool CpuInfo::Has(const std::string& flag) const {
  return std::find(flags.begin(), flags.end(), flag) != flags.end();
}

CpuInfo ParseCpuInfo(const std::string& text) {
  CpuInfo cpu;
  std::istringstream in(text);
  std::string line;
  bool have_model = false, have_flags = false;
  while (std::getline(in, line) && !(have_model && have_flags)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key(absl::StripAsciiWhitespace(line.substr(0, colon)));
    const std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    if (key == "model name" && !have_model) {
      cpu.model = value;
      have_model = true;
    } else if (key == "flags" && !have_flags) {
      cpu.flags = absl::StrSplit(value, ' ', absl::SkipEmpty());
      have_flags = true;
    }
  }
  if (cpu.model.empty()) cpu.model = "an unknown CPU";
  return cpu;
}

const CpuInfo& ThisCpu() {
  static const CpuInfo* const cpu = [] {
    std::ifstream in("/proc/cpuinfo");
    std::stringstream text;
    text << in.rdbuf();
    return new CpuInfo(ParseCpuInfo(text.str()));
  }();
  return *cpu;
}

bool HasNativeBf16(const CpuInfo& cpu) { return cpu.Has("avx512_bf16") || cpu.Has("amx_bf16"); }

}  // namespace moco
