"""The PyTorch side of encoder_io_test.cc: writes files the way torchvision users and the
official MoCo code write them, and computes reference features with torchvision's ResNets.

  python encoder_io_test.py torchvision_features --arch resnet18 --weights W --input I --out O
  python encoder_io_test.py moco_checkpoint --out F --ref R [--legacy] [--head linear|mlp]
  python encoder_io_test.py state_dict --arch resnet50 --out F --ref R
"""
import argparse
import copy

import torch
import torchvision


def randomize_batch_norm(model):
    # So that eval-mode BN is not close to the identity and a wrong statistic shows.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)


def pooled_features(model, x):
    backbone = copy.deepcopy(model)
    backbone.fc = torch.nn.Identity()  # the avgpool output
    backbone.eval()
    with torch.no_grad():
        return backbone(x)


def torchvision_features(args):
    state = torch.load(args.weights)  # weights_only=True, the default since PyTorch 2.6
    assert isinstance(state, dict), type(state)
    model = getattr(torchvision.models, args.arch)()
    result = model.load_state_dict(state, strict=False)
    assert sorted(result.missing_keys) == ["fc.bias", "fc.weight"], result.missing_keys
    assert not result.unexpected_keys, result.unexpected_keys
    x = torch.load(args.input)["input"]
    torch.save({"features": pooled_features(model, x)}, args.out)


class MoCo(torch.nn.Module):
    """The parameter and buffer layout of the official moco/builder.py."""

    def __init__(self, head):
        super().__init__()
        self.encoder_q = torchvision.models.resnet18(num_classes=128)
        if head == "mlp":  # MoCo v2
            dim = self.encoder_q.fc.weight.shape[1]
            self.encoder_q.fc = torch.nn.Sequential(torch.nn.Linear(dim, dim), torch.nn.ReLU(), self.encoder_q.fc)
        self.encoder_k = copy.deepcopy(self.encoder_q)
        self.register_buffer("queue", torch.nn.functional.normalize(torch.randn(128, 256), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))


def moco_checkpoint(args):
    torch.manual_seed(2)
    model = torch.nn.DataParallel(MoCo(args.head))  # keys start with "module.", as under DDP
    optimizer = torch.optim.SGD(model.parameters(), lr=0.03, momentum=0.9, weight_decay=1e-4)
    model.module.encoder_q(torch.randn(4, 3, 64, 64)).pow(2).mean().backward()
    optimizer.step()
    randomize_batch_norm(model.module.encoder_q)
    checkpoint = {"epoch": 200, "arch": "resnet18", "state_dict": model.state_dict(),
                  "optimizer": optimizer.state_dict()}
    torch.save(checkpoint, args.out, _use_new_zipfile_serialization=not args.legacy)
    x = torch.randn(2, 3, 64, 64)
    torch.save({"input": x, "features": pooled_features(model.module.encoder_q, x)}, args.ref)


def state_dict(args):
    torch.manual_seed(3)
    model = getattr(torchvision.models, args.arch)()
    randomize_batch_norm(model)
    torch.save(model.state_dict(), args.out)  # an OrderedDict with _metadata
    x = torch.randn(2, 3, 64, 64)
    torch.save({"input": x, "features": pooled_features(model, x)}, args.ref)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["torchvision_features", "moco_checkpoint", "state_dict"])
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--weights")
    parser.add_argument("--input")
    parser.add_argument("--out")
    parser.add_argument("--ref")
    parser.add_argument("--legacy", action="store_true")
    parser.add_argument("--head", default="linear", choices=["linear", "mlp"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    {"torchvision_features": torchvision_features, "moco_checkpoint": moco_checkpoint,
     "state_dict": state_dict}[args.command](args)


if __name__ == "__main__":
    main()
