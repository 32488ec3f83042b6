#include "eval/encoder_io.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include <fstream>
#include <iostream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "configs/config.h"
#include "moco/train/checkpoint.h"
#include "tests/python_reference.h"

namespace moco {
namespace {

void RunPython(const std::string& args) { moco::RunPython("eval/encoder_io_test.py", args); }

at::Tensor Entry(const c10::IValue& dict, const std::string& key) {
  return dict.toGenericDict().at(c10::IValue(key)).toTensor();
}

// Max |a - b| relative to max |b| (or absolute when |b| < 1).
void ExpectClose(const at::Tensor& a, const at::Tensor& b, double tolerance) {
  ASSERT_EQ(a.sizes(), b.sizes());
  ASSERT_GT(b.abs().max().item<double>(), 0.1) << "the reference features are all close to zero";
  const double scale = std::max(1.0, b.abs().max().item<double>());
  const double error = (a - b).abs().max().item<double>() / scale;
  EXPECT_LE(error, tolerance) << "max |difference| " << error * scale << " at scale " << scale;
  std::cout << "max |difference| / max(1, max |reference|): " << error << "\n";
}

// Eval-mode BN far from the identity, so that a misplaced statistic changes the features.
void RandomizeBatchNorm(ResNetImpl& encoder) {
  torch::NoGradGuard no_grad;
  for (auto& b : encoder.named_buffers()) {
    if (absl::EndsWith(b.key(), "running_mean")) b.value().uniform_(-0.5, 0.5);
    if (absl::EndsWith(b.key(), "running_var")) b.value().uniform_(0.5, 2.0);
  }
  for (auto& p : encoder.named_parameters()) {
    if (p.value().dim() != 1 || absl::StartsWith(p.key(), "fc")) continue;  // BN affine parameters
    if (absl::EndsWith(p.key(), "weight")) p.value().uniform_(0.5, 1.5);
    if (absl::EndsWith(p.key(), "bias")) p.value().uniform_(-0.3, 0.3);
  }
}

at::Tensor Features(ResNet& encoder, const at::Tensor& x) {
  torch::NoGradGuard no_grad;
  encoder->eval();
  return encoder->features(x);
}

config::ModelConfig Model(int depth, double width = 1.0, bool cifar_stem = false) {
  config::ModelConfig model;
  model.set_depth(depth);
  model.set_width_multiplier(static_cast<float>(width));
  model.set_stem(cifar_stem ? config::ModelConfig::CIFAR : config::ModelConfig::IMAGENET);
  return model;
}

TEST(ExportTorchvisionTest, TorchvisionResNet18LoadsItAndComputesTheSameFeatures) {
  torch::manual_seed(1);
  ResNet encoder(ResNetOptions(18));
  RandomizeBatchNorm(*encoder);
  const at::Tensor x = at::randn({2, 3, 64, 64});
  const std::string weights = TempPath("r18.pth"), input = TempPath("input.pth"), out = TempPath("features.pth");
  ASSERT_TRUE(ExportTorchvision(encoder, weights).ok());
  ASSERT_TRUE(WriteTensorDict(input, {{"input", x}}).ok());
  ASSERT_NO_FATAL_FAILURE(RunPython(absl::StrCat("torchvision_features --arch resnet18 --weights ", weights,
                                                 " --input ", input, " --out ", out)));
  absl::StatusOr<c10::IValue> reference = ReadTorchFile(out);
  ASSERT_TRUE(reference.ok()) << reference.status();
  ExpectClose(Features(encoder, x), Entry(*reference, "features"), 1e-5);
}

// Official MoCo checkpoints: module.encoder_q.* (+ encoder_k, queue) with epoch, arch, optimizer.
void CheckMocoCheckpoint(bool legacy, bool mlp) {
  const std::string file = TempPath(legacy ? "moco_legacy.pth.tar" : "moco.pth.tar"), ref = TempPath("moco_ref.pth");
  ASSERT_NO_FATAL_FAILURE(RunPython(absl::StrCat("moco_checkpoint --out ", file, " --ref ", ref,
                                                 legacy ? " --legacy" : "", " --head ", mlp ? "mlp" : "linear")));

  // The whole file, optimizer included, reads as plain values.
  absl::StatusOr<c10::IValue> root = ReadTorchFile(file);
  ASSERT_TRUE(root.ok()) << root.status();
  auto dict = root->toGenericDict();
  EXPECT_EQ(dict.at(c10::IValue(std::string("epoch"))).toInt(), 200);
  EXPECT_EQ(dict.at(c10::IValue(std::string("arch"))).toStringRef(), "resnet18");
  auto optimizer = dict.at(c10::IValue(std::string("optimizer"))).toGenericDict();
  auto group = optimizer.at(c10::IValue(std::string("param_groups"))).toListRef()[0].toGenericDict();
  EXPECT_DOUBLE_EQ(group.at(c10::IValue(std::string("lr"))).toDouble(), 0.03);
  EXPECT_DOUBLE_EQ(group.at(c10::IValue(std::string("momentum"))).toDouble(), 0.9);
  EXPECT_DOUBLE_EQ(group.at(c10::IValue(std::string("weight_decay"))).toDouble(), 1e-4);
  EXPECT_FALSE(group.at(c10::IValue(std::string("nesterov"))).toBool());
  EXPECT_TRUE(group.at(c10::IValue(std::string("foreach"))).isNone());
  auto state = optimizer.at(c10::IValue(std::string("state"))).toGenericDict();
  auto first = state.at(c10::IValue(int64_t{0})).toGenericDict();  // conv1.weight's momentum buffer
  EXPECT_EQ(first.at(c10::IValue(std::string("momentum_buffer"))).toTensor().sizes(), at::IntArrayRef({64, 3, 7, 7}));

  const config::ModelConfig model = Model(18);
  absl::StatusOr<ResNet> encoder = LoadEncoder(file, &model);
  ASSERT_TRUE(encoder.ok()) << encoder.status();
  EXPECT_EQ((*encoder)->options().head(), mlp ? HeadKind::kMlp : HeadKind::kLinear);
  EXPECT_EQ((*encoder)->options().out_dim(), 128);
  absl::StatusOr<c10::IValue> reference = ReadTorchFile(ref);
  ASSERT_TRUE(reference.ok()) << reference.status();
  ExpectClose(Features(*encoder, Entry(*reference, "input")), Entry(*reference, "features"), 1e-5);

  // The file's arch contradicts the config.
  const config::ModelConfig r50 = Model(50);
  absl::StatusOr<ResNet> wrong = LoadEncoder(file, &r50);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("resnet18"), std::string::npos) << wrong.status();
}

TEST(LoadEncoderTest, ReadsAnOfficialMocoCheckpoint) { CheckMocoCheckpoint(/*legacy=*/false, /*mlp=*/false); }

TEST(LoadEncoderTest, ReadsALegacyFormatMocoV2Checkpoint) { CheckMocoCheckpoint(/*legacy=*/true, /*mlp=*/true); }

TEST(LoadEncoderTest, ReadsATorchvisionResNet50StateDict) {
  const std::string file = TempPath("r50.pth"), ref = TempPath("r50_ref.pth");
  ASSERT_NO_FATAL_FAILURE(RunPython(absl::StrCat("state_dict --arch resnet50 --out ", file, " --ref ", ref)));
  const config::ModelConfig model = Model(50);
  absl::StatusOr<ResNet> encoder = LoadEncoder(file, &model);
  ASSERT_TRUE(encoder.ok()) << encoder.status();
  EXPECT_EQ((*encoder)->options().out_dim(), 1000);
  absl::StatusOr<c10::IValue> reference = ReadTorchFile(ref);
  ASSERT_TRUE(reference.ok()) << reference.status();
  ExpectClose(Features(*encoder, Entry(*reference, "input")), Entry(*reference, "features"), 1e-5);

  // A ResNet-18 config for ResNet-50 weights: the first tensor that differs is named.
  const config::ModelConfig r18 = Model(18);
  absl::StatusOr<ResNet> wrong = LoadEncoder(file, &r18);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find(file), std::string::npos) << wrong.status();
  EXPECT_NE(wrong.status().message().find("ResNet-18"), std::string::npos) << wrong.status();
}

