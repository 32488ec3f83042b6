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
// The torch.save reader and writer underneath (ReadTorchFile, ParseTorchFile, WriteTensorDict)
// are torch_file.h's; this header includes it, so that its users see them here too.
#ifndef MOCO_EVAL_ENCODER_IO_H_
#define MOCO_EVAL_ENCODER_IO_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "configs/experiment.pb.h"
#include "eval/torch_file.h"
#include "moco/models/resnet.h"

namespace moco {

// The init that means "the config's encoder at random initialisation", not a file.
inline constexpr char kRandomInit[] = "random";

// The encoder an evaluation starts from: kRandomInit gives the config's encoder (model {}, with
// an fc head of model.feature_dim) at its seeded initialisation (torch::manual_seed(run.seed), as
// the pretrainer seeds before building its encoders); anything else is a file LoadEncoder reads,
// the config's model {} its hint. `config` must be resolved.
absl::StatusOr<ResNet> EncoderFromInit(const std::string& init, const config::ExperimentConfig& config);

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
