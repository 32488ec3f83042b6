#include "moco/distributed/process_group.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include <torch/csrc/distributed/c10d/exception.h>
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "moco/common/status.h"

// Both come from --config=cuda: MOCO_WITH_CUDA from //third_party/libtorch:torch,
// USE_C10D_NCCL from this package's BUILD.
#if defined(MOCO_WITH_CUDA) && defined(USE_C10D_NCCL)
#define MOCO_WITH_NCCL 1
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace moco {

struct ProcessGroupHandle::State {
  DistributedEnv env;
  Backend backend = Backend::kGloo;
  absl::Duration timeout;
  // Both null in a world of one process. The group is declared last so that it goes first.
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> group;

  ~State() {
    if (!group) return;
    try {
      group->shutdown();  // NCCL warns when destroyed without it; Gloo has nothing to do.
    } catch (const std::exception&) {
      // A peer that is already gone can make the shutdown fail; nothing is left to release.
    }
  }
};

namespace {

// Where the rendezvous counts arrivals; Gloo's own keys live under a separate prefix.
constexpr const char kArrivedKey[] = "moco/rendezvous/arrived";
constexpr const char kBackendPrefix[] = "moco/backend";
constexpr absl::Duration kArrivalPollInterval = absl::Milliseconds(20);

std::string ExceptionMessage(const std::exception& error) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&error);
  absl::string_view message =
      c10_error != nullptr ? c10_error->what_without_backtrace() : error.what();
  return std::string(absl::StripTrailingAsciiWhitespace(message));
}

// `context` says what was being done; the code says how it failed: DeadlineExceeded once
// the timeout has run out, Unavailable for a network error before that, else Internal.
absl::Status StatusFromException(const std::exception& error, const std::string& context,
                                 absl::Duration elapsed, absl::Duration timeout) {
  const std::string message = ExceptionMessage(error);
  if (elapsed >= timeout || dynamic_cast<const c10d::TimeoutError*>(&error) != nullptr) {
    return absl::DeadlineExceededError(
        absl::StrCat(context, " timed out after ", absl::FormatDuration(timeout), ": ", message));
  }
  if (dynamic_cast<const c10::DistNetworkError*>(&error) != nullptr) {
    return absl::UnavailableError(absl::StrCat(context, ": ", message));
  }
  return absl::InternalError(absl::StrCat(context, ": ", message));
}

std::string StoreAddress(const DistributedEnv& env) {
  return absl::StrCat(env.master_addr, ":", env.master_port);
}

std::string RankOfWorld(const DistributedEnv& env) {
  return absl::StrCat("rank ", env.rank, " of ", env.world_size);
}

absl::Status CheckBackendAvailable(Backend backend, const DistributedEnv& env) {
  if (backend == Backend::kGloo) return absl::OkStatus();
#ifdef MOCO_WITH_NCCL
  const int devices = c10::cuda::device_count();
  if (devices == 0) {
    return absl::FailedPreconditionError(
        "the NCCL backend needs a CUDA device, and this process sees none");
  }
  if (env.local_rank >= devices) {
    return absl::FailedPreconditionError(
        absl::StrCat("the NCCL backend puts LOCAL_RANK=", env.local_rank, " on CUDA device ",
                     env.local_rank, ", but this process sees only ", devices, " device(s)"));
  }
  return absl::OkStatus();
#else
  (void)env;
  return absl::FailedPreconditionError(
      "the NCCL backend is not in this build: build with --config=cuda and run on a GPU");
#endif
}

