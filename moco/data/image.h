// In-memory images: one decoded image (Image) and a labelled dataset of same-sized images
// (LabeledImages), the form every dataset reader in moco/data returns.
//
//   MOCO_ASSIGN_OR_RETURN(LabeledImages train, ReadFashionMnist(root, /*train=*/true, 0));
//   // train.pixels: N x H x W x C uint8, contiguous, so a batch is one slice of it.
//   Image first = train.ImageAt(0);
//   int label = train.labels[0];  // class_names[label] names it
#ifndef MOCO_DATA_IMAGE_H_
#define MOCO_DATA_IMAGE_H_

#include <cstddef>
#include <cstdint>
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

// A labelled dataset whose images all have one size. The datasets MoCo trains and evaluates
// on here (Fashion-MNIST, CIFAR-10) are fixed-size, so one contiguous buffer keeps them
// compact (CIFAR-10 train: 150 MiB in one allocation instead of 50000) and lets a trainer
// wrap a batch of consecutive images as a tensor without copying.
struct LabeledImages {
  int height = 0;
  int width = 0;
  int channels = 0;                      // 1 for Fashion-MNIST (grayscale), 3 for RGB
  std::vector<uint8_t> pixels;           // N x height x width x channels
  std::vector<int> labels;               // N, each in [0, class_names.size())
  std::vector<std::string> class_names;  // label -> name

  int size() const { return static_cast<int>(labels.size()); }
  size_t image_bytes() const { return static_cast<size_t>(height) * width * channels; }
  // Start of image `i`'s HWC pixels.
  const uint8_t* image_data(int i) const { return pixels.data() + i * image_bytes(); }
  // A copy of image `i`.
  Image ImageAt(int i) const {
    const uint8_t* begin = image_data(i);
    return Image{height, width, channels, std::vector<uint8_t>(begin, begin + image_bytes())};
  }
};

}  // namespace moco

#endif  // MOCO_DATA_IMAGE_H_
