#include "configs/record.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "moco/common/files.h"
#include "moco/common/subprocess.h"

namespace moco {
namespace {

// PinGitCommit sets $MOCO_GIT_COMMIT from the workspace, and a pinned commit (as a sweep passes
// it to its workers) is what GitCommit and a record name, whatever the workspace says later.
TEST(RecordTest, PinSetsTheCommitAndAPinnedCommitWins) {
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

// "+dirty" means uncommitted code: results under reports/ (which a running sweep rewrites) do not count.
TEST(RecordTest, DirtyMeansCodeChangesNotReports) {
  const std::string repo = testing::TempDir() + "/repo";
  std::filesystem::remove_all(repo);
  std::filesystem::create_directories(repo + "/reports");
  std::ofstream(repo + "/code.cc") << "a\n";
  std::ofstream(repo + "/reports/r.md") << "r\n";
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"init", "-q"}, {"add", "-A"}, {"commit", "-qm", "init"}}) {
    std::vector<std::string> argv = {"git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@t"};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions options;
    options.search_path = true;
    options.capture_stderr = true;
    const absl::StatusOr<ProcessResult> run = RunProcess(argv, options);
    ASSERT_TRUE(run.ok()) << run.status();
    ASSERT_EQ(run->exit_code, 0) << "git " << args[0] << ": " << run->stdout_text;
  }
  unsetenv("MOCO_GIT_COMMIT");
  setenv("BUILD_WORKSPACE_DIRECTORY", repo.c_str(), 1);
  const std::string clean = GitCommit();
  ASSERT_NE(clean, "unknown");
  EXPECT_EQ(clean.find("+dirty"), std::string::npos);
  std::ofstream(repo + "/reports/r.md", std::ios::app) << "changed\n";
  EXPECT_EQ(GitCommit(), clean) << "a changed report is not a code change";
  std::ofstream(repo + "/code.cc", std::ios::app) << "changed\n";
  EXPECT_EQ(GitCommit(), clean + "+dirty");
}

// A record from a newer binary (a field this one lacks) reads, keeping the fields it knows;
// malformed JSON is still refused, naming the file.
TEST(RecordTest, ReadsRecordsWithFieldsFromANewerBinary) {
  const std::string path = testing::TempDir() + "/newer.json";
  ASSERT_TRUE(WriteFileAtomic(path, R"({"kind": "pretrain", "config_hash": "00ff", "field_from_the_future": 3})").ok());
  absl::StatusOr<config::RunRecord> record = ReadRecord(path);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->kind(), "pretrain");
  EXPECT_EQ(record->config_hash(), "00ff");

  ASSERT_TRUE(WriteFileAtomic(path, R"({"kind": "pretrain",)").ok());
  record = ReadRecord(path);
  ASSERT_FALSE(record.ok());
  EXPECT_NE(record.status().message().find(path), std::string::npos) << record.status();
}

TEST(RecordTest, ConfigHashIsStableAndSensitive) {
  EXPECT_EQ(ConfigHash("moco { queue_size: 256 }"), ConfigHash("moco { queue_size: 256 }"));
  EXPECT_NE(ConfigHash("moco { queue_size: 256 }"), ConfigHash("moco { queue_size: 1024 }"));
  EXPECT_EQ(ConfigHash("").size(), 16u);
}

}  // namespace
}  // namespace moco