// Waits until something accepts TCP connections at the store's address, or `deadline`.
// TCPStore's client retries a refused connection for the whole timeout, then backs off and
// tries again for the whole timeout: about twice the timeout before a missing store is
// reported. This probe bounds that wait by the caller's deadline.
absl::Status WaitForStoreListener(const DistributedEnv& env, absl::Duration timeout,
                                  absl::Time deadline) {
  const std::string port = std::to_string(env.master_port);
  std::string last_error = "no attempt made";
  while (true) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* addresses = nullptr;
    const int resolved = getaddrinfo(env.master_addr.c_str(), port.c_str(), &hints, &addresses);
    if (resolved != 0) last_error = gai_strerror(resolved);
    for (addrinfo* address = resolved == 0 ? addresses : nullptr; address != nullptr;
         address = address->ai_next) {
      const int fd = socket(address->ai_family, address->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                            address->ai_protocol);
      if (fd < 0) {
        last_error = std::strerror(errno);
        continue;
      }
      int error = connect(fd, address->ai_addr, address->ai_addrlen) == 0 ? 0 : errno;
      if (error == EINPROGRESS) {
        pollfd writable{fd, POLLOUT, 0};
        const int wait_ms = static_cast<int>(
            std::clamp<std::int64_t>(absl::ToInt64Milliseconds(deadline - absl::Now()), 0, 1000));
        socklen_t length = sizeof(error);
        if (poll(&writable, 1, wait_ms) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
          error = ETIMEDOUT;
        }
      }
      close(fd);
      if (error == 0) {
        freeaddrinfo(addresses);
        return absl::OkStatus();
      }
      last_error = std::strerror(error);
    }
    if (resolved == 0) freeaddrinfo(addresses);
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat(
          RankOfWorld(env), " connecting to the rendezvous store at ", StoreAddress(env),
          " timed out after ", absl::FormatDuration(timeout), ": ", last_error));
    }
    absl::SleepFor(std::min(left, absl::Milliseconds(100)));
  }
}

// Rank 0 serves the store, unless torchrun's agent already does; every rank, rank 0 included,
// connects to it as a client. The agent's store lives across restarts of the workers, so its
// keys are prefixed with the attempt. waitWorkers is off: WaitForEveryRank does that wait so
// that its error can say how many processes are missing, on every rank rather than on rank 0.
absl::StatusOr<c10::intrusive_ptr<c10d::Store>> ConnectStore(const DistributedEnv& env,
                                                             absl::Duration timeout,
                                                             absl::Time deadline) {
  const bool serve = env.rank == 0 && !env.use_agent_store;
  if (!serve) MOCO_RETURN_IF_ERROR(WaitForStoreListener(env, timeout, deadline));
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(env.master_port);
  options.isServer = serve;
  options.numWorkers = static_cast<std::size_t>(env.world_size);
  options.waitWorkers = false;
  options.timeout = absl::ToChronoMilliseconds(timeout);
  const absl::Time start = absl::Now();
  try {
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
    if (!env.use_agent_store) return store;
    return c10::intrusive_ptr<c10d::Store>(
        c10::make_intrusive<c10d::PrefixStore>(absl::StrCat("moco/attempt_", env.restart_count), store));
  } catch (const std::exception& error) {
    const std::string context =
        env.rank == 0 ? absl::StrCat(RankOfWorld(env), " could not serve the rendezvous store at ",
                                     StoreAddress(env))
                      : absl::StrCat(RankOfWorld(env), " connecting to the rendezvous store at ",
                                     StoreAddress(env));
    return StatusFromException(error, context, absl::Now() - start, timeout);
  }
}

// Counts this process in and waits, until `deadline`, for the count to reach world_size.
absl::Status WaitForEveryRank(c10d::Store& store, const DistributedEnv& env, absl::Duration timeout,
                              absl::Time deadline) {
  const absl::Time start = absl::Now();
  try {
    std::int64_t arrived = store.add(kArrivedKey, 1);
    while (arrived < env.world_size) {
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("rendezvous at ", StoreAddress(env), " timed out after ",
                         absl::FormatDuration(timeout), " waiting for ", env.world_size - arrived,
                         " of ", env.world_size, " processes (this is ", RankOfWorld(env), ")"));
      }
      absl::SleepFor(kArrivalPollInterval);
      arrived = store.add(kArrivedKey, 0);
    }
  } catch (const std::exception& error) {
    return StatusFromException(error,
                               absl::StrCat("rendezvous at ", StoreAddress(env), " (",
                                            RankOfWorld(env), ") lost the store"),
                               absl::Now() - start, timeout);
  }
  return absl::OkStatus();
}

