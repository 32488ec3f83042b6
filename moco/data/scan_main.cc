// Decodes every image of a config's image folders once and lists the ones that cannot be
// decoded, with progress and an ETA: the check to run before a long run on a new dataset
// (ImageNet's training set holds CMYK JPEGs and a PNG named .JPEG, which decode; a truncated
// or corrupt file would stop a run, or be replaced under data { on_bad_image: SKIP }).
//
//   bazel run //moco/data:scan -- --config=configs/paper/moco_v2_r50_imagenet.pbtxt
//   bazel run //moco/data:scan -- --root=/data/photos --threads=8
#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "configs/config.h"
#include "moco/common/duration.h"
#include "moco/common/parallel.h"
#include "moco/common/paths.h"
#include "moco/common/status.h"
#include "moco/data/dataset.h"
#include "moco/data/decode.h"

ABSL_FLAG(std::string, config, "", "Experiment config whose data section names the folders (train and test split).");
ABSL_FLAG(std::string, set, "", "Text-format overrides merged over the config, e.g. 'data { root: \"/data/imagenet\" }'.");
ABSL_FLAG(std::string, root, "", "Instead of --config: one folder (with class folders, or of images).");
ABSL_FLAG(int, threads, 0, "Decoding threads (0: one per core).");
ABSL_FLAG(int, list, 50, "List at most this many bad files (all are counted).");

namespace moco {
namespace {

using Clock = std::chrono::steady_clock;

struct Split {
  std::string name;
  std::vector<std::string> files;
};

absl::StatusOr<std::vector<Split>> SplitsToScan() {
  config::DataConfig data;
  if (!absl::GetFlag(FLAGS_root).empty()) {
    data.set_format(config::DataConfig::IMAGE_FOLDER);
    data.set_root(UserPath(absl::GetFlag(FLAGS_root)));
    data.set_train_split("");
  } else {
    if (absl::GetFlag(FLAGS_config).empty()) return absl::InvalidArgumentError("give --config or --root");
    MOCO_ASSIGN_OR_RETURN(ExperimentConfig config,
                          LoadExperiment(UserPath(absl::GetFlag(FLAGS_config)), absl::GetFlag(FLAGS_set)));
    data = Resolve(config).data();
    if (data.format() != config::DataConfig::IMAGE_FOLDER) {
      return absl::InvalidArgumentError("data.format: the scan reads image folders (IMAGE_FOLDER)");
    }
  }
  data.set_cache(config::DataConfig::STREAM);  // list only: the scan decodes each file itself
  std::vector<Split> splits;
  MOCO_ASSIGN_OR_RETURN(LabeledImages train, LoadDataset(data, moco::Split::kTrain, 1));
  splits.push_back({data.train_split().empty() ? "(root)" : data.train_split(), std::move(train.files)});
  if (absl::GetFlag(FLAGS_root).empty() && data.test_split() != data.train_split()) {
    MOCO_ASSIGN_OR_RETURN(LabeledImages test, LoadDataset(data, moco::Split::kTest, 1));
    splits.push_back({data.test_split(), std::move(test.files)});
  }
  return splits;
}

int Main() {
  absl::StatusOr<std::vector<Split>> splits = SplitsToScan();
  if (!splits.ok()) {
    std::cerr << "scan: error: " << splits.status().message() << "\n";
    return 2;
  }
  int64_t total = 0;
  for (const Split& s : *splits) total += static_cast<int64_t>(s.files.size());
  std::cout << absl::StrFormat("scan: %d files in %d split(s)\n", total, splits->size());
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> bad;  // (path, why)
  std::atomic<int64_t> done{0};
  const auto start = Clock::now();
  auto last_report = start;
  for (const Split& split : *splits) {
    ParallelFor(static_cast<int64_t>(split.files.size()), absl::GetFlag(FLAGS_threads), [&](int64_t i) {
      absl::StatusOr<Image> image = ReadImage(split.files[i]);
      const int64_t finished = ++done;
      std::lock_guard<std::mutex> lock(mutex);
      if (!image.ok()) bad.emplace_back(split.files[i], std::string(image.status().message()));
      const auto now = Clock::now();
      if (now - last_report > std::chrono::seconds(5) || finished == total) {
        last_report = now;
        const double seconds = SecondsSince(start);
        const double rate = finished / std::max(1e-9, seconds);
        std::cout << absl::StrFormat("scan: %d/%d (%.1f%%)  %.0f images/s  %d bad  ETA %s\n", finished, total,
                                     100.0 * finished / total, rate, bad.size(), ClockText((total - finished) / rate));
        std::cout.flush();
      }
    });
  }
  std::sort(bad.begin(), bad.end());
  const int list = absl::GetFlag(FLAGS_list);
  for (size_t i = 0; i < bad.size() && static_cast<int>(i) < list; ++i) {
    std::cout << "bad: " << bad[i].second << "\n";
  }
  if (static_cast<int>(bad.size()) > list) std::cout << "bad: ... and " << bad.size() - list << " more\n";
  std::cout << absl::StrFormat("scan: %d of %d files cannot be decoded%s\n", bad.size(), total,
                               bad.empty() ? "" : "; a run stops at the first (data { on_bad_image: SKIP } replaces them)");
  return bad.empty() ? 0 : 1;
}

}  // namespace
}  // namespace moco

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Decodes every image of a config's image folders once and lists those that cannot be decoded.\n"
      "Usage: scan --config=FILE [--set=TEXT] [--threads=N]   or   scan --root=DIR\n"
      "Exit status: 0 all decode, 1 some cannot, 2 the folders could not be listed.");
  absl::ParseCommandLine(argc, argv);
  return moco::Main();
}
