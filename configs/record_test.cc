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

// A new git repository in the test's folder `name`, one commit: code.cc and reports/r.md.
std::string CommittedRepo(const std::string& name) {
  const std::string repo = testing::TempDir() + "/" + name;
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
    EXPECT_TRUE(run.ok() && run->exit_code == 0)
        << "git " << args[0] << ": " << (run.ok() ? run->stdout_text : run.status().ToString());
  }
  return repo;
}

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
  const std::string repo = CommittedRepo("repo");
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

// A binary copied out of Bazel's output tree may come from any commit: the commit it names from
// the checkout says "+copy". The test runs a copy of itself, which writes GitCommit() to a file.
TEST(RecordTest, ACopiedBinarysCommitSaysCopy) {
  if (const char* out = std::getenv("RECORD_TEST_COMMIT_TO")) {  // the copy
    std::ofstream(out) << GitCommit();
    return;
  }
  unsetenv("MOCO_GIT_COMMIT");
  setenv("BUILD_WORKSPACE_DIRECTORY", CommittedRepo("copy").c_str(), 1);
  const std::string in_place = GitCommit();
  ASSERT_NE(in_place, "unknown");
  EXPECT_EQ(in_place.find("+copy"), std::string::npos) << "this test runs from bazel-out";

  namespace fs = std::filesystem;
  const fs::path self = fs::canonical("/proc/self/exe");
  const fs::path copy = fs::path(testing::TempDir()) / "copied_record_test";
  fs::copy_file(self, copy, fs::copy_options::overwrite_existing);
  const std::string out = testing::TempDir() + "/copy_commit.txt";
  ProcessOptions options;
  options.capture_stderr = true;
  options.env = {{"RECORD_TEST_COMMIT_TO", out},
                 {"LD_LIBRARY_PATH", (self.parent_path().parent_path() / "_solib_k8").string()},
                 // Not the copy's: this test's own files of Bazel's test protocol.
                 {"TEST_PREMATURE_EXIT_FILE", ""},
                 {"XML_OUTPUT_FILE", ""},
                 {"GTEST_OUTPUT", ""}};
  const absl::StatusOr<ProcessResult> run =
      RunProcess({copy.string(), "--gtest_filter=RecordTest.ACopiedBinarysCommitSaysCopy"}, options);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->exit_code, 0) << run->stdout_text;
  absl::StatusOr<std::string> commit = ReadFile(out);
  ASSERT_TRUE(commit.ok()) << commit.status();
  EXPECT_EQ(*commit, in_place + "+copy");
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
