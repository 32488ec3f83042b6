"""The PyTorch-Python reference the benchmarks put this suite beside.

A MoCo training step written the way the official implementation writes it (facebookresearch/moco:
encoder_q / encoder_k, a per-parameter momentum update, a queue buffer with a pointer, einsum
logits and cross-entropy; on one process, shuffle BN through BN split over 8 groups on a shuffled
key batch, as the official CIFAR-10 notebook does), with the same model as the CPU tier (a CIFAR
ResNet-18 at width 16: 3x3 stride-1 stem, no max-pool), batch, optimizer and threads as ours.
It is fed either by a fixed batch of random tensors ("memory") or by a torchvision DataLoader over
ImageFolder(cifar10-jpeg/train) with the CIFAR recipe of moco/augment/augment.h ("dataloader").
"augment" times what one DataLoader worker does per image: PIL decode + two torchvision views.
--model=memory_bank trains the memory-bank baseline instead, in InstDisc's shape (lemniscate.pytorch),
to compare its learning curve with ours (--train_images: a class-balanced subset, as the cpu tier's).

Run with the set-up's interpreter (same torch as our LibTorch):
  ~/.cache/moco-cpp/torch-2.11.0/bin/python benchmarks/python/moco_reference.py --mode=memory --channels_last
  ... --mode=dataloader --workers=1 --steps=20
  ... --mode=augment --images=2000
  ... --mode=augment --dataset=imagenet --images=500
  ... --mode=dataloader --model=memory_bank --queue=256 --train_images=20000 --warmup=0 --steps=390
Prints one JSON object on stdout; progress goes to stderr.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)  # the official notebook's statistics
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # main_moco.py's
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR_STD = (0.2023, 0.1994, 0.2010)


class SplitBatchNorm(nn.BatchNorm2d):
    """BN whose training statistics come from `splits` equal sub-batches, as if each were on its
    own GPU: the batch is viewed as (N / splits) x (C * splits) channels, so one batch_norm call
    normalises each sub-batch's channels separately; the running statistics are then averaged
    over the groups."""

    def __init__(self, channels, splits):
        super().__init__(channels)
        self.splits = splits

    def forward(self, x):
        if not self.training or self.splits == 1:
            return super().forward(x)
        n, c, h, w = x.shape
        g = self.splits
        mean = self.running_mean.repeat(g)
        var = self.running_var.repeat(g)
        # reshape, not view: a channels_last input cannot be viewed this way.
        out = F.batch_norm(x.reshape(n // g, c * g, h, w), mean, var, self.weight.repeat(g), self.bias.repeat(g),
                           True, self.momentum, self.eps).reshape(n, c, h, w)
        self.running_mean.copy_(mean.view(g, c).mean(0))
        self.running_var.copy_(var.view(g, c).mean(0))
        return out


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, splits):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = SplitBatchNorm(cout, splits)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = SplitBatchNorm(cout, splits)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), SplitBatchNorm(cout, splits))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class CifarResNet18(nn.Module):
    """ResNet-18 with widths base, 2 base, 4 base, 8 base (base 64 in torchvision; 16 here), a 3x3
    stride-1 stem without max-pool, and a linear head to `dim` (MoCo v1)."""

    def __init__(self, base=16, dim=128, splits=8):
        super().__init__()
        self.conv1 = nn.Conv2d(3, base, 3, 1, 1, bias=False)
        self.bn1 = SplitBatchNorm(base, splits)
        layers, cin = [], base
        for stage in range(4):
            cout = base << stage
            stride = 1 if stage == 0 else 2
            layers.append(nn.Sequential(BasicBlock(cin, cout, stride, splits), BasicBlock(cout, cout, 1, splits)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.fc = nn.Linear(cin, dim)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class MoCo(nn.Module):
    """MoCo v1 on one process, in the official code's shape."""

    def __init__(self, dim=128, K=4096, m=0.99, T=0.1, width=16, splits=8):
        super().__init__()
        self.K, self.m, self.T = K, m, T
        self.encoder_q = CifarResNet18(width, dim, splits)
        self.encoder_k = CifarResNet18(width, dim, splits)
        for param_q, param_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters()):
            param_k.data.copy_(param_q.data)
            param_k.requires_grad = False
        self.register_buffer("queue", F.normalize(torch.randn(dim, K), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    @torch.no_grad()
    def _momentum_update_key_encoder(self):
        for param_q, param_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters()):
            param_k.data = param_k.data * self.m + param_q.data * (1.0 - self.m)

    @torch.no_grad()
    def _dequeue_and_enqueue(self, keys):
        batch = keys.shape[0]
        ptr = int(self.queue_ptr)
        assert self.K % batch == 0
        self.queue[:, ptr:ptr + batch] = keys.t()
        self.queue_ptr[0] = (ptr + batch) % self.K

    @torch.no_grad()
    def _batch_shuffle_single_gpu(self, x):
        idx_shuffle = torch.randperm(x.shape[0], device=x.device)
        return x[idx_shuffle], torch.argsort(idx_shuffle)

    def forward(self, im_q, im_k):
        q = F.normalize(self.encoder_q(im_q), dim=1)  # N x C
        with torch.no_grad():
            self._momentum_update_key_encoder()
            im_k, idx_unshuffle = self._batch_shuffle_single_gpu(im_k)
            k = F.normalize(self.encoder_k(im_k), dim=1)
            k = k[idx_unshuffle]  # N x C, back in order
        l_pos = torch.einsum("nc,nc->n", [q, k]).unsqueeze(-1)  # N x 1
        l_neg = torch.einsum("nc,ck->nk", [q, self.queue.clone().detach()])  # N x K
        logits = torch.cat([l_pos, l_neg], dim=1) / self.T  # N x (1 + K)
        labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        self._dequeue_and_enqueue(k)
        return logits, labels


class MemoryBank(nn.Module):
    """The memory-bank baseline as InstDisc's code writes it: one feature per training image,
    random unit vectors to start; a query's positive is its image's own entry, its K negatives are
    entries drawn uniformly, and after the step the entry moves to normalize(m * entry + (1 - m) * q)."""

    def __init__(self, num_images, dim=128, K=4096, m=0.5, T=0.1, width=16, splits=8):
        super().__init__()
        self.K, self.m, self.T = K, m, T
        self.encoder_q = CifarResNet18(width, dim, splits)
        self.register_buffer("memory", F.normalize(torch.randn(num_images, dim), dim=1))

    def forward(self, im_q, index):
        q = F.normalize(self.encoder_q(im_q), dim=1)  # N x C
        n = q.shape[0]
        picks = torch.randint(self.memory.shape[0], (n, self.K))
        weight = self.memory[torch.cat([index.view(n, 1), picks], dim=1)]  # N x (1 + K) x C, a copy
        logits = torch.bmm(weight, q.unsqueeze(2)).squeeze(2) / self.T  # N x (1 + K)
        labels = torch.zeros(n, dtype=torch.long, device=logits.device)
        with torch.no_grad():
            self.memory[index] = F.normalize(self.memory[index] * self.m + q * (1.0 - self.m), dim=1)
        return logits, labels


class TwoCropsTransform:
    def __init__(self, transform):
        self.transform = transform

    def __call__(self, x):
        return [self.transform(x), self.transform(x)]


class IndexedDataset(torch.utils.data.Dataset):
    """(views, index) instead of (views, label): the memory bank needs each image's index."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        return self.dataset[i][0], i


def cifar_transform():
    """The CIFAR recipe of moco/augment/augment.h, as the official notebook writes it."""
    from torchvision import transforms
    return transforms.Compose([
        transforms.RandomResizedCrop(32),
        transforms.RandomHorizontalFlip(p=0.5),
        transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        transforms.RandomGrayscale(p=0.2),
        transforms.ToTensor(),
        transforms.Normalize(CIFAR_MEAN, CIFAR_STD),
    ])


def v2_transform():
    """MoCo v2's training views (main_moco.py with --aug-plus), 224 px: the V2 recipe of
    moco/augment/augment.h. Its GaussianBlur is MoCo's own: PIL's ImageFilter.GaussianBlur with a
    radius drawn in [0.1, 2]."""
    import random
    from PIL import ImageFilter
    from torchvision import transforms

    class GaussianBlur:
        def __init__(self, sigma=(0.1, 2.0)):
            self.sigma = sigma

        def __call__(self, x):
            return x.filter(ImageFilter.GaussianBlur(radius=random.uniform(self.sigma[0], self.sigma[1])))

    return transforms.Compose([
        transforms.RandomResizedCrop(224, scale=(0.2, 1.0)),
        transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        transforms.RandomGrayscale(p=0.2),
        transforms.RandomApply([GaussianBlur([0.1, 2.0])], p=0.5),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def data_dir():
    if os.environ.get("MOCO_DATA_DIR"):
        return os.environ["MOCO_DATA_DIR"]
    cache = os.environ.get("MOCO_CACHE") or os.path.expanduser("~/.cache/moco-cpp")
    return os.path.join(cache, "data")


def peak_rss_mib():
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return own, workers


def log(message):
    print(message, file=sys.stderr, flush=True)


def train(args):
    torch.manual_seed(0)
    dataset = None
    if args.mode == "dataloader":
        from torchvision import datasets
        dataset = datasets.ImageFolder(os.path.join(data_dir(), "cifar10-jpeg", "train"),
                                       TwoCropsTransform(cifar_transform()))
        if args.train_images > 0:  # the first train_images / classes of each class
            per_class = args.train_images // len(dataset.classes)
            taken, keep = {}, []
            for i, (_, label) in enumerate(dataset.samples):
                if taken.get(label, 0) < per_class:
                    taken[label] = taken.get(label, 0) + 1
                    keep.append(i)
            dataset = torch.utils.data.Subset(dataset, keep)
    if args.model == "memory_bank":
        if dataset is None:
            sys.exit("moco_reference: --model=memory_bank needs --mode=dataloader (the bank is indexed by image)")
        model = MemoryBank(len(dataset), K=args.queue, width=args.width, splits=args.bn_splits)
    else:
        model = MoCo(K=args.queue, width=args.width, splits=args.bn_splits)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.06 * args.batch / 256, momentum=0.9, weight_decay=5e-4)
    criterion = nn.CrossEntropyLoss()
    model.train()

    if args.mode == "memory":
        fixed = (torch.randn(args.batch, 3, 32, 32).contiguous(memory_format=fmt),
                 torch.randn(args.batch, 3, 32, 32).contiguous(memory_format=fmt))
        batches = iter(lambda: fixed, None)
    else:
        loader = torch.utils.data.DataLoader(IndexedDataset(dataset), batch_size=args.batch, shuffle=True,
                                             num_workers=args.workers, pin_memory=False, drop_last=True,
                                             persistent_workers=args.workers > 0)

        def epochs():
            while True:
                for views, index in loader:
                    # MoCo's second input is the key view; the memory bank's, the images' indices.
                    yield views[0], views[1] if args.model == "moco" else index

        batches = epochs()

    step_seconds, wait_seconds, cpu_seconds = [], [], []
    total = args.warmup + args.steps
    for step in range(total):
        start, cpu_start = time.perf_counter(), time.process_time()
        im_q, im_k = next(batches)
        waited = time.perf_counter() - start
        im_q = im_q.contiguous(memory_format=fmt)
        if im_k.dim() == 4:
            im_k = im_k.contiguous(memory_format=fmt)
        # --bf16: the forward pass under CPU bf16 autocast, the usual PyTorch way; the loss in float32.
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            logits, labels = model(im_q, im_k)
        logits = logits.float()
        loss = criterion(logits, labels)
        loss_value = loss.item()
        top1 = (logits.argmax(1) == labels).float().mean().item() * 100
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        elapsed = time.perf_counter() - start
        if step >= args.warmup:
            step_seconds.append(elapsed)
            cpu_seconds.append(time.process_time() - cpu_start)
            wait_seconds.append(waited)
        if step == 0 or (step + 1) % 5 == 0 or step + 1 == total:
            log(f"moco_reference: {args.model} {args.mode} step {step + 1}/{total} loss {loss_value:.4f} "
                f"pretext top-1 {top1:.1f}% {elapsed:.3f} s")
    median = statistics.median(step_seconds)
    extra = {}
    if args.mode == "memory":
        # Per CPU second of this process (DataLoader workers would not count, hence memory mode only).
        extra["images_per_cpu_second"] = args.batch * len(cpu_seconds) / sum(cpu_seconds)
    return {
        **extra,
        "images_per_second": args.batch * len(step_seconds) / sum(step_seconds),
        "images_per_second_median_step": args.batch / median,
        "step_seconds_median": median,
        "step_seconds_min": min(step_seconds),
        "step_seconds_max": max(step_seconds),
        "data_wait_fraction": sum(wait_seconds) / sum(step_seconds),
    }


def augment(args):
    """One core: PIL decode (ImageFolder's loader: open + convert RGB) and two views with ToTensor and
    Normalize, as one DataLoader worker does per image. CIFAR-10: the first images of each class,
    CIFAR recipe at 32 px; ImageNet: the 1,000-image sample (real JPEGs of every size), MoCo v2's
    views at 224 px. Rates are per CPU second of this process."""
    from PIL import Image
    from torchvision import datasets
    torch.set_num_threads(1)
    if args.dataset == "imagenet":
        root = os.path.join(data_dir(), "imagenet-sample", "train")
        chosen = [path for path, _ in datasets.ImageFolder(root).samples][:args.images]
        two, size = TwoCropsTransform(v2_transform()), 224
    else:
        root = os.path.join(data_dir(), "cifar10-jpeg", "train")
        paths = [path for path, _ in datasets.ImageFolder(root).samples]
        per_class = max(1, args.images // 10)
        chosen = [p for i, p in enumerate(paths) if i % 5000 < per_class][:args.images]
        two, size = TwoCropsTransform(cifar_transform()), 32

    def load(path):
        with open(path, "rb") as f:
            return Image.open(f).convert("RGB")

    for path in chosen[:50]:  # warm the file cache and the code paths
        two(load(path))
    # Per core: this process's CPU time (one thread), as Google Benchmark's rates for ours, so that
    # other work on a shared machine does not count; the wall-clock rate is reported beside it.
    start = time.process_time()
    for path in chosen:
        load(path)
    decode_seconds = time.process_time() - start
    start, wall = time.process_time(), time.perf_counter()
    for path in chosen:
        views = two(load(path))
    seconds = time.process_time() - start
    wall = time.perf_counter() - wall
    assert views[0].shape == (3, size, size)
    return {
        "dataset": args.dataset,
        "images": len(chosen),
        "images_per_second": len(chosen) / seconds,
        "images_per_second_wall_clock": len(chosen) / wall,
        "decode_images_per_second": len(chosen) / decode_seconds,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=["memory", "dataloader", "augment"], default="memory")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers (dataloader mode)")
    parser.add_argument("--channels_last", action="store_true", help="model and inputs in channels_last")
    parser.add_argument("--bf16", action="store_true", help="forward pass under torch.autocast('cpu', bfloat16)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before them")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--queue", type=int, default=4096, help="K (MoCo's queue; the memory bank's negatives)")
    parser.add_argument("--width", type=int, default=16, help="ResNet-18 base width (64 in torchvision)")
    parser.add_argument("--bn_splits", type=int, default=8)
    parser.add_argument("--model", choices=["moco", "memory_bank"], default="moco")
    parser.add_argument("--train_images", type=int, default=0,
                        help="dataloader mode: a class-balanced subset of the train split (0: all of it)")
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: one per core)")
    parser.add_argument("--images", type=int, default=2000, help="images timed in augment mode")
    parser.add_argument("--dataset", choices=["cifar", "imagenet"], default="cifar",
                        help="augment mode: CIFAR-10 JPEGs (CIFAR recipe, 32 px) or the ImageNet sample (V2, 224 px)")
    args = parser.parse_args()
    threads = args.threads if args.threads > 0 else os.cpu_count()
    torch.set_num_threads(threads)

    start = time.perf_counter()
    result = augment(args) if args.mode == "augment" else train(args)
    own, workers = peak_rss_mib()
    out = {
        "mode": args.mode,
        "model": args.model,
        "workers": args.workers if args.mode == "dataloader" else 0,
        "channels_last": bool(args.channels_last) if args.mode != "augment" else False,
        "precision": "bf16" if args.bf16 and args.mode != "augment" else "fp32",
        "batch": args.batch,
        "width": args.width,
        "bn_splits": args.bn_splits,
        "queue": args.queue,
        "steps": args.steps if args.mode != "augment" else 0,
        "warmup": args.warmup if args.mode != "augment" else 0,
        "threads": 1 if args.mode == "augment" else threads,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "peak_rss_mib": own,
        "peak_rss_workers_mib": workers,
        "wall_seconds": time.perf_counter() - start,
    }
    out.update(result)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
