#include "configs/config.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace moco {
namespace {

using ::testing::HasSubstr;

std::vector<std::string>* config_files = nullptr;

constexpr char kMinimal[] = R"pb(
  data { format: IMAGE_FOLDER root: "cifar10-jpeg" }
  moco {}
)pb";

ExperimentConfig Parse(const std::string& text) {
  absl::StatusOr<ExperimentConfig> config = ParseConfig(text, "inline.pbtxt");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : ExperimentConfig();
}

TEST(ConfigTest, EveryConfigFileParsesAndValidates) {
  ASSERT_NE(config_files, nullptr);
  ASSERT_GE(config_files->size(), 4u) << "the configs/ filegroup should hold the tier configs";
  for (const std::string& path : *config_files) {
    SCOPED_TRACE(path);
    absl::StatusOr<ExperimentConfig> config = LoadConfig(path);
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_TRUE(Validate(*config).ok()) << Validate(*config);
    EXPECT_FALSE(config->name().empty()) << "every experiment file names itself";
  }
}

TEST(ConfigTest, DefaultsArePaperValues) {
  ExperimentConfig config = Resolve(Parse(kMinimal));
  EXPECT_EQ(config.moco().queue_size(), 65536);
  EXPECT_FLOAT_EQ(config.moco().momentum(), 0.999f);
  EXPECT_TRUE(config.moco().shuffle_bn());
  EXPECT_FLOAT_EQ(config.temperature(), 0.07f);
  EXPECT_EQ(config.optim().batch_size(), 256);
  EXPECT_FLOAT_EQ(config.optim().lr(), 0.03f);
  EXPECT_FLOAT_EQ(config.optim().weight_decay(), 1e-4f);
  EXPECT_EQ(config.optim().epochs(), 200);
  EXPECT_THAT(config.optim().lr_drop_epochs(), ::testing::ElementsAre(120, 160));
  EXPECT_THAT(config.eval().linear_lr_drop_epochs(), ::testing::ElementsAre(60, 80));
  EXPECT_FLOAT_EQ(config.eval().linear_lr(), 30.0f);
  // Short schedules get one drop, never the same epoch twice (3 epochs: 0.6 and 0.8 both round to 2).
  ExperimentConfig short_linear = Parse(kMinimal);
  short_linear.mutable_eval()->set_linear_epochs(3);
  EXPECT_THAT(Resolve(short_linear).eval().linear_lr_drop_epochs(), ::testing::ElementsAre(2));
  EXPECT_EQ(config.model().depth(), 50);
  EXPECT_EQ(config.model().feature_dim(), 128);
  // Resolve writes defaults out, so the printed text carries them.
  EXPECT_THAT(ToText(config), HasSubstr("queue_size: 65536"));
  EXPECT_TRUE(Validate(config).ok());
}

TEST(ConfigTest, ResolveKeepsUnsetOneofMembersUnset) {
  ExperimentConfig config = Resolve(Parse(kMinimal));
  EXPECT_EQ(config.mechanism_case(), ExperimentConfig::kMoco);
  EXPECT_FALSE(config.has_memory_bank());
}

TEST(ConfigTest, UnknownFieldNamesFileLineAndField) {
  absl::StatusOr<ExperimentConfig> config =
      ParseConfig("data { root: \"x\" }\nmoco { queue_sz: 4096 }\n", "configs/bad.pbtxt");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("configs/bad.pbtxt:2:"));
  EXPECT_THAT(config.status().message(), HasSubstr("queue_sz"));
}

TEST(ConfigTest, MissingFileIsNotFound) {
  absl::StatusOr<ExperimentConfig> config = LoadConfig("/nonexistent/experiment.pbtxt");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(config.status().message(), HasSubstr("/nonexistent/experiment.pbtxt"));
}

TEST(ConfigTest, OverridesMergeAndTheirErrorsNameTheFlag) {
  ExperimentConfig config = Parse(kMinimal);
  ASSERT_TRUE(MergeOverrides("", &config).ok());
  EXPECT_FALSE(config.moco().has_queue_size());
  ASSERT_TRUE(MergeOverrides("moco { queue_size: 1024 } optim { epochs: 5 }", &config).ok());
  EXPECT_EQ(config.moco().queue_size(), 1024);
  EXPECT_EQ(config.optim().epochs(), 5);
  EXPECT_EQ(config.data().root(), "cifar10-jpeg") << "fields not overridden stay";

  absl::Status bad = MergeOverrides("optim { epoch: 5 }", &config);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("--set:1:"));
  EXPECT_THAT(bad.message(), HasSubstr("epoch"));
  EXPECT_EQ(config.optim().epochs(), 5) << "a failed merge changes nothing";
}

TEST(ConfigTest, QueueNotDivisibleByBatchNamesField) {
  ExperimentConfig config = Parse(kMinimal);
  config.mutable_moco()->set_queue_size(1000);
  config.mutable_optim()->set_batch_size(256);
  absl::Status status = Validate(config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("moco.queue_size"));
  EXPECT_THAT(status.message(), HasSubstr("1000"));
}

