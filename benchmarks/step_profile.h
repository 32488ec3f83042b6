// The training step's profile: LibTorch's profiler (Kineto, CPU activity) around a few steps,
// a Chrome trace of them, and their time by op class (conv forward / backward, BN, matrix
// products, copies, elementwise, the optimizer, the momentum update, the contrastive head), with
// the FLOPs the profiler counts and the machine's measured GEMM rate to set them against.
//
//   StepProfiler profiler;                       // profiling from here
//   for (...) step();                            // the trainer's user scopes label the phases
//   absl::StatusOr<std::vector<ProfiledOp>> ops = profiler.Stop("runs/profile/moco.trace.json");
//   StepProfile profile = SummariseOps(*ops);
//   double peak = MeasureGemmFlops(/*bf16=*/false, 1024, 0.5);
//
// The header has no LibTorch, so the summary's tests build quickly.
#ifndef MOCO_BENCHMARKS_STEP_PROFILE_H_
#define MOCO_BENCHMARKS_STEP_PROFILE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace moco {

// One profiled event: an op (user_scope false) or a user scope such as "step/backward".
struct ProfiledOp {
  std::string name;
  uint64_t start_ns = 0, end_ns = 0;
  uint64_t thread = 0;
  bool user_scope = false;
  double flops = 0;  // what the profiler counts for the op's forward (0 for most ops)
};

struct OpClassTime {
  std::string op_class;
  double seconds = 0;  // self time: the ops' time less their children's
  int64_t calls = 0;
};

struct StepProfile {
  std::vector<OpClassTime> classes;  // largest first
  double op_seconds = 0;             // all ops' self time
  // FLOPs of the profiled steps: forward FLOPs the profiler counted, x3 where gradients flow
  // (forward + backward of inputs and weights), x1 inside the "moco/key_encoder" scope (no grad).
  double step_flops = 0;
};

// The class of an op from its name and the user scopes it ran in (innermost last).
std::string OpClass(const std::string& name, const std::vector<std::string>& scopes);

// Self time by class, over ops nested by time on each thread.
StepProfile SummariseOps(std::vector<ProfiledOp> ops);

// Profiles this thread's ops (CPU) from construction until Stop, which writes the Chrome trace
// to `trace_path` (when not empty) and returns the events.
class StepProfiler {
 public:
  StepProfiler();
  ~StepProfiler();
  StepProfiler(const StepProfiler&) = delete;
  StepProfiler& operator=(const StepProfiler&) = delete;
  absl::StatusOr<std::vector<ProfiledOp>> Stop(const std::string& trace_path);

 private:
  bool running_ = false;
};

// FLOP/s of an n x n by n x n matrix product (float32, or bfloat16 when `bf16`) on the CPU with
// LibTorch's current threads, the best of repeats over about `seconds`.
double MeasureGemmFlops(bool bf16, int n, double seconds);

}  // namespace moco

#endif  // MOCO_BENCHMARKS_STEP_PROFILE_H_
