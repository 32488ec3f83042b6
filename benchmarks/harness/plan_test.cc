#include "benchmarks/harness/plan.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "configs/config.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "configs/record.h"

namespace moco {
namespace {

namespace fs = std::filesystem;

config::TableConfig Table(const std::string& text) {
  config::TableConfig table;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &table)) << text;
  return table;
}

// Two series over K, two seeds; the memory bank's 4096 is not valid for its data size check,
// so small values are used throughout.
const char* kTable = R"pb(
  table: "queue_size"
  tier: SMOKE
  base {
    data { format: IMAGE_FOLDER root: "cifar10-jpeg" image_size: 32 augmentation: CIFAR max_train_images: 2048 }
    model { depth: 18 width_multiplier: 0.25 stem: CIFAR bn_splits: 8 }
    moco { queue_size: 1024 momentum: 0.99 }
    optim { batch_size: 128 epochs: 2 lr: 0.06 }
  }
  series { label: "MoCo" id: "moco" axis: "moco { queue_size: $ }" values: [256, 512] published: [54.7, 56.4] }
  series {
    label: "memory bank" id: "bank" set { memory_bank {} }
    axis: "memory_bank { num_negatives: $ }" values: [256] relative_cost: 0.5
  }
  seeds: [0, 1]
  estimate_images_per_second: 100
)pb";

std::string TempDir(const std::string& name) {
  const fs::path dir = fs::path(testing::TempDir()) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

config::RunRecord RecordFor(const PlannedRun& run, double knn) {
  config::RunRecord record;
  record.set_kind("pretrain");
  record.set_name(run.name);
  record.set_config_hash(run.config_hash);
  (*record.mutable_metrics())["knn_top1"] = knn;
  (*record.mutable_metrics())["epochs"] = 2;
  (*record.mutable_metrics())["train_images"] = 2048;
  record.set_wall_seconds(40);
  return record;
}

TEST(PlanTest, ExpandsSeriesValuesAndSeedsSeedMajor) {
  const std::string dir = TempDir("expand");
  absl::StatusOr<std::vector<PlannedRun>> runs = PlanTable(Table(kTable), dir + "/records", dir + "/runs");
  ASSERT_TRUE(runs.ok()) << runs.status();
  std::vector<std::string> names;
  for (const PlannedRun& run : *runs) names.push_back(run.name);
  EXPECT_THAT(names, testing::ElementsAre("moco-256-s0", "moco-512-s0", "bank-256-s0", "moco-256-s1", "moco-512-s1",
                                          "bank-256-s1"));
  const PlannedRun& moco512 = (*runs)[1];
  EXPECT_EQ(moco512.config.moco().queue_size(), 512);
  EXPECT_FLOAT_EQ(moco512.config.moco().momentum(), 0.99f);  // from the base
  EXPECT_EQ(moco512.config.run().seed(), 0u);
  EXPECT_EQ(moco512.config.run().output_dir(), dir + "/runs/moco-512-s0");
  EXPECT_DOUBLE_EQ(moco512.published, 56.4);
  const PlannedRun& bank = (*runs)[2];
  EXPECT_TRUE(bank.config.has_memory_bank());  // the series' set replaced the base's mechanism
  EXPECT_FALSE(bank.config.has_moco());
  EXPECT_EQ(bank.config.memory_bank().num_negatives(), 256);
  EXPECT_TRUE(std::isnan(bank.published));
  EXPECT_EQ((*runs)[3].config.run().seed(), 1u);
  for (const PlannedRun& run : *runs) EXPECT_EQ(run.state, RunState::kMissing);
  // Different seeds and values give different hashes.
  EXPECT_NE((*runs)[0].config_hash, (*runs)[3].config_hash);
  EXPECT_NE((*runs)[0].config_hash, (*runs)[1].config_hash);
}

TEST(PlanTest, SkipsRunsWithARecordOfTheSameHashAndFlagsStaleOnes) {
  const std::string dir = TempDir("skip");
  const config::TableConfig table = Table(kTable);
  auto runs = PlanTable(table, dir + "/records", dir + "/runs");
  ASSERT_TRUE(runs.ok());
  // moco-256-s0 done; moco-512-s0 has a record from another config (stale).
  ASSERT_TRUE(WriteRecord((*runs)[0].record_path, RecordFor((*runs)[0], 30)).ok());
  config::RunRecord stale = RecordFor((*runs)[1], 31);
  stale.set_config_hash("0000000000000000");
  ASSERT_TRUE(WriteRecord((*runs)[1].record_path, stale).ok());
  auto again = PlanTable(table, dir + "/records", dir + "/runs");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)[0].state, RunState::kDone);
  ASSERT_TRUE((*again)[0].record.has_value());
  EXPECT_DOUBLE_EQ((*again)[0].record->metrics().at("knn_top1"), 30);
  EXPECT_EQ((*again)[1].state, RunState::kStale);
  EXPECT_EQ((*again)[2].state, RunState::kMissing);

  // A changed config (another momentum in the base) changes every hash: nothing is done.
  config::TableConfig changed = table;
  changed.mutable_base()->mutable_moco()->set_momentum(0.999f);
  auto after_change = PlanTable(changed, dir + "/records", dir + "/runs");
  ASSERT_TRUE(after_change.ok());
  EXPECT_NE((*after_change)[0].config_hash, (*runs)[0].config_hash);
  EXPECT_EQ((*after_change)[0].state, RunState::kStale);  // its name has a record of another hash
}

