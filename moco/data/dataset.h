// The one entry point from a config's DataConfig to a labelled dataset, in memory or streamed
// (data.cache): picks the reader for data.format, resolves data.root against the datasets
// folder, and applies the subset sizes and the class list.
//
//   MOCO_ASSIGN_OR_RETURN(LabeledImages train, LoadDataset(config.data(), Split::kTrain, 0));
#ifndef MOCO_DATA_DATASET_H_
#define MOCO_DATA_DATASET_H_

#include <string>

#include "absl/status/statusor.h"
#include "configs/experiment.pb.h"
#include "moco/data/image.h"

namespace moco {

enum class Split { kTrain, kTest };

// The folder data.root names: absolute as given, else under DataDir() (moco/common/paths.h).
std::string DatasetRoot(const config::DataConfig& data);

// Reads the split (max_train_images / max_test_images of it) with `threads` decoding threads
// (0: one per core). Errors name the dataset folder or file and say how to get the data.
absl::StatusOr<LabeledImages> LoadDataset(const config::DataConfig& data, Split split, int threads);

// How the images are held, for logs: "32x32x3, in memory" or "of every size, streamed".
std::string DescribeImages(const LabeledImages& images);

}  // namespace moco

#endif  // MOCO_DATA_DATASET_H_
