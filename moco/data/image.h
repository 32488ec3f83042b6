// Images: one decoded image (Image) and a labelled dataset (LabeledImages), in memory or
// streamed from its files, the form every dataset reader in moco/data returns.
//
//   MOCO_ASSIGN_OR_RETURN(LabeledImages train, ReadFashionMnist(root, /*train=*/true, 0));
//   // train.pixels: N x H x W x C uint8, contiguous, so a batch is one slice of it.
//   Image first = train.ImageAt(0);
//   int label = train.labels[0];  // class_names[label] names it
#ifndef MOCO_DATA_IMAGE_H_
#define MOCO_DATA_IMAGE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace moco {

// One image, 8 bits per channel. Pixels are HWC, row-major: pixel (y, x) channel c is at
// pixels[(y * width + x) * channels + c]. Decoded JPEG and PNG files are always RGB
// (channels == 3).
struct Image {
  int height = 0;
  int width = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;  // height x width x channels

  size_t num_bytes() const { return static_cast<size_t>(height) * width * channels; }
};

// The files of a streamed dataset that could not be decoded and were replaced
// (data.on_bad_image SKIP), as the loader's threads meet them.
class SkippedImages {
 public:
  void Add(const std::string& path) {
    std::lock_guard<std::mutex> lock(mutex_);
    paths_.insert(path);
  }
  std::vector<std::string> Paths() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return {paths_.begin(), paths_.end()};
  }

 private:
  mutable std::mutex mutex_;
  std::set<std::string> paths_;
};

// A labelled dataset, held one of two ways:
// - in memory: images of one size in one contiguous buffer. The small sets MoCo trains on here
//   (Fashion-MNIST, CIFAR-10) are fixed-size, so this keeps them compact (CIFAR-10 train:
//   150 MiB in one allocation instead of 50000) and lets a trainer wrap a batch of consecutive
//   images as a tensor without copying;
// - streamed: only the files are listed, each image decoded when a batch needs it (LoadImage in
//   moco/data/image_folder.h), so any size and any number of images (ImageNet) fit.
struct LabeledImages {
  int height = 0;    // in memory: every image's; streamed: 0 (each file has its own)
  int width = 0;
  int channels = 0;                      // 1 for Fashion-MNIST (grayscale), 3 for RGB
  std::vector<uint8_t> pixels;           // in memory: N x height x width x channels
  std::vector<std::string> files;        // streamed: image i is decoded from files[i]
  std::vector<int> labels;               // N, each in [0, class_names.size())
  std::vector<std::string> class_names;  // label -> name
  // False for a folder of images without class folders: one unlabeled set (every label 0),
  // for pretraining only.
  bool labeled = true;
  // Streamed: an image that cannot be decoded is replaced (LoadImage) and listed here, instead
  // of stopping the run.
  bool skip_bad_images = false;
  std::shared_ptr<SkippedImages> skipped = std::make_shared<SkippedImages>();

  bool streamed() const { return !files.empty(); }
  int size() const { return static_cast<int>(labels.size()); }
  size_t image_bytes() const { return static_cast<size_t>(height) * width * channels; }
  // In memory: start of image `i`'s HWC pixels.
  const uint8_t* image_data(int i) const { return pixels.data() + i * image_bytes(); }
  // A copy of image `i`.
  Image ImageAt(int i) const {
    const uint8_t* begin = image_data(i);
    return Image{height, width, channels, std::vector<uint8_t>(begin, begin + image_bytes())};
  }
};

}  // namespace moco

#endif  // MOCO_DATA_IMAGE_H_
