#include "configs/record.h"

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "moco/common/files.h"
#include "moco/common/subprocess.h"

namespace moco {
namespace {

// git's output with `args` in the workspace, trailing blanks cut; empty when git fails or is missing.
std::string Git(const std::string& workspace, std::vector<std::string> args) {
  args.insert(args.begin(), {"git", "-C", workspace});
  ProcessOptions options;
  options.search_path = true;
  options.capture_stderr = true;  // with stdout: a failure's message is dropped with the output
  absl::StatusOr<ProcessResult> run = RunProcess(args, options);
  if (!run.ok() || run->exit_code != 0) return "";
  std::string out = run->stdout_text;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// Whether this process runs a binary where Bazel built it (under bazel-out), not a copy made
// elsewhere: a copy may come from any commit, so the checkout's commit does not name its code.
bool RunsFromBazelOut() {
  std::error_code error;
  const std::filesystem::path exe = std::filesystem::canonical("/proc/self/exe", error);
  return error || exe.string().find("/bazel-out/") != std::string::npos;
}

}  // namespace

absl::Status WriteRecord(const std::string& path, const config::RunRecord& record) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(record, &json, options);
  if (!status.ok()) return absl::InternalError(absl::StrCat("cannot encode record for ", path, ": ", status.ToString()));
  return WriteFileAtomic(path, json);
}

absl::StatusOr<config::RunRecord> ReadRecord(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  config::RunRecord record;
  // A record written by a newer binary may carry fields this one does not know; they are left
  // out, not refused, so a sweep started before a field was added survives records written after.
  // A run's identity is its config hash, which a field changing what ran also changes.
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  const auto status = google::protobuf::util::JsonStringToMessage(*text, &record, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a RunRecord: ", status.message().as_string()));
  }
  return record;
}

std::string ConfigHash(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return absl::StrFormat("%016x", h);
}

std::string GitCommit() {
  if (const char* pinned = std::getenv("MOCO_GIT_COMMIT"); pinned != nullptr && *pinned != '\0') return pinned;
  const char* env = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  const std::string workspace = env != nullptr ? env : ".";
  std::string commit = Git(workspace, {"rev-parse", "--short", "HEAD"});
  if (commit.empty()) return "unknown";
  // reports/ holds results (records, reports a running sweep rewrites), not code.
  if (!Git(workspace, {"status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)reports"}).empty()) {
    commit += "+dirty";
  }
  if (!RunsFromBazelOut()) commit += "+copy";
  return commit;
}

void PinGitCommit() {
  if (std::getenv("MOCO_GIT_COMMIT") != nullptr) return;
  const std::string commit = GitCommit();
  if (absl::EndsWith(commit, "+copy")) {
    std::cerr << "note: this binary is a copy outside Bazel's output tree, so the checkout's commit need not be "
                 "its code's: its records name "
              << commit << "; set MOCO_GIT_COMMIT to the commit it was built from to name that instead\n";
  }
  setenv("MOCO_GIT_COMMIT", commit.c_str(), /*overwrite=*/0);
}

void FillProvenance(config::RunRecord* record) {
  record->set_git_commit(GitCommit());
  char name[256] = {0};
  record->set_hostname(gethostname(name, sizeof(name) - 1) == 0 ? name : "unknown");
  record->set_finished_at(absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone()));
}

}  // namespace moco
