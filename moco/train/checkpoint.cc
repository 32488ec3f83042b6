#include "moco/train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "configs/config.h"
#include "moco/common/files.h"
#include "moco/common/status.h"

namespace moco {
namespace {

at::Tensor StringTensor(const std::string& s) {
  return torch::from_blob(const_cast<char*>(s.data()), {static_cast<int64_t>(s.size())}, torch::kUInt8).clone();
}

// A fresh tensor for each read: reading into a defined tensor would try to reuse its storage.
at::Tensor Read(torch::serialize::InputArchive& archive, const std::string& key, bool is_buffer = false) {
  at::Tensor t;
  archive.read(key, t, is_buffer);
  return t;
}

// The checkpoint file is the archive's bytes followed by a footer: kFooterMagic and a 64-bit
// checksum of those bytes (little-endian). A torn, truncated or bit-flipped file fails the check
// before LibTorch parses it.
constexpr char kFooterMagic[] = "MOCOCKPT-SUM-v1:";
constexpr size_t kMagicSize = sizeof(kFooterMagic) - 1;
constexpr size_t kFooterSize = kMagicSize + 8;

}  // namespace

uint64_t Checksum64(absl::string_view bytes) {
  // 8 bytes at a time, multiply-xorshift mixing: catches truncation and any flipped bit with
  // probability 1 - 2^-64, at memory speed (a 300 MB checkpoint in about 0.1 s).
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  uint64_t h = 0x243F6A8885A308D3ull ^ bytes.size();
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + i, 8);
    h = (h ^ word) * kMul;
    h ^= h >> 31;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, bytes.data() + i, bytes.size() - i);
  h = (h ^ tail) * kMul;
  return h ^ (h >> 29);
}

namespace {

// The archive bytes of a checkpoint file, after checking its footer.
absl::StatusOr<std::string> ReadVerified(const std::string& path) {
  if (!std::filesystem::exists(path)) return absl::NotFoundError(absl::StrCat("no checkpoint at ", path));
  MOCO_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  if (bytes.size() < kFooterSize || bytes.compare(bytes.size() - kFooterSize, kMagicSize, kFooterMagic) != 0) {
    return absl::DataLossError(absl::StrCat("checkpoint ", path, " (", bytes.size(),
                                            " bytes) has no checksum footer: it is truncated, or not a checkpoint "
                                            "of this pretrainer; delete it or start over with --fresh"));
  }
  uint64_t stored;
  std::memcpy(&stored, bytes.data() + bytes.size() - 8, 8);
  bytes.resize(bytes.size() - kFooterSize);
  const uint64_t actual = Checksum64(bytes);
  if (actual != stored) {
    return absl::DataLossError(absl::StrFormat(
        "checkpoint %s is corrupt: checksum %016x, the file says %016x; delete it or start over with --fresh", path,
        actual, stored));
  }
  return bytes;
}

std::string TensorString(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  return std::string(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), c.numel());
}

// Everything of CheckpointState (not the model, optimizer or RNG).
void ReadScalars(torch::serialize::InputArchive& archive, CheckpointState& state) {
  state.epoch = Read(archive, "epoch").item<int64_t>();
  state.step = Read(archive, "step").item<int64_t>();
  state.random_init_knn = Read(archive, "random_init_knn").item<double>();
  state.wall_seconds = Read(archive, "wall_seconds").item<double>();
  const at::Tensor sums = Read(archive, "epoch_sums");
  state.epoch_loss_sum = sums[0].item<double>();
  state.epoch_accuracy_sum = sums[1].item<double>();
  state.epoch_steps = Read(archive, "epoch_steps").item<int64_t>();
  const at::Tensor timing = Read(archive, "timing");
  state.train_seconds = timing[0].item<double>();
  state.data_wait_seconds = timing[1].item<double>();
  state.steps_timed = Read(archive, "steps_timed").item<int64_t>();
  state.config = TensorString(Read(archive, "config"));
  c10::IValue eval_config;
  if (archive.try_read("eval_config", eval_config) && eval_config.isTensor()) {
    state.eval_config = TensorString(eval_config.toTensor());
  }
  c10::IValue losses;
  if (archive.try_read("losses", losses) && losses.isTensor()) {
    const at::Tensor values = losses.toTensor().contiguous();
    state.losses.assign(values.data_ptr<double>(), values.data_ptr<double>() + values.numel());
  }
}

void LoadArchive(const std::string& bytes, torch::serialize::InputArchive& archive) {
  archive.load_from(bytes.data(), bytes.size());
}

