#include "moco/data/dataset.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "moco/common/paths.h"
#include "moco/data/cifar_binary_reader.h"
#include "moco/data/idx_reader.h"
#include "moco/data/image_folder.h"

namespace moco {

std::string DatasetRoot(const config::DataConfig& data) { return DataPath(data.root()); }

absl::StatusOr<LabeledImages> LoadDataset(const config::DataConfig& data, Split split, int threads) {
  const std::string root = DatasetRoot(data);
  const bool train = split == Split::kTrain;
  const int max_images = train ? data.max_train_images() : data.max_test_images();
  if (!std::filesystem::is_directory(root)) {
    return absl::NotFoundError(absl::StrCat(
        "dataset folder ", root, " (data.root \"", data.root(), "\") does not exist; tools/setup.sh installs ",
        "the datasets under ", DataDir(), " (set MOCO_DATA_DIR to use another folder)"));
  }
  absl::StatusOr<LabeledImages> images;
  switch (data.format()) {
    case config::DataConfig::FASHION_MNIST:
      images = ReadFashionMnist(root, train, max_images);
      break;
    case config::DataConfig::CIFAR10_BINARY:
      images = ReadCifar10Binary(root, train, max_images);
      break;
    case config::DataConfig::IMAGE_FOLDER: {
      ImageFolderOptions options;
      options.max_images = max_images;
      options.threads = threads;
      options.cache = data.cache() == config::DataConfig::STREAM      ? ImageCache::kStream
                      : data.cache() == config::DataConfig::IN_MEMORY ? ImageCache::kInMemory
                                                                      : ImageCache::kAuto;
      options.skip_bad_images = data.on_bad_image() == config::DataConfig::SKIP;
      if (!data.class_list().empty()) {
        absl::StatusOr<std::vector<std::string>> classes = ReadClassList(UserPath(data.class_list()));
        if (!classes.ok()) return absl::Status(classes.status().code(), absl::StrCat("data.class_list: ", classes.status().message()));
        options.classes = *std::move(classes);
      }
      const std::string& split_name = train ? data.train_split() : data.test_split();
      images = ReadImageFolder(split_name.empty() ? root : root + "/" + split_name, options);
      break;
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat("data.format: unsupported value ", data.format()));
  }
  if (!images.ok()) return images.status();
  if (images->size() == 0) {
    return absl::FailedPreconditionError(absl::StrCat("dataset ", root, ": the ", train ? "train" : "test",
                                                      " split holds no images"));
  }
  return images;
}

std::string DescribeImages(const LabeledImages& images) {
  if (images.streamed()) return "of every size, streamed";
  return absl::StrCat(images.height, "x", images.width, "x", images.channels, ", in memory");
}

}  // namespace moco