// One run per seed trained in pieces (the notebook table): the pieces share the run's folder,
// each continues the one before, and a piece is done only by a record that stopped where it does.
const char* kPieces = R"pb(
  table: "notebook"
  tier: SMOKE
  base {
    data { format: IMAGE_FOLDER root: "cifar10-jpeg" image_size: 32 augmentation: CIFAR max_train_images: 2048 }
    model { depth: 18 width_multiplier: 0.25 stem: CIFAR bn_splits: 8 }
    moco { queue_size: 1024 momentum: 0.99 }
    optim { batch_size: 128 epochs: 200 lr: 0.06 schedule: COSINE_NOTEBOOK }
  }
  series { label: "MoCo" id: "nb" axis: "run { stop_after_epochs: $ }" values: [2, 4] stops_of_one_run: true }
  seeds: [0, 1]
  estimate_images_per_second: 100
)pb";

TEST(PlanTest, PiecesOfOneRunShareItsFolderAndAreDoneByTheirOwnStop) {
  const std::string dir = TempDir("pieces");
  const config::TableConfig table = Table(kPieces);
  auto runs = PlanTable(table, dir + "/records", dir + "/runs");
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 4u);
  const PlannedRun &two = (*runs)[0], &four = (*runs)[1];
  EXPECT_EQ(two.name, "nb-2-s0");
  EXPECT_EQ(four.name, "nb-4-s0");
  EXPECT_EQ(two.continues, "");
  EXPECT_EQ(four.continues, "nb-2-s0");
  EXPECT_EQ((*runs)[3].continues, "nb-2-s1");
  EXPECT_EQ(two.config.run().output_dir(), dir + "/runs/nb-s0");
  EXPECT_EQ(four.config.run().output_dir(), dir + "/runs/nb-s0");
  EXPECT_EQ(four.config.run().stop_after_epochs(), 4);
  EXPECT_EQ(two.config_hash, four.config_hash);  // one run: the stop is not part of its identity
  EXPECT_NE(two.config_hash, (*runs)[2].config_hash);
  // 2 epochs each: the second piece trains from epoch 2 to 4.
  EXPECT_NEAR(EstimateSeconds(table, four, *runs), 2 * 2048 / 100.0, 1e-9);

  // The first piece's record (stopped at epoch 2) makes that piece done, not the second.
  config::RunRecord record = RecordFor(two, 30);
  (*record.mutable_metrics())["stopped_at_epoch"] = 2;
  ASSERT_TRUE(WriteRecord(two.record_path, record).ok());
  auto again = PlanTable(table, dir + "/records", dir + "/runs");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)[0].state, RunState::kDone);
  EXPECT_EQ((*again)[1].state, RunState::kMissing);
  // A record of the whole schedule (no stop) is neither piece.
  config::RunRecord whole = RecordFor(four, 50);
  ASSERT_TRUE(WriteRecord(dir + "/records/other.json", whole).ok());
  auto third = PlanTable(table, dir + "/records", dir + "/runs");
  ASSERT_TRUE(third.ok());
  EXPECT_EQ((*third)[1].state, RunState::kMissing);
}