// A small exported state dict, edited one entry at a time.
class BrokenStateDictTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(4);
    ResNet encoder(ResNetOptions(18).width_multiplier(0.25).cifar_stem(true));
    const std::string path = TempPath("small.pth");
    ASSERT_TRUE(ExportTorchvision(encoder, path).ok());
    absl::StatusOr<c10::IValue> dict = ReadTorchFile(path);
    ASSERT_TRUE(dict.ok()) << dict.status();
    for (const auto& entry : dict->toGenericDict()) {
      entries_.emplace_back(entry.key().toStringRef(), entry.value().toTensor());
    }
    ASSERT_FALSE(entries_.empty());
  }

  // Writes the entries and loads them as a width-0.25 CIFAR ResNet-18; returns the error.
  absl::Status Load(const std::string& name) {
    const std::string path = TempPath(name);
    if (!WriteTensorDict(path, entries_).ok()) return absl::InternalError("write failed");
    const config::ModelConfig model = Model(18, 0.25, /*cifar_stem=*/true);
    return LoadEncoder(path, &model).status();
  }

  std::vector<std::pair<std::string, at::Tensor>> entries_;
};

TEST_F(BrokenStateDictTest, LoadsUnchanged) { EXPECT_TRUE(Load("unchanged.pth").ok()); }