bool IsLoopback(const std::string& host) {
  return absl::StartsWith(host, "127.") || host == "localhost" || host == "::1";
}

// Gloo's listening address: GLOO_SOCKET_IFNAME as in PyTorch; loopback when the store is on
// loopback (a single-node job); else the address this machine's hostname resolves to.
std::shared_ptr<::gloo::transport::Device> GlooDevice(const DistributedEnv& env) {
  const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
  if (interface != nullptr && interface[0] != '\0') {
    return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  }
  if (IsLoopback(env.master_addr)) {
    return c10d::ProcessGroupGloo::createDeviceForHostname(env.master_addr);
  }
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

c10::intrusive_ptr<c10d::Backend> CreateBackend(Backend backend, const DistributedEnv& env,
                                                absl::Duration timeout,
                                                const c10::intrusive_ptr<c10d::Store>& store) {
  auto prefixed = c10::make_intrusive<c10d::PrefixStore>(kBackendPrefix, store);
#ifdef MOCO_WITH_NCCL
  if (backend == Backend::kNccl) {
    c10::cuda::set_device(static_cast<c10::DeviceIndex>(env.local_rank));
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = absl::ToChronoMilliseconds(timeout);
    auto group =
        c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, env.rank, env.world_size, options);
    // As init_process_group(device_id=...) does: collectives without tensors (Barrier) then
    // use this device instead of guessing one from the rank.
    group->setBoundDeviceId(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank)));
    return group;
  }
#endif
  (void)backend;  // CheckBackendAvailable has turned NCCL away in a build without it.
  auto options = c10d::ProcessGroupGloo::Options::create(absl::ToChronoMilliseconds(timeout));
  options->devices.push_back(GlooDevice(env));
  return c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, env.rank, env.world_size, options);
}

