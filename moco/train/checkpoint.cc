#include "moco/train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fcntl.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace moco {
namespace {

absl::Status Fsync(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", path, " to fsync"));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("fsync failed for ", path));
  return absl::OkStatus();
}

at::Tensor StringTensor(const std::string& s) {
  return torch::from_blob(const_cast<char*>(s.data()), {static_cast<int64_t>(s.size())}, torch::kUInt8).clone();
}

// A fresh tensor for each read: reading into a defined tensor would try to reuse its storage.
at::Tensor Read(torch::serialize::InputArchive& archive, const std::string& key, bool is_buffer = false) {
  at::Tensor t;
  archive.read(key, t, is_buffer);
  return t;
}

std::string TensorString(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  return std::string(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), c.numel());
}

}  // namespace

absl::Status SaveCheckpoint(const std::string& path, const CheckpointState& state, torch::nn::Module& model,
                            torch::optim::Optimizer& optimizer) {
  const std::filesystem::path target(path);
  std::error_code error;
  std::filesystem::create_directories(target.parent_path(), error);
  if (error) return absl::InternalError(absl::StrCat("cannot create ", target.parent_path().string(), ": ", error.message()));
  const std::string temporary = path + ".partial";
  try {
    torch::serialize::OutputArchive archive;
    torch::serialize::OutputArchive model_archive, optimizer_archive;
    for (const auto& p : model.named_parameters()) model_archive.write(p.key(), p.value(), /*is_buffer=*/false);
    for (const auto& b : model.named_buffers()) model_archive.write(b.key(), b.value(), /*is_buffer=*/true);
    optimizer.save(optimizer_archive);
    archive.write("model", model_archive);
    archive.write("optimizer", optimizer_archive);
    archive.write("epoch", torch::tensor(state.epoch));
    archive.write("step", torch::tensor(state.step));
    archive.write("random_init_knn", torch::tensor(state.random_init_knn, torch::kDouble));
    archive.write("wall_seconds", torch::tensor(state.wall_seconds, torch::kDouble));
    archive.write("config", StringTensor(state.config));
    archive.write("rng", at::detail::getDefaultCPUGenerator().get_state());
    archive.save_to(temporary);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("cannot write checkpoint ", temporary, ": ", e.what()));
  }
  if (absl::Status s = Fsync(temporary, false); !s.ok()) return s;
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", temporary, " to ", path));
  }
  return Fsync(target.parent_path().empty() ? "." : target.parent_path().string(), true);
}

absl::StatusOr<std::string> ReadCheckpointConfig(const std::string& path) {
  if (!std::filesystem::exists(path)) return absl::NotFoundError(absl::StrCat("no checkpoint at ", path));
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    return TensorString(Read(archive, "config"));
  } catch (const std::exception& e) {
    std::string what = e.what();
    return absl::DataLossError(absl::StrCat("cannot read checkpoint ", path, ": ", what.substr(0, what.find('\n'))));
  }
}

absl::StatusOr<std::map<std::string, at::Tensor>> ReadCheckpointTensors(const std::string& path) {
  if (!std::filesystem::exists(path)) return absl::NotFoundError(absl::StrCat("no checkpoint at ", path));
  std::map<std::string, at::Tensor> tensors;
  try {
    torch::serialize::InputArchive archive, model;
    archive.load_from(path);
    archive.read("model", model);
    for (const std::string& key : model.keys()) tensors[key] = Read(model, key, /*is_buffer=*/true);
  } catch (const std::exception& e) {
    std::string what = e.what();
    return absl::DataLossError(absl::StrCat("cannot read checkpoint ", path, ": ", what.substr(0, what.find('\n'))));
  }
  return tensors;
}

absl::StatusOr<CheckpointState> LoadCheckpoint(const std::string& path, torch::nn::Module& model,
                                               torch::optim::Optimizer& optimizer) {
  if (!std::filesystem::exists(path)) return absl::NotFoundError(absl::StrCat("no checkpoint at ", path));
  CheckpointState state;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    torch::serialize::InputArchive model_archive, optimizer_archive;
    archive.read("model", model_archive);
    torch::NoGradGuard no_grad;
    for (auto& p : model.named_parameters()) {
      at::Tensor saved = Read(model_archive, p.key());
      if (!saved.sizes().equals(p.value().sizes())) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": parameter ", p.key(), " has shape ",
                                                       c10::str(saved.sizes()), ", the model expects ",
                                                       c10::str(p.value().sizes())));
      }
      p.value().copy_(saved);
    }
    for (auto& b : model.named_buffers()) {
      at::Tensor saved = Read(model_archive, b.key(), /*is_buffer=*/true);
      if (!saved.sizes().equals(b.value().sizes())) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": buffer ", b.key(), " has shape ",
                                                       c10::str(saved.sizes()), ", the model expects ",
                                                       c10::str(b.value().sizes())));
      }
      b.value().copy_(saved);
    }
    archive.read("optimizer", optimizer_archive);
    optimizer.load(optimizer_archive);
    state.epoch = Read(archive, "epoch").item<int64_t>();
    state.step = Read(archive, "step").item<int64_t>();
    state.random_init_knn = Read(archive, "random_init_knn").item<double>();
    state.wall_seconds = Read(archive, "wall_seconds").item<double>();
    state.config = TensorString(Read(archive, "config"));
    at::Generator generator = at::detail::getDefaultCPUGenerator();  // a handle to the global one
    generator.set_state(Read(archive, "rng"));
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    return absl::DataLossError(absl::StrCat("cannot read checkpoint ", path, ": ", what));
  }
  return state;
}

}  // namespace moco
