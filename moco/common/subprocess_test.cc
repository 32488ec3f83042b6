#include "moco/common/subprocess.h"

#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace moco {
namespace {

TEST(SubprocessTest, CapturesStdoutAndTheExitCode) {
  absl::StatusOr<ProcessResult> run = RunProcess({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 3);
  EXPECT_EQ(run->stdout_text, "out\n");  // stderr passed through
}

TEST(SubprocessTest, CapturesStderrTooAndSearchesThePath) {
  ProcessOptions options;
  options.capture_stderr = true;
  options.search_path = true;
  options.env = {{"MOCO_SUBPROCESS_TEST", "set"}};
  absl::StatusOr<ProcessResult> run = RunProcess({"sh", "-c", "echo $MOCO_SUBPROCESS_TEST; echo err >&2"}, options);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 0);
  EXPECT_EQ(run->stdout_text, "set\nerr\n");
}

TEST(SubprocessTest, AProgramThatIsNotThereIsNotFound) {
  EXPECT_TRUE(absl::IsNotFound(RunProcess({"/nonexistent/program"}).status()));
  ProcessOptions options;
  options.search_path = true;
  absl::StatusOr<ProcessResult> run = RunProcess({"moco-no-such-program"}, options);
  EXPECT_TRUE(absl::IsNotFound(run.status())) << run.status();
  // Without search_path a bare name is not looked up.
  EXPECT_FALSE(RunProcess({"sh", "-c", "true"}).ok());
}

TEST(SubprocessTest, StartWaitAndKill) {
  absl::StatusOr<int> pid = StartLoggedProcess({"/bin/sleep", "30"}, testing::TempDir() + "/sleep.log");
  ASSERT_TRUE(pid.ok()) << pid.status();
  absl::StatusOr<std::optional<int>> running = WaitProcessFor(*pid, absl::Milliseconds(20));
  ASSERT_TRUE(running.ok());
  EXPECT_FALSE(running->has_value());
  EXPECT_EQ(*KillProcessGroup(*pid), 128 + 9);
  absl::StatusOr<int> quick = StartProcess({"/bin/sh", "-c", "exit 5"});
  ASSERT_TRUE(quick.ok());
  EXPECT_EQ(*WaitProcess(*quick), 5);
}

}  // namespace
}  // namespace moco
