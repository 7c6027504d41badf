#!/usr/bin/env python3
"""The benchmark peer: the same workloads as bench/Sources/aidetect-bench in Python PyTorch of the engine's exact
version (.cache/venv-peer, scripts/peer_env.sh: the same pinned wheel the Swift side links). Usage: peer.py CASE [--iters N] [--warmup W]. Prints one JSON line."""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
from make_fixtures import TimmViT  # noqa: E402  (timm-layout ViT, as the Swift registry's)

p = argparse.ArgumentParser()
p.add_argument("case")
p.add_argument("--iters", type=int, default=20)
p.add_argument("--warmup", type=int, default=3)
a = p.parse_args()
threads = int(os.environ.get("AIDETECT_THREADS", os.cpu_count()))
torch.set_num_threads(threads)
torch.manual_seed(0)


def cnn32():
    layers, c, side = [], 3, 32
    for _ in range(3):
        layers += [nn.Conv2d(c, 64, 3), nn.ReLU(), nn.MaxPool2d(2)]
        c, side = 64, (side - 2) // 2
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(64 * side * side, 128), nn.ReLU(), nn.Linear(128, 1))


def timed(body):
    for _ in range(a.warmup):
        body()
    t = []
    for _ in range(a.iters):
        s = time.perf_counter()
        body()
        t.append((time.perf_counter() - s) * 1000)
    return t


extra = {}
if a.case == "cnn32_train_b64":
    model = cnn32().train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.rand(64, 3, 32, 32), torch.randint(0, 2, (64, 1)).float()

    def step():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        loss.backward()
        opt.step()
        loss.item()
    times = timed(step)
elif a.case == "fgsm_b64":
    model = cnn32().eval()
    x, y = torch.rand(64, 3, 32, 32), torch.ones(64, 1)

    def fgsm():
        xi = x.detach().requires_grad_()
        loss = F.binary_cross_entropy_with_logits(model(xi), y)
        g, = torch.autograd.grad(loss, [xi])
        adv = (xi.detach() + 0.01 * g.sign()).clamp(0, 1)
        adv.sum().item()
    times = timed(fgsm)
elif a.case in ("resnet18_infer_b8_224", "resnet50_infer_b8_224", "vit_small_infer_b8_224"):
    import torchvision
    if a.case.startswith("resnet18"):
        model = torchvision.models.resnet18(num_classes=1)
    elif a.case.startswith("resnet50"):
        model = torchvision.models.resnet50(num_classes=1)
    else:
        model = TimmViT(224, 16, 384, 12, 6, 1)
    model.eval()
    x = torch.randn(8, 3, 224, 224)

    def infer():
        with torch.no_grad():
            model(x).sum().item()
    times = timed(infer)
