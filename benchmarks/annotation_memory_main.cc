// Peak resident memory and time of reading a COCO-size instances file: detection reads its
// annotations up front (images are decoded when a batch needs them; masks are dropped as they are
// parsed), so the annotation file is what a COCO run holds before its first iteration. Writes a synthetic file shaped like COCO's
// train2017 (118,287 images, 860,001 annotations over 80 categories with ids 1..90, each with a
// bbox, area, iscrowd and a 40-number polygon segmentation: about COCO's 448 MB), then parses it
// in a process of its own and prints one JSON document.
//
//   bazel run //benchmarks:annotation_memory                  # train2017's size
//   bazel run //benchmarks:annotation_memory -- --images=5000 # val2017's
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "eval/detection/annotations.h"
#include "moco/common/duration.h"
#include "moco/common/files.h"
#include "moco/common/subprocess.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(int, images, 118287, "Images in the synthetic file (COCO train2017: 118,287).");
ABSL_FLAG(int, annotations, 860001, "Annotations in it (COCO train2017: 860,001).");
ABSL_FLAG(std::string, file, "", "Internal: the child parses this file and prints its figures.");

namespace moco {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;


// The id of category k of 80, spread over 1..90 with gaps as COCO's are.
int CategoryId(int k) { return 1 + k * 90 / 80; }

// Writes the synthetic file, streaming it (never the whole document in memory).
absl::Status WriteSynthetic(const std::string& path, int images, int annotations) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  std::mt19937_64 rng(2017);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  out << "{\"info\": {\"description\": \"synthetic, COCO train2017's shape (benchmarks/annotation_memory)\"}, ";
  out << "\"images\": [";
  for (int i = 0; i < images; ++i) {
    out << (i ? ", " : "") << absl::StrFormat(R"({"id": %d, "file_name": "%012d.jpg", "width": 640, "height": 480})",
                                              i + 1, i + 1);
  }
  out << "], \"annotations\": [";
  for (int a = 0; a < annotations; ++a) {
    const double x = unit(rng) * 500, y = unit(rng) * 370, w = 10 + unit(rng) * 130, h = 10 + unit(rng) * 100;
    std::string polygon;
    for (int p = 0; p < 20; ++p) {
      absl::StrAppend(&polygon, p ? ", " : "", absl::StrFormat("%.2f, %.2f", x + unit(rng) * w, y + unit(rng) * h));
    }
    const int category = CategoryId(static_cast<int>(unit(rng) * 80));
    out << (a ? ", " : "")
        << absl::StrFormat(
               R"({"id": %d, "image_id": %d, "category_id": %d, "bbox": [%.2f, %.2f, %.2f, %.2f], "area": %.2f, )"
               R"("iscrowd": 0, "segmentation": [[%s]]})",
               a + 1, 1 + a % images, category, x, y, w, h, w * h, polygon);
  }
  out << "], \"categories\": [";
  for (int k = 0; k < 80; ++k) {
    out << (k ? ", " : "") << absl::StrFormat(R"({"id": %d, "name": "class%d", "supercategory": "s"})", CategoryId(k), k);
  }
  out << "]}\n";
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat(path, ": cannot write"));
  return absl::OkStatus();
}

int Child(const std::string& path) {
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    std::cerr << "annotation_memory: " << text.status().message() << "\n";
    return 1;
  }
  const size_t bytes = text->size();
  absl::StatusOr<DetectionDataset> data = ParseCocoJson(*text, path, "");
  if (!data.ok()) {
    std::cerr << "annotation_memory: " << data.status().message() << "\n";
    return 1;
  }
  text->clear();
  text->shrink_to_fit();
  size_t boxes = 0;
  for (const DetectionImage& image : data->images) boxes += image.boxes.size();
  std::cout << json{{"file_mib", bytes / 1048576.0},
                    {"images", data->images.size()},
                    {"boxes", boxes},
                    {"classes", data->class_names.size()},
                    {"seconds", SecondsSince(start)},
                    {"peak_rss_mib", PeakRssMib()}}
                   .dump()
            << "\n";
  return 0;
}

int Main() {
  if (!absl::GetFlag(FLAGS_file).empty()) return Child(absl::GetFlag(FLAGS_file));
  const std::string path = (fs::temp_directory_path() / absl::StrCat("moco_annotation_memory_", getpid(), ".json")).string();
  const auto start = std::chrono::steady_clock::now();
  if (absl::Status written = WriteSynthetic(path, absl::GetFlag(FLAGS_images), absl::GetFlag(FLAGS_annotations));
      !written.ok()) {
    std::cerr << "annotation_memory: " << written.message() << "\n";
    return 1;
  }
  std::cerr << absl::StrFormat("annotation_memory: wrote %s (%.0f MiB) in %.0f s; parsing it in a process of its own\n",
                               path, fs::file_size(path) / 1048576.0, SecondsSince(start));
  absl::StatusOr<ProcessResult> run =
      RunProcess({fs::canonical("/proc/self/exe").string(), absl::StrCat("--file=", path)}, ProcessOptions());
  std::error_code ec;
  fs::remove(path, ec);
  if (!run.ok() || run->exit_code != 0) {
    std::cerr << "annotation_memory: the parse failed: "
              << (run.ok() ? absl::StrCat("exit ", run->exit_code) : std::string(run.status().message())) << "\n";
    return 1;
  }
  std::cout << run->stdout_text;
  return 0;
}

}  // namespace
}  // namespace moco

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Peak RSS and time of parsing a COCO-train2017-size instances JSON (synthetic, written first).\n"
      "Usage: annotation_memory [--images=N] [--annotations=N]");
  absl::ParseCommandLine(argc, argv);
  return moco::Main();
}
