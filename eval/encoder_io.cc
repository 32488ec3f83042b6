// The encoder mapping of encoder_io.h: the key layouts of this suite's pretrainer checkpoint
// (encoder_q.*), official MoCo (module.encoder_q.*), DataParallel (module.*) and torchvision
// state dicts onto a ResNet, with the architecture checks; the files themselves are read and
// written by torch_file.h.
//
//   MOCO_ASSIGN_OR_RETURN(ResNet encoder, LoadEncoder(path, &config.model()));
//   MOCO_RETURN_IF_ERROR(ExportTorchvision(encoder, "resnet.pth"));
#include "eval/encoder_io.h"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/utils.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "configs/config.h"
#include "moco/common/status.h"
#include "moco/contrastive/mechanism.h"
#include "moco/train/checkpoint.h"

namespace moco {
namespace {

std::string Describe(const ResNetOptions& o) {
  return absl::StrFormat("ResNet-%d (width %g, %s stem)", o.depth(), o.width_multiplier(),
                         o.cifar_stem() ? "CIFAR" : "ImageNet");
}

std::string Shape(const at::Tensor& t) { return c10::str(t.sizes()); }

// The encoder's tensors from a file, by their names inside the encoder ("conv1.weight"), with
// the keys they had in the file for error messages.
struct EncoderTensors {
  std::map<std::string, at::Tensor> tensors;
  std::map<std::string, std::string> file_keys;
  std::string prefix;  // of the encoder's keys in the file: "encoder_q.", "module.encoder_q." or ""
};

// The state dict inside a Python file and the prefix of the query encoder's keys in it.
absl::StatusOr<EncoderTensors> PythonEncoderTensors(const c10::IValue& root, const std::string& path,
                                                    const config::ModelConfig& model) {
  if (!root.isGenericDict()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": holds a ", root.tagKind(), ", not a state dict"));
  }
  c10::impl::GenericDict dict = root.toGenericDict();
  const c10::IValue state_dict_key(std::string("state_dict"));
  if (dict.contains(state_dict_key)) {  // a training checkpoint: {'epoch', 'arch', 'state_dict', 'optimizer'}
    const c10::IValue arch_key(std::string("arch"));
    if (dict.contains(arch_key) && dict.at(arch_key).isString()) {
      const std::string arch = dict.at(arch_key).toStringRef();
      if (absl::StartsWith(arch, "resnet") && arch != absl::StrCat("resnet", model.depth())) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": arch is '", arch, "' but the config says model.depth ",
                                                       model.depth()));
      }
    }
    const c10::IValue inner = dict.at(state_dict_key);
    if (!inner.isGenericDict()) return absl::InvalidArgumentError(absl::StrCat(path, ": 'state_dict' is not a dict"));
    dict = inner.toGenericDict();
  }
  bool any_module = false, all_module = dict.size() > 0;
  std::string prefix;
  for (const auto& entry : dict) {
    if (!entry.key().isString()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": a state dict key is a ", entry.key().tagKind()));
    }
    const std::string& key = entry.key().toStringRef();
    if (absl::StartsWith(key, "module.encoder_q.")) prefix = "module.encoder_q.";
    if (prefix.empty() && absl::StartsWith(key, "encoder_q.")) prefix = "encoder_q.";
    any_module |= absl::StartsWith(key, "module.");
    all_module &= absl::StartsWith(key, "module.");
  }
  if (prefix.empty() && any_module && all_module) prefix = "module.";  // a DataParallel model's state dict
  EncoderTensors out;
  out.prefix = prefix;
  for (const auto& entry : dict) {
    const std::string& key = entry.key().toStringRef();
    if (!absl::StartsWith(key, prefix)) continue;  // encoder_k, queue, ...
    if (!entry.value().isTensor()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", key, " is a ", entry.value().tagKind(), ", not a tensor"));
    }
    const std::string name = key.substr(prefix.size());
    out.tensors[name] = entry.value().toTensor();
    out.file_keys[name] = key;
  }
  if (out.tensors.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no tensors", prefix.empty() ? "" : " under " + prefix));
  }
  return out;
}

}  // namespace

absl::StatusOr<bool> IsPretrainerCheckpoint(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) return absl::NotFoundError(absl::StrCat("no file at ", path));
  char head[4] = {0};
  std::ifstream(path, std::ios::binary).read(head, 4);
  if (std::string(head, 4) != "PK\x03\x04") return false;  // a legacy torch.save file
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    // torch::serialize::OutputArchive writes a TorchScript archive; torch.save does not.
    return reader.hasRecord("constants.pkl");
  } catch (const std::exception& e) {
    std::string what = e.what();
    return absl::DataLossError(absl::StrCat("cannot read ", path, ": ", what.substr(0, what.find('\n'))));
  }
}

