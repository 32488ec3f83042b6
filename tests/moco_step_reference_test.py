"""The PyTorch side of moco_step_reference_test.cc: redoes the C++ trainer's steps with a MoCo
(or end-to-end) written here from the paper's Algorithm 1 and the official code's conventions,
starting from the same weights and images, and compares losses, weights, BN statistics and the
queue. Exits non-zero on any mismatch.

  python moco_step_reference_test.py moco|end_to_end|memory_bank --steps N [--bn_splits G] [--float64] --input steps.pth
      [--speed_reference benchmarks/python/moco_reference.py]

With --speed_reference (MoCo only), the same steps are also taken by the MoCo of the speed
reference, the Python program the benchmarks' ours-over-Python ratios are measured against, and
compared with the C++ state too: those ratios are against a step checked here.
"""
import importlib.util
import argparse
import struct
import sys

import torch
import torch.nn.functional as F
import torchvision


def as_float32(value):
    """The config stores hyper-parameters as float32 (experiment.proto): 0.9 is 0.89999998. In
    float64 the difference shows (1e-8 after three steps), so the reference uses the same values."""
    return struct.unpack("f", struct.pack("f", value))[0]


BATCH, TEMPERATURE, MOMENTUM_SGD, WEIGHT_DECAY = 8, as_float32(0.1), as_float32(0.9), as_float32(5e-4)
K, M = 16, as_float32(0.9)  # the MoCo test's queue size and key-encoder momentum
BANK_MOMENTUM = 0.5  # the memory-bank test's (exact in float32)


class GroupBatchNorm2d(torch.nn.BatchNorm2d):
    """BN in training mode over `groups` contiguous equal sub-batches, each normalised by its
    own statistics as if on its own GPU; the running statistics become the average of the
    groups' updates (what the GPUs' copies would average to). Eval mode is plain BN."""

    def __init__(self, channels, groups):
        super().__init__(channels)
        self.groups = groups

    def forward(self, x):
        if not self.training or self.groups == 1:
            return super().forward(x)
        self.num_batches_tracked.add_(1)
        outputs, means, variances = [], [], []
        for chunk in x.chunk(self.groups, 0):
            mean, var = self.running_mean.clone(), self.running_var.clone()
            outputs.append(F.batch_norm(chunk, mean, var, self.weight, self.bias, True, self.momentum, self.eps))
            means.append(mean)
            variances.append(var)
        with torch.no_grad():
            self.running_mean.copy_(torch.stack(means).mean(0))
            self.running_var.copy_(torch.stack(variances).mean(0))
        return torch.cat(outputs, 0)


def cifar_resnet18(bn_groups):
    """torchvision's resnet18 with the CIFAR stem (a 3x3 stride-1 first conv and no max-pool),
    every BN over `bn_groups` groups of the batch."""
    model = torchvision.models.resnet18(num_classes=128, norm_layer=lambda c: GroupBatchNorm2d(c, bn_groups))
    model.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    model.maxpool = torch.nn.Identity()
    return model


def load(model, d, prefix):
    state = {name[len(prefix):]: t for name, t in d.items() if name.startswith(prefix)}
    model.load_state_dict(state, strict=True)


failures = []


def compare(what, ours, theirs, tolerance):
    error = (ours.double() - theirs.double()).abs().max().item() / max(1.0, theirs.double().abs().max().item())
    if not error <= tolerance:
        failures.append(f"{what}: max |difference| / max(1, max |reference|) = {error:.3g} > {tolerance:g}")
    return error


def compare_module(d, prefix, model, tolerance, skip_counters=False):
    """skip_counters: leave out BN's num_batches_tracked, which the speed reference's split BN (as
    the official notebook's) never counts; BN with a momentum does not read it."""
    worst = 0.0
    state = model.state_dict()
    for name, t in state.items():
        if skip_counters and name.endswith("num_batches_tracked"):
            continue
        key = prefix + name
        if key not in d:
            failures.append(f"{key}: missing from the C++ state")
            continue
        worst = max(worst, compare(key, d[key], t, tolerance))
    return worst