elif a.case in ("clip_b16_infer_b1", "clip_b16_infer_b8"):
    # The default detector's encoder as the Swift case runs it: CLIP ViT-B/16 (OpenAI layout: ln_pre, pre-LN blocks with
    # QuickGELU, torch's fused attention), the class token of every block; fp32, random weights.
    class Block(nn.Module):
        def __init__(self, w=768, heads=12):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(w), nn.LayerNorm(w)
            self.qkv, self.out = nn.Linear(w, 3 * w), nn.Linear(w, w)
            self.c_fc, self.c_proj = nn.Linear(w, 4 * w), nn.Linear(4 * w, w)
            self.heads = heads

        def forward(self, h):
            n, l, w = h.shape
            q, k, v = (t.reshape(n, l, self.heads, w // self.heads).transpose(1, 2) for t in self.qkv(self.ln_1(h)).chunk(3, -1))
            h = h + self.out(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, l, w))
            f = self.c_fc(self.ln_2(h))
            return h + self.c_proj(f * torch.sigmoid(1.702 * f))

    class CLIPVision(nn.Module):
        def __init__(self, w=768):
            super().__init__()
            self.conv1 = nn.Conv2d(3, w, 16, 16, bias=False)
            self.cls, self.pos = nn.Parameter(torch.randn(w) * 0.02), nn.Parameter(torch.randn(197, w) * 0.02)
            self.ln_pre = nn.LayerNorm(w)
            self.blocks = nn.ModuleList(Block(w) for _ in range(12))

        def forward(self, x):
            p = self.conv1(x).flatten(2).transpose(1, 2)
            h = self.ln_pre(torch.cat([self.cls.expand(x.shape[0], 1, -1), p], 1) + self.pos)
            tokens = []
            for b in self.blocks:
                h = b(h)
                tokens.append(h[:, 0])
            return torch.cat(tokens, 1)
    model = CLIPVision().eval()
    x = torch.randn(8 if a.case.endswith("b8") else 1, 3, 224, 224)

    def infer():
        with torch.no_grad():
            model(x).sum().item()
    times = timed(infer)
elif a.case == "loader_b64_64":
    # The same pipeline as the Swift case: torch DataLoader (one worker process per core), PIL decode from the
    # tar, resize p0.2, square crop p0.5, flip p0.5, rotation p0.2, JPEG p0.3, resize + centre crop to 64,
    # blur p0.2 (torchvision gaussian_blur), colour jitter p0.2, normalise.
    import io
    import random
    import tarfile
    from PIL import Image
    import torchvision.transforms.functional as TF
    path = os.environ.get("BENCH_DATA", "../shared/data/bench256.tar")
    if not os.path.exists(path):
        sys.exit(f"loader_b64_64: {path} not found (set BENCH_DATA)")
    with tarfile.open(path) as t:
        members = sorted((m.name, m.offset_data, m.size) for m in t.getmembers()
                         if m.isfile() and m.name.split("/")[0] in ("real", "fake") and m.name.count("/") >= 2)
    n = 64 * (a.warmup + a.iters)
    step = max(1, len(members) // n)
    picked = [members[i * step] for i in range(min(n, len(members)))]

    class Set(torch.utils.data.Dataset):
        def __len__(self):
            return len(picked)

        def __getitem__(self, i):
            name, off, size = picked[i]
            with open(path, "rb") as f:
                f.seek(off)
                im = Image.open(io.BytesIO(f.read(size))).convert("RGB")
            r = random.Random(i)
            if r.random() < 0.2:
                s = r.uniform(0.5, 1.5)
                im = im.resize((max(8, int(im.width * s)), max(8, int(im.height * s))), Image.BILINEAR)
            if r.random() < 0.5:
                side = max(8, int(min(im.size) * r.uniform(0.6, 1.0)))
                x, y = r.randint(0, im.width - side), r.randint(0, im.height - side)
                im = im.crop((x, y, x + side, y + side))
            if r.random() < 0.5:
                im = im.transpose(Image.FLIP_LEFT_RIGHT)
            if r.random() < 0.2:
                im = im.rotate(r.uniform(-10, 10), resample=Image.BILINEAR)
            if r.random() < 0.3:
                b = io.BytesIO()
                im.save(b, "JPEG", quality=r.randint(60, 100))
                im = Image.open(io.BytesIO(b.getvalue())).convert("RGB")
            im = TF.center_crop(TF.resize(im, 64), 64)
            x = TF.to_tensor(im)
            if r.random() < 0.2:
                sg = r.uniform(0.1, 2.0)
                x = TF.gaussian_blur(x, 2 * max(1, int(-(-3 * sg // 1))) + 1, sg)
            if r.random() < 0.2:
                x = TF.adjust_saturation(TF.adjust_contrast(TF.adjust_brightness(x, r.uniform(0.8, 1.2)), r.uniform(0.8, 1.2)),
                                         r.uniform(0.8, 1.2))
            return TF.normalize(x, [0.5] * 3, [0.5] * 3), 1.0

    loader = iter(torch.utils.data.DataLoader(Set(), batch_size=64, num_workers=os.cpu_count(), prefetch_factor=2))
    # Per-batch times are bimodal (prefetched batches return at once): time the whole pass after the warm-up.
    for _ in range(a.warmup):
        next(loader)[0].sum().item()
    start = time.perf_counter()
    for _ in range(a.iters):
        next(loader)[0].sum().item()
    times = [(time.perf_counter() - start) * 1000 / a.iters]
    extra["workers"] = os.cpu_count()
    extra["images_per_s"] = 64 / (times[0] / 1000)
    # The worker processes' memory: the largest worker's peak (RUSAGE_CHILDREN counts only reaped children).
    rss = 0
    for pid in [w.pid for w in loader._workers]:
        try:
            with open(f"/proc/{pid}/status") as f:
                rss += next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024
        except (OSError, StopIteration):
            pass
    extra["workers_peak_rss_mb"] = rss
elif a.case == "gemm_2048":
    A, B = torch.randn(2048, 2048), torch.randn(2048, 2048)
    times = timed(lambda: (A @ B).sum().item())
    med = sorted(times)[len(times) // 2]
    extra["gflops"] = 2 * 2048 ** 3 / (med / 1000) / 1e9
else:
    sys.exit(f"unknown case {a.case}")
s = sorted(times)
print(json.dumps(dict(case=a.case, side="python", median_ms=s[len(s) // 2], mean_ms=sum(times) / len(times), min_ms=s[0],
                      iters=a.iters, threads=torch.get_num_threads(),
                      peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **extra), sort_keys=True))