absl::Status CheckTensor(const at::Tensor& tensor, absl::string_view operation) {
  if (!tensor.defined()) {
    return absl::InvalidArgumentError(absl::StrCat(operation, ": the tensor is undefined"));
  }
  if (!tensor.is_contiguous()) {
    return absl::InvalidArgumentError(absl::StrCat(operation, ": the tensor is not contiguous"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view BackendName(Backend backend) {
  switch (backend) {
    case Backend::kGloo:
      return "gloo";
    case Backend::kNccl:
      return "nccl";
  }
  return "unknown";
}

ProcessGroupHandle::ProcessGroupHandle(std::shared_ptr<const State> state)
    : state_(std::move(state)) {}

int ProcessGroupHandle::rank() const { return state_->env.rank; }
int ProcessGroupHandle::world_size() const { return state_->env.world_size; }
const DistributedEnv& ProcessGroupHandle::env() const { return state_->env; }
Backend ProcessGroupHandle::backend() const { return state_->backend; }
absl::Duration ProcessGroupHandle::timeout() const { return state_->timeout; }

absl::StatusOr<ProcessGroupHandle> ConnectProcessGroup(const DistributedEnv& env, Backend backend,
                                                       absl::Duration timeout) {
  MOCO_RETURN_IF_ERROR(ValidateDistributedEnv(env));
  if (timeout <= absl::ZeroDuration() || timeout == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "process group timeout ", absl::FormatDuration(timeout), " must be finite and positive"));
  }
  MOCO_RETURN_IF_ERROR(CheckBackendAvailable(backend, env));
  auto state = std::make_shared<ProcessGroupHandle::State>();
  state->env = env;
  state->backend = backend;
  state->timeout = timeout;
  if (env.world_size == 1) return ProcessGroupHandle(std::move(state));

  const absl::Time deadline = absl::Now() + timeout;
  MOCO_ASSIGN_OR_RETURN(state->store, ConnectStore(env, timeout, deadline));
  MOCO_RETURN_IF_ERROR(WaitForEveryRank(*state->store, env, timeout, deadline));
  const absl::Time start = absl::Now();
  try {
    state->group = CreateBackend(backend, env, timeout, state->store);
  } catch (const std::exception& error) {
    return StatusFromException(
        error,
        absl::StrCat("creating the ", BackendName(backend), " process group (", RankOfWorld(env),
                     ", store ", StoreAddress(env), ")"),
        absl::Now() - start, timeout);
  }
  return ProcessGroupHandle(std::move(state));
}

namespace {

// Launches one collective and waits for it, up to the group's timeout.
template <typename Launch>
absl::Status RunCollective(const DistributedEnv& env, absl::Duration timeout,
                           absl::string_view operation, Launch launch) {
  const absl::Time start = absl::Now();
  try {
    c10::intrusive_ptr<c10d::Work> work = launch();
    if (!work->wait(absl::ToChronoMilliseconds(timeout))) {
      return absl::AbortedError(absl::StrCat(operation, " on ", RankOfWorld(env), " was aborted"));
    }
  } catch (const std::exception& error) {
    absl::Status status = StatusFromException(error, absl::StrCat(operation, " on ", RankOfWorld(env)),
                                              absl::Now() - start, timeout);
    return absl::Status(status.code(), absl::StrCat(status.message(),
                                                    " (another process of the run has probably died or hangs; "
                                                    "its own log says why)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ProcessGroupHandle::AllReduceSum(const at::Tensor& tensor) const {
  MOCO_RETURN_IF_ERROR(CheckTensor(tensor, "AllReduceSum"));
  if (!state_->group) return absl::OkStatus();
  std::vector<at::Tensor> tensors = {tensor};
  c10d::AllreduceOptions options;
  options.reduceOp = c10d::ReduceOp::SUM;
  return RunCollective(state_->env, state_->timeout, "AllReduceSum",
                       [&] { return state_->group->allreduce(tensors, options); });
}

absl::StatusOr<at::Tensor> ProcessGroupHandle::AllGather(const at::Tensor& tensor) const {
  if (!tensor.defined() || tensor.dim() == 0) {
    return absl::InvalidArgumentError("AllGather needs a tensor with at least one dimension");
  }
  if (!state_->group) return tensor;
  const int world = state_->env.world_size;
  const std::int64_t rows = tensor.size(0);
  std::vector<std::int64_t> gathered_sizes = tensor.sizes().vec();
  gathered_sizes[0] = rows * world;
  at::Tensor gathered = at::empty(gathered_sizes, tensor.options());  // (world * N) x ...
  // One output per rank, each a contiguous block of rows of `gathered`.
  std::vector<std::vector<at::Tensor>> outputs(1);
  for (int rank = 0; rank < world; ++rank) {
    outputs[0].push_back(gathered.narrow(0, rank * rows, rows));
  }
  std::vector<at::Tensor> inputs = {tensor.contiguous()};
  MOCO_RETURN_IF_ERROR(RunCollective(state_->env, state_->timeout, "AllGather",
                                     [&] { return state_->group->allgather(outputs, inputs); }));
  return gathered;
}

absl::Status ProcessGroupHandle::Broadcast(const at::Tensor& tensor, int root) const {
  MOCO_RETURN_IF_ERROR(CheckTensor(tensor, "Broadcast"));
  if (root < 0 || root >= state_->env.world_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Broadcast root ", root, " is not a rank in a world of ", state_->env.world_size));
  }
  if (!state_->group) return absl::OkStatus();
  std::vector<at::Tensor> tensors = {tensor};
  c10d::BroadcastOptions options;
  options.rootRank = root;
  options.rootTensor = 0;
  return RunCollective(state_->env, state_->timeout, "Broadcast",
                       [&] { return state_->group->broadcast(tensors, options); });
}

absl::Status ProcessGroupHandle::Barrier() const {
  if (!state_->group) return absl::OkStatus();
  return RunCollective(state_->env, state_->timeout, "Barrier",
                       [&] { return state_->group->barrier(c10d::BarrierOptions()); });
}

}  // namespace moco
