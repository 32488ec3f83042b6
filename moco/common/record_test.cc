#include "moco/common/record.h"

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace moco {
namespace {

// A run names the commit its process was pinned to, not the workspace's at write time.
TEST(RecordTest, PinnedCommitWinsAndIsNotOverwritten) {
  unsetenv("MOCO_GIT_COMMIT");
  setenv("BUILD_WORKSPACE_DIRECTORY", "/nonexistent", 1);  // not a git checkout
  EXPECT_EQ(GitCommit(), "unknown");
  PinGitCommit();
  ASSERT_NE(std::getenv("MOCO_GIT_COMMIT"), nullptr);
  EXPECT_EQ(std::string(std::getenv("MOCO_GIT_COMMIT")), "unknown");

  setenv("MOCO_GIT_COMMIT", "abc1234", 1);  // as a sweep passes it to its workers
  PinGitCommit();
  EXPECT_EQ(GitCommit(), "abc1234");
  config::RunRecord record;
  FillProvenance(&record);
  EXPECT_EQ(record.git_commit(), "abc1234");
  EXPECT_FALSE(record.finished_at().empty());
}

TEST(RecordTest, ConfigHashIsStableAndSensitive) {
  EXPECT_EQ(ConfigHash("moco { queue_size: 256 }"), ConfigHash("moco { queue_size: 256 }"));
  EXPECT_NE(ConfigHash("moco { queue_size: 256 }"), ConfigHash("moco { queue_size: 1024 }"));
  EXPECT_EQ(ConfigHash("").size(), 16u);
}

}  // namespace
}  // namespace moco