def group_order(batch, groups):
    """The batch order in which the speed reference's BN groups (position mod `groups`) are our
    contiguous chunks: position p holds image (p mod groups) * (batch / groups) + p // groups."""
    size = batch // groups
    return torch.tensor([(p % groups) * size + p // groups for p in range(batch)])


def speed_reference_moco(path, d, args, lr):
    """The speed reference's MoCo (benchmarks/python/moco_reference.py) at this test's sizes, from
    the C++ initial state, its SGD as the benchmark makes it, and its key shuffle replaced by the
    C++ step's recorded one (it draws its own with torch.randperm)."""
    spec = importlib.util.spec_from_file_location("moco_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.MoCo(dim=128, K=K, m=M, T=TEMPERATURE, width=64, splits=args.bn_splits)
    load(model.encoder_q, d, "init.encoder_q.")
    load(model.encoder_k, d, "init.encoder_k.")
    with torch.no_grad():
        model.queue.copy_(d["init.queue.queue"].t())  # the speed reference keeps keys as columns
        model.queue_ptr[0] = int(d["init.queue.queue_ptr"])
    model.train()
    optimizer = torch.optim.SGD(model.encoder_q.parameters(), lr=lr, momentum=MOMENTUM_SGD, weight_decay=WEIGHT_DECAY)
    return model, optimizer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["moco", "end_to_end", "memory_bank"])
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--bn_splits", type=int, default=1, help="BN groups per batch (shuffle BN on one process)")
    parser.add_argument("--float64", action="store_true", help="the C++ side ran in float64: so does this, to 1e-9")
    parser.add_argument("--input", required=True)
    parser.add_argument("--speed_reference", help="benchmarks/python/moco_reference.py: also check its MoCo step")
    args = parser.parse_args()
    torch.set_num_threads(1)
    d = torch.load(args.input)
    if args.float64:
        torch.set_default_dtype(torch.float64)  # the models below are made in float64
    loss_tolerance, state_tolerance = (1e-9, 1e-9) if args.float64 else (1e-5, 1e-4)
    lr = d["lr"].item()

    encoder_q = cifar_resnet18(args.bn_splits)
    load(encoder_q, d, "init.encoder_q.")
    encoder_q.train()
    optimizer = torch.optim.SGD(encoder_q.parameters(), lr=lr, momentum=MOMENTUM_SGD, weight_decay=WEIGHT_DECAY)
    if args.kind == "moco":
        encoder_k = cifar_resnet18(args.bn_splits)
        load(encoder_k, d, "init.encoder_k.")
        for p in encoder_k.parameters():
            p.requires_grad = False
        encoder_k.train()
        queue = d["init.queue.queue"].clone()  # K x C, one key per row
        assert queue.shape == (K, 128), queue.shape
        ptr = int(d["init.queue.queue_ptr"])
    if args.kind == "memory_bank":
        bank = d["init.bank.bank"].clone()  # one unit-length entry per training image
    speed = None
    if args.speed_reference and args.kind == "moco":
        speed, speed_optimizer = speed_reference_moco(args.speed_reference, d, args, lr)

    def keys(encoder, x_k, perm):
        """encoder(x_k) row for row, computed in the C++ step's shuffled order: the same rounding
        and, with BN groups, the same images sharing BN statistics."""
        return F.normalize(encoder(x_k[perm]), dim=1)[torch.argsort(perm)]

    for step in range(args.steps):
        x_q, x_k = d[f"step{step}.view_q"], d[f"step{step}.view_k"]
        perm = d[f"step{step}.key_perm"]
        q = F.normalize(encoder_q(x_q), dim=1)
        if args.kind == "memory_bank":
            # InstDisc's positive is the image's own bank entry; the negatives are the sampled
            # entries (the C++ step's draw, replayed); all from the bank before this step's update.
            indices, picks = d[f"step{step}.indices"], d[f"step{step}.picks"]
            l_pos = (q * bank[indices]).sum(1, keepdim=True)
            l_neg = torch.einsum("nc,nkc->nk", q, bank[picks])
            logits = torch.cat([l_pos, l_neg], 1) / TEMPERATURE
            loss = F.cross_entropy(logits, torch.zeros(BATCH, dtype=torch.long))
        elif args.kind == "moco":
            with torch.no_grad():
                # Momentum update of the key encoder's parameters (not its BN buffers), before the keys.
                for p_k, p_q in zip(encoder_k.parameters(), encoder_q.parameters()):
                    p_k.mul_(M).add_(p_q.detach(), alpha=1 - M)
                k = keys(encoder_k, x_k, perm)
            l_pos = (q * k).sum(1, keepdim=True)
            l_neg = q @ queue.t()
            logits = torch.cat([l_pos, l_neg], 1) / TEMPERATURE
            loss = F.cross_entropy(logits, torch.zeros(BATCH, dtype=torch.long))
        else:
            k = keys(encoder_q, x_k, perm)  # the keys are the query encoder's, with gradient
            logits = q @ k.t() / TEMPERATURE
            loss = F.cross_entropy(logits, torch.arange(BATCH))
        error = compare(f"step {step} loss", d[f"step{step}.loss"], loss.detach(), loss_tolerance)
        print(f"step {step}: loss C++ {d[f'step{step}.loss'].item():.6f}, Python {loss.item():.6f} (error {error:.2g})")
        if speed is not None:
            # The speed reference's SplitBatchNorm groups images n and n' when n = n' mod G (the
            # official notebook's view(-1, C * G, H, W)); ours groups contiguous chunks. Feeding it
            # the batch in `order` puts chunk j's images where it groups them together; its key
            # shuffle (replaced by sigma) then makes the key encoder's groups the C++ step's.
            order = group_order(BATCH, args.bn_splits)
            sigma = torch.argsort(order)[perm[order]]
            speed._batch_shuffle_single_gpu = lambda x, sigma=sigma: (x[sigma], torch.argsort(sigma))
            speed_logits, speed_labels = speed(x_q[order], x_k[order])
            speed_loss = F.cross_entropy(speed_logits, speed_labels)
            error = compare(f"step {step} loss of the speed reference", d[f"step{step}.loss"], speed_loss.detach(),
                            loss_tolerance)
            print(f"step {step}: loss of the speed reference {speed_loss.item():.6f} (error {error:.2g})")
            speed_optimizer.zero_grad()
            speed_loss.backward()
            speed_optimizer.step()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if args.kind == "memory_bank":
            with torch.no_grad():  # each image's entry moves toward its new query, then to unit length
                bank[indices] = F.normalize(BANK_MOMENTUM * bank[indices] + (1 - BANK_MOMENTUM) * q.detach(), dim=1)
        if args.kind == "moco":
            # Enqueue after the logits: the oldest BATCH keys are replaced.
            queue[ptr:ptr + BATCH] = k
            ptr = (ptr + BATCH) % K

    print(f"encoder_q after {args.steps} steps: worst error {compare_module(d, 'final.encoder_q.', encoder_q, state_tolerance):.2g}")
    if args.kind == "moco":
        print(f"encoder_k: worst error {compare_module(d, 'final.encoder_k.', encoder_k, state_tolerance):.2g}")
        print(f"queue: error {compare('queue', d['final.queue.queue'], queue, state_tolerance):.2g}")
        if int(d["final.queue.queue_ptr"]) != ptr:
            failures.append(f"queue pointer: C++ {int(d['final.queue.queue_ptr'])}, Python {ptr}")
    if args.kind == "memory_bank":
        print(f"bank: error {compare('bank', d['final.bank.bank'], bank, state_tolerance):.2g}")
    if speed is not None:
        # Its queue holds each step's keys in `order`: back in batch order, block by block.
        order = group_order(BATCH, args.bn_splits)
        speed_queue = speed.queue.t().clone()
        for start in range(0, K, BATCH):
            speed_queue[start:start + BATCH][order] = speed.queue.t()[start:start + BATCH]
        worst = max(compare_module(d, "final.encoder_q.", speed.encoder_q, state_tolerance, skip_counters=True),
                    compare_module(d, "final.encoder_k.", speed.encoder_k, state_tolerance, skip_counters=True),
                    compare("speed reference queue", d["final.queue.queue"], speed_queue, state_tolerance))
        if int(d["final.queue.queue_ptr"]) != int(speed.queue_ptr):
            failures.append(f"speed reference queue pointer: C++ {int(d['final.queue.queue_ptr'])}, Python {int(speed.queue_ptr)}")
        print(f"speed reference after {args.steps} steps (encoders, queue): worst error {worst:.2g}")
    for f in failures:
        print("MISMATCH", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
