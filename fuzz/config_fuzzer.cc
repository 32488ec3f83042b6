// ParseConfig, then Validate (one and several processes), then, for a valid config, what
// every run computes from it next (Resolve, the identity, the scaled learning rate). Error
// statuses are fine; a crash, a sanitizer report or an escaping exception is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "configs/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<moco::ExperimentConfig> config = moco::ParseConfig(text, "fuzz.pbtxt");
  if (!config.ok()) {
    if (!absl::StrContains(config.status().message(), "fuzz.pbtxt")) std::abort();
    return 0;
  }
  for (int world_size : {1, 3}) {
    if (!moco::Validate(*config, world_size).ok()) continue;
    const moco::ExperimentConfig resolved = moco::Resolve(*config);
    if (!moco::Validate(resolved, world_size).ok()) std::abort();  // Resolve keeps a config valid
    (void)moco::ConfigIdentity(resolved);
    (void)moco::ScaledLearningRate(resolved);
  }
  return 0;
}
