// Encoders in and out of PyTorch: LoadEncoder reads a ResNet backbone from this suite's
// pretrainer checkpoints, from torchvision state dicts (`torch.save(model.state_dict(), f)`)
// and from the official MoCo checkpoints (`{'epoch', 'arch', 'state_dict':
// {'module.encoder_q.conv1.weight', ...}, 'optimizer'}`); ExportTorchvision writes one as a
// state dict that torchvision's ResNets load.
//
//   MOCO_ASSIGN_OR_RETURN(ResNet encoder, LoadEncoder("runs/x/checkpoint.pt", nullptr));
//   MOCO_ASSIGN_OR_RETURN(ResNet r50, LoadEncoder("moco_v2_800ep_pretrain.pth.tar", &config.model()));
//   MOCO_RETURN_IF_ERROR(ExportTorchvision(encoder, "resnet.pth"));
//   # Python: torchvision.models.resnet18().load_state_dict(torch.load("resnet.pth"), strict=False)
//
// Why not torch::pickle_load / pickle_save: LibTorch 2.11's unpickler turns every
// collections.OrderedDict into None (it expects them only as a tensor's empty backward hooks),
// so it fails on any state_dict() saved by Python ("Expected GenericDict but got None",
// pytorch/pytorch#100741), official MoCo checkpoints included; it reads plain dicts, ints,
// strings and the optimizer's state dict fine. And torch::pickle_save tags dicts with
// torch.jit._pickle.restore_type_tag, which torch.load refuses since PyTorch 2.6 unless called
// with weights_only=False. So this file reads and writes the pickle subset torch.save uses
// itself, in LibTorch's zip container (caffe2::serialize), and also reads the pre-1.6
// non-zip format in which the 2020 MoCo checkpoints were saved.
#ifndef MOCO_EVAL_ENCODER_IO_H_
#define MOCO_EVAL_ENCODER_IO_H_

#include <ATen/core/ivalue.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "configs/experiment.pb.h"
#include "moco/models/resnet.h"

namespace moco {

// The object a Python torch.save() wrote, as IValues: dicts and OrderedDicts become
// GenericDicts (keys in file order), lists GenericLists, tuples Tuples, tensors (and
// Parameters) CPU tensors; objects of other classes (an argparse.Namespace of a training
// script, say) become the string "<unsupported object module.Class>", so the rest of the
// file stays readable. Errors name the file and what could not be read.
absl::StatusOr<c10::IValue> ReadTorchFile(const std::string& path);

// ReadTorchFile on the contents of a file held in memory; errors name `source`.
absl::StatusOr<c10::IValue> ParseTorchFile(absl::string_view bytes, absl::string_view source);

// Writes `tensors` as a Python dict {name: tensor} that torch.load reads, also with its
// default weights_only=True (same container and pickle opcodes as torch.save). Tensors are
// written from contiguous CPU copies. Atomic: a temporary file renamed over `path`.
absl::Status WriteTensorDict(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors);

// True for a checkpoint of this suite's pretrainer (moco/train/checkpoint.h), false for a
// Python torch.save file.
absl::StatusOr<bool> IsPretrainerCheckpoint(const std::string& path);

// The query encoder of a pretrainer checkpoint (architecture from the config inside), or the
// ResNet of a torchvision state dict or official MoCo checkpoint (architecture: depth, width
// and stem from `model_hint`, which those formats need). Only the backbone must be present:
// the head (fc.*) is loaded when the file has one, as a Linear (fc.weight) or MoCo v2 MLP
// (fc.0, fc.2) of the file's shape, else the encoder gets a fresh default head. In a MoCo
// checkpoint only module.encoder_q.* is read (encoder_k, queue and optimizer are skipped).
// An unknown key, a missing backbone key, or a tensor of another shape is an error naming
// the key, both shapes and the file. The encoder is returned in eval mode, on the CPU.
absl::StatusOr<ResNet> LoadEncoder(const std::string& path, const config::ModelConfig* model_hint);

// Writes the backbone (everything but fc.*) under torchvision's names, so that
// torchvision.models.resnet18/34/50().load_state_dict(torch.load(path), strict=False) reports
// only fc.weight and fc.bias missing. That holds for standard-stem encoders of width 1;
// torchvision has no CIFAR-stem or width-multiplied ResNet, so those files fit only a model
// built with the same shapes (the names still match torchvision's).
absl::Status ExportTorchvision(const ResNet& encoder, const std::string& path);

}  // namespace moco

#endif  // MOCO_EVAL_ENCODER_IO_H_
