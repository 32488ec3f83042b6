// PyTorch's torch.save format, read and written without Python: ReadTorchFile / ParseTorchFile
// read what torch.save wrote (the zip container of PyTorch >= 1.6, or the legacy format before
// it) as IValues; WriteTorchFile / WriteTensorDict write values that torch.load reads, also
// with its default weights_only=True.
//
//   MOCO_ASSIGN_OR_RETURN(c10::IValue checkpoint, ReadTorchFile("moco_v2_800ep_pretrain.pth.tar"));
//   const int64_t epoch = checkpoint.toGenericDict().at(c10::IValue(std::string("epoch"))).toInt();
//   MOCO_RETURN_IF_ERROR(WriteTensorDict("features.pth", {{"features", features}, {"labels", labels}}));
//   # Python: torch.load("features.pth")["features"]
//
// Why not torch::pickle_load / pickle_save: LibTorch 2.11's unpickler turns every
// collections.OrderedDict into None (it expects them only as a tensor's empty backward hooks),
// so it fails on any state_dict() saved by Python ("Expected GenericDict but got None",
// pytorch/pytorch#100741), official MoCo checkpoints included; it reads plain dicts, ints,
// strings and the optimizer's state dict fine. And torch::pickle_save tags dicts with
// torch.jit._pickle.restore_type_tag, which torch.load refuses since PyTorch 2.6 unless called
// with weights_only=False. So this library reads and writes the pickle subset torch.save uses
// itself (torch_pickle.h), in LibTorch's zip container (caffe2::serialize), and also reads the
// pre-1.6 non-zip format in which the 2020 MoCo checkpoints were saved.
#ifndef MOCO_EVAL_TORCH_FILE_H_
#define MOCO_EVAL_TORCH_FILE_H_

#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace moco {

// The object a Python torch.save() wrote, as IValues: dicts and OrderedDicts become
// GenericDicts (keys in file order), lists GenericLists, tuples Tuples, tensors (and
// Parameters) CPU tensors; objects of other classes (an argparse.Namespace of a training
// script, say) become the string "<unsupported object module.Class>", so the rest of the
// file stays readable. Errors name the file and what could not be read.
absl::StatusOr<c10::IValue> ReadTorchFile(const std::string& path);

// ReadTorchFile on the contents of a file held in memory; errors name `source`.
absl::StatusOr<c10::IValue> ParseTorchFile(absl::string_view bytes, absl::string_view source);

// Writes `value` as torch.save would: None, bool, int, double, string, tensor, and tuples,
// lists and dicts of these, nested (ReadTorchFile reads it back as the same values). Tensors
// are written from contiguous CPU copies, each with its own storage. Another kind of value
// (an object, a future), an undefined tensor or a dtype without a Python storage class is an
// error naming `path`. Atomic: a temporary file renamed over `path`.
absl::Status WriteTorchFile(const std::string& path, const c10::IValue& value);

// WriteTorchFile of the Python dict {name: tensor}, in the order given.
absl::Status WriteTensorDict(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors);

}  // namespace moco

#endif  // MOCO_EVAL_TORCH_FILE_H_