TEST(PlanTest, PiecesNeedAnAxisThatSetsTheStopInRisingOrder) {
  const std::string dir = TempDir("pieces_refused");
  config::TableConfig table = Table(kPieces);
  table.mutable_series(0)->set_axis("moco { queue_size: $ }");
  table.mutable_series(0)->clear_values();
  table.mutable_series(0)->add_values(256);
  table.mutable_series(0)->add_values(512);
  auto runs = PlanTable(table, dir + "/records", dir + "/runs");
  ASSERT_FALSE(runs.ok());
  EXPECT_THAT(std::string(runs.status().message()), testing::HasSubstr("stops_of_one_run"));
  table = Table(kPieces);
  table.mutable_series(0)->set_values(1, 1);  // 2, then 1
  EXPECT_FALSE(PlanTable(table, dir + "/records", dir + "/runs").ok());
}

TEST(PlanTest, HashIgnoresWhereAndHowARunIsExecuted) {
  const std::string dir = TempDir("hash");
  config::TableConfig table = Table(kTable);
  auto runs = PlanTable(table, dir + "/records", dir + "/runs");
  table.mutable_base()->mutable_run()->set_threads(7);
  table.mutable_base()->mutable_run()->set_log_every_steps(3);
  table.mutable_base()->mutable_eval()->set_linear_epochs(5);  // evaluation settings of other evaluators
  auto other = PlanTable(table, dir + "/records", dir + "/elsewhere");
  ASSERT_TRUE(runs.ok() && other.ok());
  EXPECT_EQ((*runs)[0].config_hash, (*other)[0].config_hash);
  // Writing a default value out explicitly does not change the hash either.
  table.mutable_base()->mutable_moco()->set_shuffle_bn(true);
  table.mutable_base()->set_temperature(0.07f);
  auto explicit_defaults = PlanTable(table, dir + "/records", dir + "/runs");
  ASSERT_TRUE(explicit_defaults.ok());
  EXPECT_EQ((*runs)[0].config_hash, (*explicit_defaults)[0].config_hash);
  // The kNN monitor's settings change what the record reports: they count.
  table.mutable_base()->mutable_eval()->set_knn_k(20);
  auto knn = PlanTable(table, dir + "/records", dir + "/runs");
  ASSERT_TRUE(knn.ok());
  EXPECT_NE((*runs)[0].config_hash, (*knn)[0].config_hash);
}

TEST(PlanTest, RunsSharedBetweenSeriesAreDoneOnce) {
  const std::string dir = TempDir("shared");
  config::TableConfig table = Table(kTable);
  // A second series whose 1024-momentum point is the same config as moco's K = 256... made equal:
  config::Series* twin = table.add_series();
  twin->set_label("MoCo again");
  twin->set_id("twin");
  twin->set_axis("moco { queue_size: $ }");
  twin->add_values(256);
  auto runs = PlanTable(table, dir + "/records", dir + "/runs");
  ASSERT_TRUE(runs.ok());
  ASSERT_TRUE(WriteRecord((*runs)[0].record_path, RecordFor((*runs)[0], 30)).ok());
  auto again = PlanTable(table, dir + "/records", dir + "/runs");
  ASSERT_TRUE(again.ok());
  for (const PlannedRun& run : *again) {
    if (run.name == "twin-256-s0") {
      EXPECT_EQ(run.state, RunState::kDone);
      EXPECT_EQ(run.record_path, (*runs)[0].record_path);
    }
  }
}

