// ParseTorchFile (eval/torch_file.h, the checkpoint importer's torch.save reader: zip container
// or the legacy format, then its own pickle machine) on arbitrary bytes. An error status is
// fine; a crash, a sanitizer report or an escaping exception is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "eval/torch_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<c10::IValue> object = moco::ParseTorchFile(bytes, "fuzz.pt");
  if (!object.ok() && !absl::StrContains(object.status().message(), "fuzz.pt")) std::abort();
  return 0;
}
