#include "benchmarks/step_profile.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/profiler_kineto.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace moco {
namespace {

bool Any(const std::string& s, std::initializer_list<const char*> parts) {
  for (const char* p : parts) {
    if (absl::StrContains(s, p)) return true;
  }
  return false;
}

bool InScope(const std::vector<std::string>& scopes, const char* scope) {
  return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
}

}  // namespace

std::string OpClass(const std::string& name, const std::vector<std::string>& scopes) {
  if (InScope(scopes, "step/optimizer")) return "optimizer (SGD, gradient averaging)";
  if (InScope(scopes, "moco/momentum_update")) return "momentum update";
  if (InScope(scopes, "moco/head")) return "contrastive head (logits, loss, queue or bank)";
  const std::string n = absl::AsciiStrToLower(name);
  const bool backward = absl::StrContains(n, "backward");
  if (Any(n, {"conv"})) return backward ? "conv backward" : "conv forward";
  if (Any(n, {"batch_norm", "batchnorm"})) return backward ? "BN backward" : "BN forward";
  if (Any(n, {"addmm", "::mm", "bmm", "matmul", "linear", "mmbackward"})) return "matrix products (fc)";
  if (Any(n, {"copy", "::to", "contiguous", "clone", "::cat", "index", "chunk", "narrow", "view", "reshape"})) {
    return "copies, casts, gathers";
  }
  return backward ? "elementwise and other, backward" : "elementwise and other, forward";
}

StepProfile SummariseOps(std::vector<ProfiledOp> ops) {
  // Per thread, by start time; an enclosing event first (the longer one at equal starts).
  std::sort(ops.begin(), ops.end(), [](const ProfiledOp& a, const ProfiledOp& b) {
    if (a.thread != b.thread) return a.thread < b.thread;
    if (a.start_ns != b.start_ns) return a.start_ns < b.start_ns;
    return a.end_ns > b.end_ns;
  });
  std::vector<double> child_seconds(ops.size(), 0.0);
  std::vector<std::string> op_class(ops.size());
  std::vector<size_t> stack;
  std::map<std::string, OpClassTime> by_class;
  StepProfile profile;
  for (size_t i = 0; i < ops.size(); ++i) {
    const ProfiledOp& op = ops[i];
    while (!stack.empty() && (ops[stack.back()].thread != op.thread || ops[stack.back()].end_ns <= op.start_ns)) {
      stack.pop_back();
    }
    std::vector<std::string> scopes;
    bool counted_above = false;  // an enclosing op's FLOPs already include this one's
    bool no_grad = false;
    for (size_t s : stack) {
      if (ops[s].user_scope) scopes.push_back(ops[s].name);
      if (!ops[s].user_scope && ops[s].flops > 0) counted_above = true;
      if (ops[s].user_scope && ops[s].name == "moco/key_encoder") no_grad = true;
    }
    if (!op.user_scope) {
      // The nearest enclosing op (not a scope) loses this op's time from its self time.
      for (auto it = stack.rbegin(); it != stack.rend(); ++it) {
        if (!ops[*it].user_scope) {
          child_seconds[*it] += 1e-9 * static_cast<double>(op.end_ns - op.start_ns);
          break;
        }
      }
      op_class[i] = OpClass(op.name, scopes);
      if (op.flops > 0 && !counted_above) profile.step_flops += (no_grad ? 1.0 : 3.0) * op.flops;
    }
    stack.push_back(i);
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].user_scope) continue;
    const double self = std::max(0.0, 1e-9 * static_cast<double>(ops[i].end_ns - ops[i].start_ns) - child_seconds[i]);
    OpClassTime& c = by_class[op_class[i]];
    c.op_class = op_class[i];
    c.seconds += self;
    c.calls += 1;
    profile.op_seconds += self;
  }
  for (auto& [name, c] : by_class) profile.classes.push_back(c);
  std::sort(profile.classes.begin(), profile.classes.end(),
            [](const OpClassTime& a, const OpClassTime& b) { return a.seconds > b.seconds; });
  return profile;
}

StepProfiler::StepProfiler() {
  namespace prof = torch::profiler::impl;
  const prof::ProfilerConfig config(prof::ProfilerState::KINETO, /*report_input_shapes=*/true,
                                    /*profile_memory=*/false, /*with_stack=*/false, /*with_flops=*/true);
  const std::set<prof::ActivityType> activities = {prof::ActivityType::CPU};
  torch::autograd::profiler::prepareProfiler(config, activities);  // as torch.profiler does first
  torch::autograd::profiler::enableProfiler(config, activities);
  running_ = true;
}

StepProfiler::~StepProfiler() {
  if (running_) torch::autograd::profiler::disableProfiler();
}

absl::StatusOr<std::vector<ProfiledOp>> StepProfiler::Stop(const std::string& trace_path) {
  if (!running_) return absl::FailedPreconditionError("the profiler was stopped already");
  running_ = false;
  std::unique_ptr<torch::autograd::profiler::ProfilerResult> result = torch::autograd::profiler::disableProfiler();
  if (!result) return absl::InternalError("the profiler returned no result");
  std::vector<ProfiledOp> ops;
  for (const auto& e : result->events()) {
    if (e.deviceType() != c10::DeviceType::CPU || e.endNs() <= e.startNs()) continue;
    ProfiledOp op;
    op.name = e.name();
    op.start_ns = e.startNs();
    op.end_ns = e.endNs();
    op.thread = e.startThreadId();
    op.user_scope = e.scope() == static_cast<uint8_t>(at::RecordScope::USER_SCOPE);
    op.flops = static_cast<double>(e.flops());
    ops.push_back(std::move(op));
  }
  if (!trace_path.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(trace_path).parent_path(), ec);
    result->save(trace_path);
    if (!std::filesystem::exists(trace_path)) return absl::InternalError(absl::StrCat("could not write ", trace_path));
  }
  return ops;
}

double MeasureGemmFlops(bool bf16, int n, double seconds) {
  const at::ScalarType type = bf16 ? at::kBFloat16 : at::kFloat;
  const at::Tensor a = at::randn({n, n}).to(type), b = at::randn({n, n}).to(type);
  at::Tensor c = at::mm(a, b);  // warm-up: oneDNN picks and builds its kernel
  using Clock = std::chrono::steady_clock;
  const auto until = Clock::now() + std::chrono::duration<double>(seconds);
  double best = 1e30;
  do {
    const auto start = Clock::now();
    at::mm_out(c, a, b);
    best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count());
  } while (Clock::now() < until);
  return 2.0 * n * n * static_cast<double>(n) / best;
}

}  // namespace moco
