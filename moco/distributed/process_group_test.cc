// Real processes on 127.0.0.1 with the Gloo backend. The multi-process tests re-run this binary
// (/proc/self/exe --worker=NAME) as workers through LaunchWorkers; a worker checks its results
// exactly and reports a failure through its exit status, which fails the launch.
#include "moco/distributed/process_group.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/full.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/zeros.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "moco/distributed/distributed_env.h"
#include "moco/distributed/worker_launcher.h"

namespace moco {
namespace {

using ::testing::HasSubstr;

// ---------------------------------------------------------------------------------------------
// Worker side: each returns the process exit status, 0 when every check held.

int Fail(const DistributedEnv& env, int code, const std::string& what) {
  std::cerr << "worker rank " << env.rank << ": " << what << std::endl;
  return code;
}

std::string Str(const at::Tensor& tensor) {
  std::ostringstream text;
  text << tensor;
  return text.str();
}

// Allreduce, allgather, broadcast and barrier over rank-dependent tensors.
int CollectivesWorker(const DistributedEnv& env) {
  absl::StatusOr<ProcessGroupHandle> group =
      ConnectProcessGroup(env, Backend::kGloo, absl::Seconds(20));
  if (!group.ok()) return Fail(env, 10, group.status().ToString());
  const int rank = env.rank;
  const int world = env.world_size;
  if (group->rank() != rank || group->world_size() != world) return Fail(env, 11, "wrong rank");

  // Rank r holds (r + 1) * [0 1 2 3 4 5] + 100 r; the sum is (sum r + 1) * [0 ..] + 100 sum r.
  at::Tensor values = at::arange(6, at::kFloat) * (rank + 1) + 100 * rank;  // 6
  absl::Status status = group->AllReduceSum(values);
  if (!status.ok()) return Fail(env, 12, status.ToString());
  at::Tensor expected =
      at::arange(6, at::kFloat) * (world * (world + 1) / 2) + 100 * (world * (world - 1) / 2);
  if (!values.equal(expected)) return Fail(env, 13, "AllReduceSum gave " + Str(values));

  // Integer sums are exact at any size: rank r holds 2^(8r).
  at::Tensor bits = at::full({3}, std::int64_t{1} << (8 * rank), at::kLong);  // 3
  status = group->AllReduceSum(bits);
  if (!status.ok()) return Fail(env, 14, status.ToString());
  std::int64_t expected_bits = 0;
  for (int r = 0; r < world; ++r) expected_bits += std::int64_t{1} << (8 * r);
  if (!bits.equal(at::full({3}, expected_bits, at::kLong))) {
    return Fail(env, 15, "integer AllReduceSum gave " + Str(bits));
  }

  // Rank r holds a 2 x 3 block 10 r + [[0 1 2] [3 4 5]]; the gather stacks blocks by rank.
  auto block = [](int r) { return at::arange(6, at::kFloat).view({2, 3}) + 10 * r; };  // 2 x 3
  absl::StatusOr<at::Tensor> gathered = group->AllGather(block(rank));  // (2 world) x 3
  if (!gathered.ok()) return Fail(env, 16, gathered.status().ToString());
  std::vector<at::Tensor> blocks;
  for (int r = 0; r < world; ++r) blocks.push_back(block(r));
  if (!gathered->equal(at::cat(blocks, 0))) {
    return Fail(env, 17, "AllGather gave " + Str(*gathered));
  }

  // Broadcast from the last rank, so that a root ignored in favour of rank 0 shows.
  const int root = world - 1;
  at::Tensor broadcast = rank == root ? at::arange(5, at::kLong) * 7 : at::zeros({5}, at::kLong);
  status = group->Broadcast(broadcast, root);
  if (!status.ok()) return Fail(env, 18, status.ToString());
  if (!broadcast.equal(at::arange(5, at::kLong) * 7)) {
    return Fail(env, 19, "Broadcast gave " + Str(broadcast));
  }

  status = group->Barrier();
  if (!status.ok()) return Fail(env, 20, status.ToString());
  return 0;
}

constexpr absl::Duration kCollectiveTimeout = absl::Seconds(3);

// Rank 0 allreduces while rank 1 never joins in: rank 0 must get DeadlineExceeded within the
// timeout instead of hanging. Rank 1 stays alive past that, so the timeout is what ends it.
int CollectiveTimeoutWorker(const DistributedEnv& env) {
  absl::StatusOr<ProcessGroupHandle> group =
      ConnectProcessGroup(env, Backend::kGloo, kCollectiveTimeout);
  if (!group.ok()) return Fail(env, 10, group.status().ToString());
  if (env.rank != 0) {
    absl::SleepFor(kCollectiveTimeout + absl::Seconds(1));
    return 0;
  }
  at::Tensor values = at::ones({4});
  const absl::Time start = absl::Now();
  absl::Status status = group->AllReduceSum(values);
  const absl::Duration elapsed = absl::Now() - start;
  if (status.code() != absl::StatusCode::kDeadlineExceeded) {
    return Fail(env, 21, "expected DeadlineExceeded, got " + status.ToString());
  }
  if (!absl::StrContains(status.message(), "AllReduceSum on rank 0 of 2 timed out after 3s")) {
    return Fail(env, 22, "unexpected message: " + status.ToString());
  }
  if (elapsed > kCollectiveTimeout + absl::Seconds(3)) {
    return Fail(env, 23, "took " + absl::FormatDuration(elapsed));
  }
  return 0;
}

// Rank 1 dies right after connecting (_exit, without closing anything, as a killed process
// would; exit status 0 so the launcher leaves rank 0 alone); rank 0's next collective must fail
// fast, well within the timeout, saying which collective on which rank and that a peer is gone.
int PeerDiesWorker(const DistributedEnv& env) {
  constexpr absl::Duration kTimeout = absl::Seconds(20);
  absl::StatusOr<ProcessGroupHandle> group = ConnectProcessGroup(env, Backend::kGloo, kTimeout);
  if (!group.ok()) return Fail(env, 10, group.status().ToString());
  if (env.rank != 0) _exit(0);
  absl::SleepFor(absl::Milliseconds(300));
  at::Tensor values = at::ones({4});
  const absl::Time start = absl::Now();
  absl::Status status = group->AllReduceSum(values);
  const absl::Duration elapsed = absl::Now() - start;
  std::cout << "rank 0 after its peer died: " << status << " (after " << elapsed << ")" << std::endl;
  if (status.ok()) return Fail(env, 31, "the collective succeeded without its peer");
  if (!absl::StrContains(status.message(), "AllReduceSum on rank 0 of 2") ||
      !absl::StrContains(status.message(), "another process of the run has probably died")) {
    return Fail(env, 32, "unexpected message: " + status.ToString());
  }
  if (elapsed > absl::Seconds(10)) return Fail(env, 33, "took " + absl::FormatDuration(elapsed));
  return 0;
}

int RunWorker(absl::string_view name) {
  absl::StatusOr<DistributedEnv> env = DistributedEnvFromEnvironment();
  if (!env.ok()) {
    std::cerr << "worker: " << env.status() << std::endl;
    return 2;
  }
  if (env->world_size < 2) return Fail(*env, 3, "expected a multi-process environment");
  if (name == "collectives") return CollectivesWorker(*env);
  if (name == "collective_timeout") return CollectiveTimeoutWorker(*env);
  if (name == "peer_dies") return PeerDiesWorker(*env);
  return Fail(*env, 4, absl::StrCat("unknown worker ", name));
}

// ---------------------------------------------------------------------------------------------
// Test side.

absl::Status RunWorkers(int nproc, const std::string& worker) {
  LaunchOptions options;
  options.timeout = absl::Seconds(45);  // Only a hang gets near this.
  return LaunchWorkers(nproc, {"/proc/self/exe", "--worker=" + worker}, options);
}

TEST(ProcessGroupTest, TwoGlooWorkersAgreeOnCollectives) {
  absl::Status status = RunWorkers(2, "collectives");
  EXPECT_TRUE(status.ok()) << status;
}

TEST(ProcessGroupTest, ACollectiveWithoutItsPeerTimesOut) {
  absl::Status status = RunWorkers(2, "collective_timeout");
  EXPECT_TRUE(status.ok()) << status;
}

TEST(ProcessGroupTest, ACollectiveWhosePeerDiedFailsFast) {
  absl::Status status = RunWorkers(2, "peer_dies");
  EXPECT_TRUE(status.ok()) << status;
}

DistributedEnv LoopbackEnv(int rank, int world_size, int port) {
  DistributedEnv env;
  env.rank = rank;
  env.world_size = world_size;
  env.local_rank = rank;
  env.master_addr = "127.0.0.1";
  env.master_port = port;
  return env;
}

TEST(ProcessGroupTest, APeerThatNeverArrivesTimesOut) {
  absl::StatusOr<int> port = FindFreeLoopbackPort();
  ASSERT_TRUE(port.ok()) << port.status();
  const absl::Time start = absl::Now();
  absl::StatusOr<ProcessGroupHandle> group =
      ConnectProcessGroup(LoopbackEnv(0, 2, *port), Backend::kGloo, absl::Seconds(3));
  const absl::Duration elapsed = absl::Now() - start;
  std::cout << group.status() << " (after " << elapsed << ")" << std::endl;
  ASSERT_FALSE(group.ok());
  EXPECT_EQ(group.status().code(), absl::StatusCode::kDeadlineExceeded) << group.status();
  EXPECT_THAT(std::string(group.status().message()),
              HasSubstr(absl::StrCat("rendezvous at 127.0.0.1:", *port,
                                     " timed out after 3s waiting for 1 of 2 processes")));
  EXPECT_GE(elapsed, absl::Seconds(3));
  EXPECT_LT(elapsed, absl::Seconds(5));
}

TEST(ProcessGroupTest, NobodyListeningTimesOut) {
  absl::StatusOr<int> port = FindFreeLoopbackPort();
  ASSERT_TRUE(port.ok()) << port.status();
  const absl::Time start = absl::Now();
  absl::StatusOr<ProcessGroupHandle> group =
      ConnectProcessGroup(LoopbackEnv(1, 2, *port), Backend::kGloo, absl::Seconds(3));
  const absl::Duration elapsed = absl::Now() - start;
  std::cout << group.status() << " (after " << elapsed << ")" << std::endl;
  ASSERT_FALSE(group.ok());
  EXPECT_EQ(group.status().code(), absl::StatusCode::kDeadlineExceeded) << group.status();
  EXPECT_THAT(std::string(group.status().message()),
              HasSubstr(absl::StrCat("rank 1 of 2 connecting to the rendezvous store at "
                                     "127.0.0.1:",
                                     *port, " timed out after 3s")));
  EXPECT_GE(elapsed, absl::Seconds(3));
  EXPECT_LT(elapsed, absl::Seconds(5));
}

TEST(ProcessGroupTest, APortInUseIsAnErrorNotAHang) {
  // Hold a listening socket on the port that rank 0 is told to serve on.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  socklen_t length = sizeof(address);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const int port = ntohs(address.sin_port);
  const absl::Time start = absl::Now();
  absl::StatusOr<ProcessGroupHandle> group =
      ConnectProcessGroup(LoopbackEnv(0, 2, port), Backend::kGloo, absl::Seconds(3));
  const absl::Duration elapsed = absl::Now() - start;
  close(fd);
  std::cout << group.status() << " (after " << elapsed << ")" << std::endl;
  ASSERT_FALSE(group.ok());
  EXPECT_THAT(std::string(group.status().message()),
              HasSubstr(absl::StrCat("rank 0 of 2 could not serve the rendezvous store at "
                                     "127.0.0.1:",
                                     port)));
  EXPECT_LT(elapsed, absl::Seconds(10));
}

TEST(ProcessGroupTest, ASingleProcessNeedsNoStore) {
  absl::StatusOr<ProcessGroupHandle> group =
      ConnectProcessGroup(DistributedEnv(), Backend::kGloo, absl::Seconds(1));
  ASSERT_TRUE(group.ok()) << group.status();
  EXPECT_EQ(group->rank(), 0);
  EXPECT_EQ(group->world_size(), 1);

  at::Tensor values = at::arange(4, at::kFloat);  // 4
  ASSERT_TRUE(group->AllReduceSum(values).ok());
  EXPECT_TRUE(values.equal(at::arange(4, at::kFloat)));
  ASSERT_TRUE(group->Broadcast(values, 0).ok());
  EXPECT_TRUE(values.equal(at::arange(4, at::kFloat)));
  absl::StatusOr<at::Tensor> gathered = group->AllGather(values);
  ASSERT_TRUE(gathered.ok()) << gathered.status();
  EXPECT_TRUE(gathered->is_same(values));
  EXPECT_TRUE(group->Barrier().ok());
}

TEST(ProcessGroupTest, RejectsBadArguments) {
  absl::StatusOr<ProcessGroupHandle> group =
      ConnectProcessGroup(DistributedEnv(), Backend::kGloo, absl::Seconds(1));
  ASSERT_TRUE(group.ok()) << group.status();
  at::Tensor values = at::arange(4, at::kFloat);
  EXPECT_EQ(group->Broadcast(values, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(group->AllReduceSum(at::Tensor()).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(group->AllReduceSum(at::arange(6, at::kFloat).view({2, 3}).t()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(group->AllGather(at::full({}, 1.0)).status().code(),
            absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(
      ConnectProcessGroup(DistributedEnv(), Backend::kGloo, absl::ZeroDuration()).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ConnectProcessGroup(LoopbackEnv(2, 2, 29500), Backend::kGloo, absl::Seconds(1))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ProcessGroupTest, NcclNeedsACudaBuildAndAGpu) {
  absl::StatusOr<ProcessGroupHandle> group =
      ConnectProcessGroup(DistributedEnv(), Backend::kNccl, absl::Seconds(1));
#ifdef MOCO_WITH_CUDA
  if (group.ok()) GTEST_SKIP() << "a GPU is present";
  EXPECT_EQ(group.status().code(), absl::StatusCode::kFailedPrecondition) << group.status();
  EXPECT_THAT(std::string(group.status().message()), HasSubstr("CUDA device"));
#else
  ASSERT_FALSE(group.ok());
  EXPECT_EQ(group.status().code(), absl::StatusCode::kFailedPrecondition) << group.status();
  EXPECT_THAT(std::string(group.status().message()), HasSubstr("--config=cuda"));
#endif
}

}  // namespace
}  // namespace moco

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (absl::ConsumePrefix(&arg, "--worker=")) return moco::RunWorker(arg);
  }
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