TEST_F(BrokenStateDictTest, MisShapedTensorNamesKeyShapesAndFile) {
  for (auto& [key, tensor] : entries_) {
    if (key == "layer1.0.conv1.weight") tensor = at::zeros({16, 16, 5, 5});
  }
  const absl::Status status = Load("misshaped.pth");
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  const std::string message(status.message());
  EXPECT_NE(message.find("layer1.0.conv1.weight"), std::string::npos) << message;
  EXPECT_NE(message.find("[16, 16, 5, 5]"), std::string::npos) << message;
  EXPECT_NE(message.find("[16, 16, 3, 3]"), std::string::npos) << message;
  EXPECT_NE(message.find(TempPath("misshaped.pth")), std::string::npos) << message;
}

TEST_F(BrokenStateDictTest, UnknownKeyIsNamed) {
  entries_.emplace_back("layer5.0.conv1.weight", at::zeros({3}));
  const absl::Status status = Load("unknown.pth");
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("layer5.0.conv1.weight"), std::string::npos) << status;
  EXPECT_NE(status.message().find(TempPath("unknown.pth")), std::string::npos) << status;
}

TEST_F(BrokenStateDictTest, MissingBackboneKeyIsNamed) {
  std::vector<std::pair<std::string, at::Tensor>> kept;
  for (auto& entry : entries_) {
    if (entry.first != "layer2.0.bn1.running_var") kept.push_back(entry);
  }
  entries_ = kept;
  const absl::Status status = Load("missing.pth");
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("layer2.0.bn1.running_var"), std::string::npos) << status;
}

TEST(LoadEncoderTest, PythonFileWithoutAConfigAsksForOne) {
  torch::manual_seed(5);
  const std::string path = TempPath("no_hint.pth");
  ASSERT_TRUE(ExportTorchvision(ResNet(ResNetOptions(18).width_multiplier(0.25)), path).ok());
  const absl::Status status = LoadEncoder(path, nullptr).status();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("--config"), std::string::npos) << status;
}

TEST(LoadEncoderTest, MissingAndCorruptFilesAreNamed) {
  EXPECT_EQ(LoadEncoder(TempPath("nothing_here.pth"), nullptr).status().code(), absl::StatusCode::kNotFound);
  const std::string garbage = TempPath("garbage.pth");
  std::ofstream(garbage) << "this is not a checkpoint";
  const config::ModelConfig model = Model(18);
  const absl::Status status = LoadEncoder(garbage, &model).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(status.message().find(garbage), std::string::npos) << status;
}

// A pretrainer checkpoint: the query encoder comes back with the config's architecture.
TEST(LoadEncoderTest, ReadsThePretrainersCheckpoint) {
  absl::StatusOr<ExperimentConfig> config = ParseConfig(
      "model { depth: 18 width_multiplier: 0.25 stem: CIFAR head: MLP feature_dim: 64 } moco { queue_size: 256 }",
      "test");
  ASSERT_TRUE(config.ok()) << config.status();
  torch::manual_seed(6);
  torch::nn::Module mechanism;
  ResNet query = mechanism.register_module("encoder_q", ResNet(ResNetOptions(18).width_multiplier(0.25)
                                                                    .cifar_stem(true)
                                                                    .head(HeadKind::kMlp)
                                                                    .out_dim(64)));
  mechanism.register_module("encoder_k", ResNet(ResNetOptions(18).width_multiplier(0.25).cifar_stem(true)));
  RandomizeBatchNorm(*query);
  torch::optim::SGD sgd(mechanism.parameters(), torch::optim::SGDOptions(0.1));
  CheckpointState state;
  state.config = ToText(Resolve(*config));
  const std::string path = TempPath("checkpoint.pt");
  ASSERT_TRUE(SaveCheckpoint(path, state, mechanism, sgd).ok());
  EXPECT_TRUE(*IsPretrainerCheckpoint(path));

  absl::StatusOr<ResNet> encoder = LoadEncoder(path, nullptr);
  ASSERT_TRUE(encoder.ok()) << encoder.status();
  EXPECT_EQ((*encoder)->options().head(), HeadKind::kMlp);
  const at::Tensor x = at::randn({2, 3, 32, 32});
  ExpectClose(Features(*encoder, x), Features(query, x), 0.0);
  // And its export reads back as a dict of the same tensors.
  const std::string exported = TempPath("exported.pth");
  ASSERT_TRUE(ExportTorchvision(*encoder, exported).ok());
  EXPECT_FALSE(*IsPretrainerCheckpoint(exported));
  absl::StatusOr<c10::IValue> dict = ReadTorchFile(exported);
  ASSERT_TRUE(dict.ok()) << dict.status();
  EXPECT_TRUE(at::equal(Entry(*dict, "layer3.1.bn2.running_var"),
                        query->named_buffers()["layer3.1.bn2.running_var"]));
  EXPECT_FALSE(dict->toGenericDict().contains(c10::IValue(std::string("fc.0.weight"))));
}

}  // namespace
}  // namespace moco
