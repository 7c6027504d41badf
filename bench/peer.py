#!/usr/bin/python3
"""The benchmark peer: the same workloads as bench/Sources/aidetect-bench in Python PyTorch (Debian's
python3-torch, the same LibTorch build). Usage: peer.py CASE [--iters N] [--warmup W]. Prints one JSON line."""
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