// Appends to `out` where two archive values differ (tensors bit for bit, with dtype and shape;
// objects, lists, dicts and tuples element by element; other values by ==).
void Diff(const std::string& name, const c10::IValue& a, const c10::IValue& b, std::vector<std::string>& out) {
  if (a.tagKind() != b.tagKind()) {
    out.push_back(absl::StrCat(name, ": ", a.tagKind(), " vs ", b.tagKind()));
  } else if (a.isTensor()) {
    const at::Tensor& x = a.toTensor();
    const at::Tensor& y = b.toTensor();
    if (x.scalar_type() != y.scalar_type() || !x.sizes().equals(y.sizes())) {
      out.push_back(absl::StrCat(name, ": dtype or shape differs"));
    } else if (x.numel() > 0) {
      // Bit for bit: compare the raw bytes, so NaNs and -0.0 count too.
      const at::Tensor cx = x.contiguous(), cy = y.contiguous();
      if (std::memcmp(cx.data_ptr(), cy.data_ptr(), cx.nbytes()) != 0) out.push_back(absl::StrCat(name, ": values differ"));
    }
  } else if (a.isObject()) {
    const auto& x = a.toObjectRef();
    const auto& y = b.toObjectRef();
    if (x.slots().size() != y.slots().size()) {
      out.push_back(absl::StrCat(name, ": ", x.slots().size(), " vs ", y.slots().size(), " attributes"));
      return;
    }
    for (size_t i = 0; i < x.slots().size(); ++i) {
      Diff(absl::StrCat(name, name.empty() ? "" : ".", x.type()->getAttributeName(i)), x.getSlot(i), y.getSlot(i), out);
    }
  } else if (a.isList() || a.isTuple()) {
    const std::vector<c10::IValue> x = a.isList() ? a.toListRef().vec() : a.toTupleRef().elements().vec();
    const std::vector<c10::IValue> y = b.isList() ? b.toListRef().vec() : b.toTupleRef().elements().vec();
    if (x.size() != y.size()) {
      out.push_back(absl::StrCat(name, ": ", x.size(), " vs ", y.size(), " elements"));
      return;
    }
    for (size_t i = 0; i < x.size(); ++i) Diff(absl::StrCat(name, "[", i, "]"), x[i], y[i], out);
  } else if (a.isGenericDict()) {
    const auto x = a.toGenericDict(), y = b.toGenericDict();
    if (x.size() != y.size()) {
      out.push_back(absl::StrCat(name, ": ", x.size(), " vs ", y.size(), " entries"));
      return;
    }
    for (const auto& entry : x) {
      if (!y.contains(entry.key())) {
        out.push_back(absl::StrCat(name, ": key only in the first"));
        continue;
      }
      Diff(absl::StrCat(name, "[", c10::str(entry.key()), "]"), entry.value(), y.at(entry.key()), out);
    }
  } else if (!(a == b)) {
    out.push_back(absl::StrCat(name, ": ", c10::str(a), " vs ", c10::str(b)));
  }
}

}  // namespace

absl::StatusOr<std::vector<std::string>> CheckpointDifferences(const std::string& a, const std::string& b) {
  MOCO_ASSIGN_OR_RETURN(const std::string bytes_a, ReadVerified(a));
  MOCO_ASSIGN_OR_RETURN(const std::string bytes_b, ReadVerified(b));
  std::vector<std::string> out;
  try {
    torch::serialize::InputArchive x, y;
    LoadArchive(bytes_a, x);
    LoadArchive(bytes_b, y);
    std::vector<std::string> keys = x.keys(), other = y.keys();
    std::sort(keys.begin(), keys.end());
    std::sort(other.begin(), other.end());
    if (keys != other) out.push_back("the two hold different entries");
    for (const std::string& key : keys) {
      if (key == "wall_seconds" || key == "timing" || key == "steps_timed") continue;  // how long, not what
      c10::IValue va, vb;
      if (!x.try_read(key, va) || !y.try_read(key, vb)) continue;
      Diff(key, va, vb, out);
    }
  } catch (const std::exception& e) {
    std::string what = e.what();
    return absl::DataLossError(absl::StrCat("cannot compare ", a, " and ", b, ": ", what.substr(0, what.find('\n'))));
  }
  return out;
}

