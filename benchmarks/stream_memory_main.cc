// Peak resident memory of one streamed epoch against the number of files: the streaming loader
// (data.cache STREAM) must hold a few batches, not the dataset. The 1,000 ImageNet sample JPEGs are
// linked into a flat folder 1,000 and 10,000 times over (each link a file of the set, every size
// and kind the sample has), and each epoch (two V2 views at 224 px per image, batch 32, 2 batches
// prefetched) runs in a process of its own, which reports its peak RSS. Prints one JSON document.
//
//   bazel run //benchmarks:stream_memory -- --threads=2
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "moco/augment/image_batches.h"
#include "moco/common/duration.h"
#include "moco/common/paths.h"
#include "moco/common/status.h"
#include "moco/common/subprocess.h"
#include "moco/data/image_folder.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, files, "1000,10000", "Epoch sizes to measure, in files (each its own process).");
ABSL_FLAG(int, threads, 2, "Loader threads.");
ABSL_FLAG(int, batch, 32, "Batch size.");
ABSL_FLAG(std::string, folder, "", "Internal: the child's folder of links.");
ABSL_FLAG(int, child_files, 0, "Internal: run one epoch over this many files of --folder and print its figures.");

namespace moco {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;


// One epoch of the streaming loader over the first `files` links of `folder`.
absl::StatusOr<json> Epoch(const std::string& folder, int files) {
  ImageFolderOptions options;
  options.cache = ImageCache::kStream;
  options.max_images = files;
  MOCO_ASSIGN_OR_RETURN(LabeledImages data, ReadImageFolder(folder, options));
  LoaderOptions loader_options;
  loader_options.batch_size = absl::GetFlag(FLAGS_batch);
  loader_options.threads = absl::GetFlag(FLAGS_threads);
  loader_options.augment.recipe = AugmentRecipe::kV2;
  loader_options.augment.out_size = 224;
  TwoViewLoader loader(&data, loader_options);
  const auto start = std::chrono::steady_clock::now();
  loader.Start(0, 0);
  for (int64_t b = 0; b < loader.batches_per_epoch(); ++b) MOCO_RETURN_IF_ERROR(loader.Next().status());
  const double seconds = SecondsSince(start);
  return json{{"files", data.size()},
              {"batches", loader.batches_per_epoch()},
              {"seconds", seconds},
              {"images_per_second", loader.batches_per_epoch() * loader_options.batch_size / seconds},
              {"peak_rss_mib", PeakRssMib()}};
}

// A flat folder of `count` links to the sample's files, in turn.
absl::StatusOr<std::string> LinkFolder(int count) {
  MOCO_ASSIGN_OR_RETURN(ImageFolderIndex sample, ListImageFolder(DataPath("imagenet-sample/train")));
  const fs::path folder = fs::temp_directory_path() / absl::StrCat("moco_stream_memory_", getpid());
  std::error_code ec;
  fs::remove_all(folder, ec);
  fs::create_directories(folder, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", folder.string(), ": ", ec.message()));
  for (int i = 0; i < count; ++i) {
    fs::create_symlink(sample.paths[i % sample.paths.size()], folder / absl::StrFormat("%05d.JPEG", i), ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot link into ", folder.string(), ": ", ec.message()));
  }
  return folder.string();
}

int Main(const char* argv0) {
  if (absl::GetFlag(FLAGS_child_files) > 0) {
    absl::StatusOr<json> epoch = Epoch(absl::GetFlag(FLAGS_folder), absl::GetFlag(FLAGS_child_files));
    if (!epoch.ok()) {
      std::cerr << "stream_memory: error: " << epoch.status().message() << "\n";
      return 1;
    }
    std::cout << epoch->dump() << "\n";
    return 0;
  }
  std::vector<int> sizes;
  for (absl::string_view part : absl::StrSplit(absl::GetFlag(FLAGS_files), ',', absl::SkipEmpty())) {
    int n = 0;
    if (!absl::SimpleAtoi(part, &n) || n < 1) {
      std::cerr << "stream_memory: error: --files: '" << part << "' is not a positive count\n";
      return 1;
    }
    sizes.push_back(n);
  }
  absl::StatusOr<std::string> folder = LinkFolder(*std::max_element(sizes.begin(), sizes.end()));
  if (!folder.ok()) {
    std::cerr << "stream_memory: error: " << folder.status().message() << "\n";
    return 1;
  }
  json doc = {{"threads", absl::GetFlag(FLAGS_threads)}, {"batch", absl::GetFlag(FLAGS_batch)}, {"runs", json::array()}};
  int status = 0;
  for (int n : sizes) {
    absl::StatusOr<ProcessResult> run = RunProcess(
        {fs::canonical("/proc/self/exe").string(), absl::StrCat("--folder=", *folder), absl::StrCat("--child_files=", n),
         absl::StrCat("--threads=", absl::GetFlag(FLAGS_threads)), absl::StrCat("--batch=", absl::GetFlag(FLAGS_batch))},
        ProcessOptions());
    if (!run.ok() || run->exit_code != 0) {
      doc["runs"].push_back({{"files", n}, {"error", run.ok() ? absl::StrCat("exit ", run->exit_code)
                                                               : std::string(run.status().message())}});
      status = 1;
      continue;
    }
    doc["runs"].push_back(json::parse(run->stdout_text));
    std::cerr << "stream_memory: " << n << " files: " << doc["runs"].back().dump() << "\n";
  }
  std::error_code ec;
  fs::remove_all(*folder, ec);
  std::cout << doc.dump(2) << "\n";
  return status;
}

}  // namespace
}  // namespace moco

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Peak RSS of one streamed epoch over 1,000 and 10,000 files (the ImageNet sample linked in turn).\n"
      "Usage: stream_memory [--files=1000,10000] [--threads=N] [--batch=N]");
  absl::ParseCommandLine(argc, argv);
  return moco::Main(argv[0]);
}