absl::StatusOr<ResNet> EncoderFromInit(const std::string& init, const config::ExperimentConfig& config) {
  if (init != kRandomInit) return LoadEncoder(init, &config.model());
  torch::manual_seed(config.run().seed());
  ResNet encoder(EncoderOptions(config, config.model().feature_dim()));
  encoder->eval();
  return encoder;
}

absl::StatusOr<ResNet> LoadEncoder(const std::string& path, const config::ModelConfig* model_hint) {
  MOCO_ASSIGN_OR_RETURN(const bool pretrainer, IsPretrainerCheckpoint(path));
  config::ExperimentConfig experiment;
  EncoderTensors file;
  if (pretrainer) {
    MOCO_ASSIGN_OR_RETURN(const std::string text, ReadCheckpointConfig(path));
    MOCO_ASSIGN_OR_RETURN(experiment, ParseConfig(text, path));
    MOCO_ASSIGN_OR_RETURN(auto all, ReadCheckpointTensors(path));
    file.prefix = "encoder_q.";
    for (auto& [key, tensor] : all) {
      if (!absl::StartsWith(key, "encoder_q.")) continue;
      const std::string name = key.substr(std::strlen("encoder_q."));
      file.tensors[name] = tensor;
      file.file_keys[name] = key;
    }
    if (file.tensors.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no encoder_q.* tensors"));
  } else {
    if (model_hint == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, " is a PyTorch file, which does not record the architecture: give a config whose model { depth "
                "width_multiplier stem } describes it (--config)"));
    }
    *experiment.mutable_model() = *model_hint;
    MOCO_ASSIGN_OR_RETURN(const c10::IValue root, ReadTorchFile(path));
    MOCO_ASSIGN_OR_RETURN(file, PythonEncoderTensors(root, path, experiment.model()));
  }

  // The head as the file has it: a Linear (fc.weight), the MoCo v2 MLP (fc.0, fc.2), or none.
  ResNetOptions options = EncoderOptions(experiment, experiment.model().feature_dim());
  options.bn_splits(1);
  const auto& t = file.tensors;
  bool file_has_head = true;
  if (t.count("fc.weight") && t.at("fc.weight").dim() == 2) {
    options.head(HeadKind::kLinear).out_dim(static_cast<int>(t.at("fc.weight").size(0)));
  } else if (t.count("fc.0.weight") && t.count("fc.2.weight") && t.at("fc.2.weight").dim() == 2) {
    options.head(HeadKind::kMlp).out_dim(static_cast<int>(t.at("fc.2.weight").size(0)));
  } else {
    file_has_head = false;
  }
  ResNet encoder(options);

  std::set<std::string> used;
  auto load = [&](const std::string& name, at::Tensor& target) -> absl::Status {
    auto it = file.tensors.find(name);
    if (it == file.tensors.end()) {
      if (absl::StartsWith(name, "fc.") && !file_has_head) return absl::OkStatus();
      // Absent from files of PyTorch < 0.4.1, and unused in evaluation.
      if (absl::EndsWith(name, "num_batches_tracked")) return absl::OkStatus();
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", file.prefix, name, " is missing (a ", Describe(options),
                                                     " has it, of shape ", Shape(target), ")"));
    }
    used.insert(name);
    if (!it->second.sizes().equals(target.sizes())) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", file.file_keys.at(name), " has shape ",
                                                     Shape(it->second), " in the file, but a ", Describe(options),
                                                     " expects ", Shape(target)));
    }
    target.copy_(it->second);
    return absl::OkStatus();
  };
  torch::NoGradGuard no_grad;
  for (auto& p : encoder->named_parameters()) MOCO_RETURN_IF_ERROR(load(p.key(), p.value()));
  for (auto& b : encoder->named_buffers()) MOCO_RETURN_IF_ERROR(load(b.key(), b.value()));
  for (const auto& [name, tensor] : file.tensors) {
    if (!used.count(name)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": unknown key ", file.file_keys.at(name), " (shape ",
                                                     Shape(tensor), "): a ", Describe(options), " has no such tensor"));
    }
  }
  encoder->eval();
  return encoder;
}

absl::Status ExportTorchvision(const ResNet& encoder, const std::string& path) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& p : encoder->named_parameters()) {
    if (!absl::StartsWith(p.key(), "fc.")) tensors.emplace_back(p.key(), p.value());
  }
  for (const auto& b : encoder->named_buffers()) {
    if (!absl::StartsWith(b.key(), "fc.")) tensors.emplace_back(b.key(), b.value());
  }
  return WriteTensorDict(path, tensors);
}

}  // namespace moco
