#include "moco/models/autocast.h"

#include <ATen/autocast_mode.h>

namespace moco {

Bf16Autocast::Bf16Autocast(c10::Device device, bool enabled) : type_(device.type()), enabled_(enabled) {
  if (!enabled_) return;
  was_enabled_ = at::autocast::is_autocast_enabled(type_);
  at::autocast::set_autocast_dtype(type_, at::kBFloat16);
  at::autocast::set_autocast_enabled(type_, true);
  at::autocast::increment_nesting();
}

Bf16Autocast::~Bf16Autocast() {
  if (!enabled_) return;
  at::autocast::set_autocast_enabled(type_, was_enabled_);
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
}

Float32Scope::Float32Scope()
    : cpu_was_enabled_(at::autocast::is_autocast_enabled(c10::kCPU)),
      cuda_was_enabled_(at::autocast::is_autocast_enabled(c10::kCUDA)) {
  at::autocast::set_autocast_enabled(c10::kCPU, false);
  at::autocast::set_autocast_enabled(c10::kCUDA, false);
}

Float32Scope::~Float32Scope() {
  at::autocast::set_autocast_enabled(c10::kCPU, cpu_was_enabled_);
  at::autocast::set_autocast_enabled(c10::kCUDA, cuda_was_enabled_);
}

}  // namespace moco