TEST(ConfigTest, BatchNotDivisibleByWorldSize) {
  ExperimentConfig config = Parse(kMinimal);
  config.mutable_optim()->set_batch_size(256);
  EXPECT_TRUE(Validate(config, 4).ok());
  EXPECT_THAT(Validate(config, 3).message(), HasSubstr("optim.batch_size"));
}

TEST(ConfigTest, RangeChecksNameTheirFields) {
  struct Case {
    std::string text;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"model { depth: 20 }", "model.depth"},
      {"model { width_multiplier: 0 }", "model.width_multiplier"},
      {"moco { momentum: 1.5 }", "moco.momentum"},
      {"model { bn_splits: 3 }", "model.bn_splits"},
      {"temperature: 0", "temperature"},
      {"optim { lr: -1 }", "optim.lr"},
      {"optim { epochs: 10 lr_drop_epochs: 12 }", "optim.lr_drop_epochs"},
      {"optim { schedule: COSINE lr_drop_epochs: 5 }", "optim.lr_drop_epochs"},
      {"optim { warmup_epochs: 200 }", "optim.warmup_epochs"},
      {"eval { knn_k: 0 }", "eval.knn_k"},
      {"data { image_size: 4 }", "data.image_size"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    ExperimentConfig config = Parse(kMinimal);
    config.MergeFrom(Parse(c.text));
    absl::Status status = Validate(config);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr(c.field));
  }
}

TEST(ConfigTest, MechanismIsRequired) {
  ExperimentConfig config = Parse("data { format: IMAGE_FOLDER root: \"x\" }");
  EXPECT_THAT(Validate(config).message(), HasSubstr("mechanism"));
}

TEST(ConfigTest, MemoryBankMomentumMustBeBelowOne) {
  ExperimentConfig config = Parse("data { root: \"x\" } memory_bank { bank_momentum: 1 }");
  EXPECT_THAT(Validate(config).message(), HasSubstr("memory_bank.bank_momentum"));
}

TEST(ConfigTest, PrecisionIsPartOfTheIdentityAndAutoIsTheDefault) {
  const ExperimentConfig plain = Parse(kMinimal);
  ExperimentConfig automatic = plain, fp32 = plain, bf16 = plain;
  automatic.mutable_run()->set_precision(config::RunConfig::PRECISION_AUTO);
  fp32.mutable_run()->set_precision(config::RunConfig::FP32);
  bf16.mutable_run()->set_precision(config::RunConfig::BF16);
  // Records written before the field existed keep their identity: the default is left out.
  EXPECT_EQ(ConfigIdentity(automatic), ConfigIdentity(plain));
  EXPECT_THAT(ConfigIdentity(bf16), HasSubstr("precision: BF16"));
  EXPECT_NE(ConfigIdentity(bf16), ConfigIdentity(plain));
  EXPECT_NE(ConfigIdentity(bf16), ConfigIdentity(fp32));
  // Settings that do not change the result stay out of it.
  ExperimentConfig threads = bf16;
  threads.mutable_run()->set_threads(7);
  EXPECT_EQ(ConfigIdentity(threads), ConfigIdentity(bf16));

  ExperimentConfig unset = plain;
  unset.mutable_run()->set_precision(config::RunConfig::PRECISION_UNSPECIFIED);
  EXPECT_THAT(Validate(unset).message(), HasSubstr("run.precision"));
  EXPECT_TRUE(Validate(bf16).ok());
}

// Views made on the device are another distribution draw than the host's: part of the identity;
// HOST, the default, is left out so older records keep their hashes. V2's blur has no device op.
TEST(ConfigTest, AugmentOnIsPartOfTheIdentityAndRefusesV2) {
  const ExperimentConfig plain = Parse(kMinimal);
  ExperimentConfig host = plain, device = plain;
  host.mutable_data()->set_augment_on(config::DataConfig::HOST);
  device.mutable_data()->set_augment_on(config::DataConfig::DEVICE);
  EXPECT_EQ(ConfigIdentity(host), ConfigIdentity(plain));
  EXPECT_THAT(ConfigIdentity(device), HasSubstr("augment_on: DEVICE"));
  EXPECT_TRUE(Validate(device).ok());

  ExperimentConfig v2 = device;
  v2.mutable_data()->set_augmentation(config::DataConfig::V2);
  EXPECT_THAT(Validate(v2).message(), HasSubstr("data.augment_on"));
  EXPECT_THAT(Validate(v2).message(), HasSubstr("V2"));
  v2.mutable_data()->set_augment_on(config::DataConfig::HOST);
  EXPECT_TRUE(Validate(v2).ok());
  ExperimentConfig unset = plain;
  unset.mutable_data()->set_augment_on(config::DataConfig::AUGMENT_ON_UNSPECIFIED);
  EXPECT_THAT(Validate(unset).message(), HasSubstr("data.augment_on"));
}

TEST(ConfigTest, LinearLrScaling) {
  ExperimentConfig config = Parse(kMinimal);
  config.MergeFrom(Parse("optim { batch_size: 1024 lr: 0.03 }"));
  EXPECT_NEAR(ScaledLearningRate(config), 0.12, 1e-6);
}

}  // namespace
}  // namespace moco

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::vector<std::string> files(argv + 1, argv + argc);
  moco::config_files = &files;
  return RUN_ALL_TESTS();
}
