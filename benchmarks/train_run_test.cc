#include "benchmarks/train_run.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>

#include "benchmarks/harness/plan.h"
#include "configs/config.h"
#include "configs/record.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "google/protobuf/text_format.h"

namespace moco {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// One tiny run of a sweep (Fashion-MNIST, 256 images, 2 epochs of 8 steps).
PlannedRun TinyPlannedRun(const std::string& dir) {
  config::TableConfig table;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
    table: "queue_size"
    tier: SMOKE
    base {
      data { format: FASHION_MNIST root: "/usr/share/datasets/fashion-mnist" image_size: 28
             augmentation: CIFAR max_train_images: 256 max_test_images: 128 loader_threads: 1 }
      model { depth: 18 width_multiplier: 0.125 stem: CIFAR bn_splits: 2 }
      temperature: 0.1
      optim { batch_size: 32 lr_reference_batch: 32 epochs: 2 lr: 0.06 schedule: COSINE weight_decay: 5e-4 }
      eval { knn_k: 20 knn_every_epochs: 0 }
      run { threads: 1 }
    }
    series { label: "MoCo" id: "moco" axis: "moco { queue_size: $ }" values: [64] }
    seeds: [3]
  )pb", &table));
  absl::StatusOr<std::vector<PlannedRun>> runs = PlanTable(table, dir + "/records", dir + "/runs");
  EXPECT_TRUE(runs.ok()) << runs.status();
  return runs.ok() ? runs->front() : PlannedRun();
}

std::string FreshDir(const std::string& name) {
  const fs::path dir = fs::path(testing::TempDir()) / name;
  fs::remove_all(dir);
  fs::create_directories(dir / "records");
  return dir.string();
}

// A truncated checkpoint in the run's folder is no result: the sweep stops naming the file, and
// no record appears (it used to be recorded as a diverged run, loss NaN, which the reports show).
TEST(TrainRunTest, ATruncatedCheckpointStopsTheSweepNamingItAndWritesNoRecord) {
  const std::string dir = FreshDir("truncated_checkpoint");
  PlannedRun run = TinyPlannedRun(dir);
  run.config.mutable_run()->set_max_steps(4);  // a checkpoint mid-epoch, as a killed sweep leaves
  ASSERT_FALSE(TrainPlannedRun(run, 1, true).ok());  // stopped before its last epoch: no record
  ASSERT_FALSE(fs::exists(run.record_path));
  const std::string checkpoint = run.config.run().output_dir() + "/checkpoint.pt";
  ASSERT_TRUE(fs::exists(checkpoint));
  std::string bytes;
  {
    std::ifstream in(checkpoint, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::ofstream(checkpoint, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);

  run.config.mutable_run()->clear_max_steps();
  const absl::Status status = TrainPlannedRun(run, 1, true);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr(checkpoint));
  EXPECT_FALSE(fs::exists(run.record_path)) << "a broken checkpoint was recorded as a result";
}

// A run whose loss turns non-finite is an outcome: its record says diverged, with the trainer's
// provenance, and the sweep goes on.
TEST(TrainRunTest, ADivergedRunIsRecordedAsDiverged) {
  const std::string dir = FreshDir("diverged");
  PlannedRun run = TinyPlannedRun(dir);
  run.config.mutable_optim()->set_lr(1e30f);
  run.config_hash = ConfigHash(ConfigIdentity(run.config));
  const absl::Status status = TrainPlannedRun(run, 1, true);
  ASSERT_TRUE(status.ok()) << status;
  absl::StatusOr<config::RunRecord> record = ReadRecord(run.record_path);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->metrics().at("diverged"), 1);
  EXPECT_THAT(record->note(), HasSubstr("training stopped"));
  EXPECT_FALSE(record->torch_version().empty());
  EXPECT_FALSE(record->device().empty());
}

}  // namespace
}  // namespace moco