absl::Status SaveCheckpoint(const std::string& path, const CheckpointState& state, torch::nn::Module& model,
                            torch::optim::SGD& optimizer) {
  std::string bytes;
  try {
    torch::serialize::OutputArchive archive;
    torch::serialize::OutputArchive model_archive, optimizer_archive;
    for (const auto& p : model.named_parameters()) model_archive.write(p.key(), p.value(), /*is_buffer=*/false);
    for (const auto& b : model.named_buffers()) model_archive.write(b.key(), b.value(), /*is_buffer=*/true);
    // SGD's state is one momentum buffer per parameter. LibTorch's own optimizer.save keys them
    // by tensor address, which differs from process to process; by position they compare.
    int64_t index = 0;
    for (const auto& group : optimizer.param_groups()) {
      for (const auto& p : group.params()) {
        const auto it = optimizer.state().find(p.unsafeGetTensorImpl());
        if (it != optimizer.state().end()) {
          const auto& buffer = static_cast<torch::optim::SGDParamState&>(*it->second).momentum_buffer();
          if (buffer.defined()) optimizer_archive.write(std::to_string(index), buffer, /*is_buffer=*/true);
        }
        ++index;
      }
    }
    archive.write("model", model_archive);
    archive.write("optimizer", optimizer_archive);
    archive.write("epoch", torch::tensor(state.epoch));
    archive.write("step", torch::tensor(state.step));
    archive.write("random_init_knn", torch::tensor(state.random_init_knn, torch::kDouble));
    archive.write("wall_seconds", torch::tensor(state.wall_seconds, torch::kDouble));
    archive.write("epoch_sums", torch::tensor({state.epoch_loss_sum, state.epoch_accuracy_sum}, torch::kDouble));
    archive.write("epoch_steps", torch::tensor(state.epoch_steps));
    archive.write("timing", torch::tensor({state.train_seconds, state.data_wait_seconds}, torch::kDouble));
    archive.write("steps_timed", torch::tensor(state.steps_timed));
    archive.write("config", StringTensor(state.config));
    if (!state.eval_config.empty()) archive.write("eval_config", StringTensor(state.eval_config));
    if (!state.losses.empty()) archive.write("losses", torch::tensor(state.losses, torch::kDouble));
    archive.write("rng", at::detail::getDefaultCPUGenerator().get_state());
    std::ostringstream out;
    archive.save_to(out);
    bytes = std::move(out).str();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("cannot encode checkpoint ", path, ": ", e.what()));
  }
  const uint64_t sum = Checksum64(bytes);
  bytes.append(kFooterMagic, kMagicSize);
  bytes.append(reinterpret_cast<const char*>(&sum), 8);
  if (absl::Status written = WriteFileAtomic(path, bytes); !written.ok()) {
    return absl::Status(written.code(), absl::StrCat("checkpoint not saved: ", written.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<CheckpointState> ReadCheckpointState(const std::string& path) {
  MOCO_ASSIGN_OR_RETURN(const std::string bytes, ReadVerified(path));
  CheckpointState state;
  try {
    torch::serialize::InputArchive archive;
    LoadArchive(bytes, archive);
    ReadScalars(archive, state);
    return state;
  } catch (const std::exception& e) {
    std::string what = e.what();
    return absl::DataLossError(absl::StrCat("cannot read checkpoint ", path, ": ", what.substr(0, what.find('\n'))));
  }
}

absl::StatusOr<std::string> ReadCheckpointConfig(const std::string& path) {
  MOCO_ASSIGN_OR_RETURN(CheckpointState state, ReadCheckpointState(path));
  return state.config;
}

absl::StatusOr<std::map<std::string, at::Tensor>> ReadCheckpointTensors(const std::string& path) {
  MOCO_ASSIGN_OR_RETURN(const std::string bytes, ReadVerified(path));
  std::map<std::string, at::Tensor> tensors;
  try {
    torch::serialize::InputArchive archive, model;
    LoadArchive(bytes, archive);
    archive.read("model", model);
    for (const std::string& key : model.keys()) tensors[key] = Read(model, key, /*is_buffer=*/true);
  } catch (const std::exception& e) {
    std::string what = e.what();
    return absl::DataLossError(absl::StrCat("cannot read checkpoint ", path, ": ", what.substr(0, what.find('\n'))));
  }
  return tensors;
}

absl::StatusOr<CheckpointState> LoadCheckpoint(const std::string& path, torch::nn::Module& model,
                                               torch::optim::SGD& optimizer) {
  MOCO_ASSIGN_OR_RETURN(const std::string bytes, ReadVerified(path));
  CheckpointState state;
  try {
    torch::serialize::InputArchive archive;
    LoadArchive(bytes, archive);
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
    optimizer.state().clear();
    int64_t index = 0;
    for (const auto& group : optimizer.param_groups()) {
      for (const auto& p : group.params()) {
        at::Tensor buffer;
        if (optimizer_archive.try_read(std::to_string(index), buffer, /*is_buffer=*/true)) {
          if (!buffer.sizes().equals(p.sizes())) {
            return absl::InvalidArgumentError(absl::StrCat(path, ": momentum buffer ", index, " has shape ",
                                                           c10::str(buffer.sizes()), ", its parameter ",
                                                           c10::str(p.sizes())));
          }
          auto param_state = std::make_unique<torch::optim::SGDParamState>();
          param_state->momentum_buffer(buffer);
          optimizer.state()[p.unsafeGetTensorImpl()] = std::move(param_state);
        }
        ++index;
      }
    }
    ReadScalars(archive, state);
    at::Generator generator = at::detail::getDefaultCPUGenerator();  // a handle to the global one
    generator.set_state(Read(archive, "rng"));
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    return absl::DataLossError(absl::StrCat("cannot read checkpoint ", path, ": ", what));
  }
  return state;
}

absl::StatusOr<config::ExperimentConfig> ReadCheckpointExperiment(const std::string& path) {
  MOCO_ASSIGN_OR_RETURN(const CheckpointState state, ReadCheckpointState(path));
  MOCO_ASSIGN_OR_RETURN(config::ExperimentConfig config, ParseConfig(state.config, path));
  if (!state.eval_config.empty()) {
    MOCO_ASSIGN_OR_RETURN(const config::ExperimentConfig eval, ParseConfig(state.eval_config, path));
    *config.mutable_eval() = eval.eval();
  }
  return config;
}

}  // namespace moco
