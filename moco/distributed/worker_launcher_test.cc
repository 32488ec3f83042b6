#include "moco/distributed/worker_launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace moco {
namespace {

using ::testing::HasSubstr;

// Runs `script` with /bin/sh as each worker; $0 inside it is `arg`.
absl::Status LaunchShell(int nproc, const std::string& script, const LaunchOptions& options = {},
                         const std::string& arg = "worker") {
  return LaunchWorkers(nproc, {"/bin/sh", "-c", script, arg}, options);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(WorkerLauncherTest, GivesEachWorkerItsPlace) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = tmp != nullptr ? tmp : "/tmp";
  // A stale RANK in the launcher's environment must not leak into the workers; other
  // variables must.
  setenv("RANK", "7", 1);
  setenv("MOCO_LAUNCHER_TEST_INHERITED", "yes", 1);
  absl::Status status =
      LaunchShell(3,
                  "echo \"$RANK $LOCAL_RANK $WORLD_SIZE $LOCAL_WORLD_SIZE $MASTER_ADDR "
                  "$MOCO_LAUNCHER_TEST_INHERITED\" > \"$0/worker_$RANK\"; echo $MASTER_PORT > "
                  "\"$0/port_$RANK\"",
                  {}, dir);
  unsetenv("RANK");
  unsetenv("MOCO_LAUNCHER_TEST_INHERITED");
  ASSERT_TRUE(status.ok()) << status;
  const std::string port = ReadFile(dir + "/port_0");
  const int port_number = std::atoi(port.c_str());
  EXPECT_GE(port_number, 1);
  EXPECT_LE(port_number, 65535);
  for (int rank = 0; rank < 3; ++rank) {
    EXPECT_EQ(ReadFile(absl::StrCat(dir, "/worker_", rank)),
              absl::StrCat(rank, " ", rank, " 3 3 127.0.0.1 yes\n"));
    EXPECT_EQ(ReadFile(absl::StrCat(dir, "/port_", rank)), port);
  }
}

TEST(WorkerLauncherTest, UsesTheGivenPort) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = tmp != nullptr ? tmp : "/tmp";
  LaunchOptions options;
  options.master_port = 29517;
  ASSERT_TRUE(LaunchShell(1, "echo $MASTER_PORT > \"$0/given_port\"", options, dir).ok());
  EXPECT_EQ(ReadFile(dir + "/given_port"), "29517\n");
}

TEST(WorkerLauncherTest, AFailingWorkerStopsTheOthers) {
  const absl::Time start = absl::Now();
  absl::Status status = LaunchShell(3, "if [ \"$RANK\" = 1 ]; then exit 3; fi; exec sleep 30");
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_EQ(status.code(), absl::StatusCode::kUnknown) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("worker rank 1 of 3"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("exited with status 3"));
  EXPECT_LT(elapsed, absl::Seconds(10));
}

TEST(WorkerLauncherTest, ReportsTheSignalThatKilledAWorker) {
  absl::Status status = LaunchShell(2, "if [ \"$RANK\" = 0 ]; then kill -9 $$; fi; exec sleep 30");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnknown) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("worker rank 0 of 2"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("killed by signal 9"));
}

TEST(WorkerLauncherTest, KillsWorkersThatIgnoreSigterm) {
  LaunchOptions options;
  options.termination_grace = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  absl::Status status = LaunchShell(
      2, "trap '' TERM; if [ \"$RANK\" = 1 ]; then exit 5; fi; while :; do sleep 0.1; done",
      options);
  EXPECT_THAT(std::string(status.message()), HasSubstr("exited with status 5"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST(WorkerLauncherTest, TimesOutAndStopsWorkers) {
  LaunchOptions options;
  options.timeout = absl::Milliseconds(500);
  const absl::Time start = absl::Now();
  absl::Status status = LaunchShell(2, "exec sleep 30", options);
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("2 of 2 workers (ranks 0, 1"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST(WorkerLauncherTest, RejectsBadArguments) {
  EXPECT_EQ(LaunchWorkers(0, {"/bin/true"}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LaunchWorkers(1, {}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LaunchWorkers(1, {"/nonexistent/worker"}).code(), absl::StatusCode::kNotFound);
  LaunchOptions options;
  options.master_port = 70000;
  EXPECT_EQ(LaunchWorkers(1, {"/bin/true"}, options).code(), absl::StatusCode::kInvalidArgument);
}

TEST(WorkerLauncherTest, ReportsAnExecFailure) {
  // Executable by access(2) but not a valid program: execve fails with ENOEXEC.
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp != nullptr ? tmp : "/tmp") + "/not_a_program";
  { std::ofstream(path) << "not a program\n"; }
  ASSERT_EQ(chmod(path.c_str(), 0755), 0);
  absl::Status status = LaunchWorkers(2, {path});
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("starting worker rank 0 of 2"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("execve"));
}

TEST(WorkerLauncherTest, FindsABindableLoopbackPort) {
  absl::StatusOr<int> port = FindFreeLoopbackPort();
  ASSERT_TRUE(port.ok()) << port.status();
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(*port));
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  close(fd);
}

}  // namespace
}  // namespace moco
