// Result records (configs/record.proto) on disk, and the provenance every record carries.
//
//   config::RunRecord record;
//   record.set_kind("linear_fast");
//   (*record.mutable_metrics())["top1"] = 61.2;
//   FillProvenance(&record);             // commit, host, time
//   MOCO_RETURN_IF_ERROR(WriteRecord(path, record));
#ifndef MOCO_CONFIGS_RECORD_H_
#define MOCO_CONFIGS_RECORD_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "configs/record.pb.h"

namespace moco {

// Writes `record` as JSON text, atomically (a temporary file renamed over `path`); creates
// the parent folder.
absl::Status WriteRecord(const std::string& path, const config::RunRecord& record);

// Reads a record; errors name the file and, for bad JSON, what is wrong with it. Fields this
// binary does not know (written by a newer one) are ignored.
absl::StatusOr<config::RunRecord> ReadRecord(const std::string& path);

// A short, stable hash (16 hex digits, FNV-1a 64) of a config's text.
std::string ConfigHash(const std::string& text);

// The short git commit of the code this process runs: $MOCO_GIT_COMMIT when set (PinGitCommit),
// else that of the workspace `bazel run` was started from (BUILD_WORKSPACE_DIRECTORY; else the
// current folder) now, with "+dirty" when it has uncommitted changes to tracked files outside
// reports/ (results, not code), and "+copy" when the binary runs from outside Bazel's output
// tree (a copy, built from any commit); "unknown" outside a git checkout.
std::string GitCommit();

// Sets $MOCO_GIT_COMMIT to GitCommit() unless it is set: this process and the ones it starts then
// name the commit they started from, not one made while a run trained. A copied binary ("+copy")
// is told on stderr to set $MOCO_GIT_COMMIT to the commit it was built from. The binaries that
// write records call it first thing.
void PinGitCommit();

// Sets git_commit, hostname and finished_at (now, UTC).
void FillProvenance(config::RunRecord* record);

}  // namespace moco

#endif  // MOCO_CONFIGS_RECORD_H_