TEST(PlanTest, ErrorsNameTheRunAndField) {
  const std::string dir = TempDir("errors");
  config::TableConfig table = Table(kTable);
  table.mutable_series(0)->set_values(1, 1000);  // not a multiple of the batch of 128
  auto runs = PlanTable(table, dir + "/records", dir + "/runs");
  ASSERT_FALSE(runs.ok());
  EXPECT_THAT(std::string(runs.status().message()), testing::HasSubstr("moco-1000-s0"));
  EXPECT_THAT(std::string(runs.status().message()), testing::HasSubstr("queue_size"));

  table = Table(kTable);
  table.mutable_series(0)->set_axis("moco { queue_sise: $ }");
  runs = PlanTable(table, dir + "/records", dir + "/runs");
  ASSERT_FALSE(runs.ok());
  EXPECT_THAT(std::string(runs.status().message()), testing::HasSubstr("queue_sise"));

  // A corrupt record is an error naming it, not a silent re-run.
  auto good = PlanTable(Table(kTable), dir + "/records", dir + "/runs");
  ASSERT_TRUE(good.ok());
  fs::create_directories(dir + "/records");
  { std::ofstream(dir + "/records/broken.json") << "{ not json"; }
  auto broken = PlanTable(Table(kTable), dir + "/records", dir + "/runs");
  ASSERT_FALSE(broken.ok());
  EXPECT_THAT(std::string(broken.status().message()), testing::HasSubstr("broken.json"));
}

TEST(PlanTest, LoadTableChecksTheFile) {
  const std::string dir = TempDir("load");
  const std::string path = dir + "/t.pbtxt";
  { std::ofstream(path) << "table: \"x\"\nseries { label: \"a\" id: \"a\" axis: \"moco { queue_size: 1 }\" values: 1 }\n"
                           "seeds: 0\n"; }
  auto table = LoadTable(path);
  ASSERT_FALSE(table.ok());
  EXPECT_THAT(std::string(table.status().message()), testing::HasSubstr("'$'"));
  { std::ofstream(path) << "table: \"x\"\nbogus: 1\n"; }
  table = LoadTable(path);
  ASSERT_FALSE(table.ok());
  EXPECT_THAT(std::string(table.status().message()), testing::HasSubstr(":2:"));
}

TEST(PlanTest, EstimatesFromTheTableThenFromMeasuredRuns) {
  const std::string dir = TempDir("estimate");
  const config::TableConfig table = Table(kTable);
  auto runs = PlanTable(table, dir + "/records", dir + "/runs");
  ASSERT_TRUE(runs.ok());
  // 2 epochs x 2048 images at 100 images/s; the bank costs half as much.
  EXPECT_NEAR(EstimateSeconds(table, (*runs)[0], *runs), 40.96, 1e-6);
  EXPECT_NEAR(EstimateSeconds(table, (*runs)[2], *runs), 20.48, 1e-6);
  ASSERT_TRUE(WriteRecord((*runs)[0].record_path, RecordFor((*runs)[0], 30)).ok());  // took 40 s
  auto again = PlanTable(table, dir + "/records", dir + "/runs");
  ASSERT_TRUE(again.ok());
  EXPECT_DOUBLE_EQ(EstimateSeconds(table, (*again)[0], *again), 40);  // measured
  EXPECT_NEAR(EstimateSeconds(table, (*again)[1], *again), 40, 1e-9);  // same series, same size
  EXPECT_NEAR(EstimateSeconds(table, (*again)[2], *again), 20, 1e-9);  // other series, scaled by cost
}

}  // namespace
}  // namespace moco
