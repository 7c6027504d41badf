#!/usr/bin/env python3
"""Writes the golden fixtures the Swift tests compare against, with Python torch of the engine's exact version (the
pinned wheel of scripts/libtorch.lock, in .cache/venv-peer from scripts/peer_env.sh) and torchvision.

    .cache/venv-peer/bin/python scripts/make_fixtures.py      (what `make fixtures` runs)

Outputs (small, committed):
  Tests/TorchTests/Fixtures/ops.safetensors      tensor ops, functional NN ops, losses, autograd
  Tests/NNTests/Fixtures/layers.safetensors      layers, optimisers, schedulers
  Tests/ModelsTests/Fixtures/models.safetensors  registry models vs reference implementations
  Tests/ModelsTests/Fixtures/ckpt_zip.pt, ckpt_legacy.pt   checkpoint formats for the importer

Model weights are not stored: both sides fill them from torch.manual_seed(0) in sorted-key order
(see `seeded_fill`), which LibTorch reproduces bit for bit, so only inputs and outputs are committed.
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import st  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
torch.set_num_threads(1)


def out_path(target, name):
    d = os.path.join(ROOT, "Tests", target, "Fixtures")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, name)


# ---------------------------------------------------------------------------------------------------
# Ops
def make_ops():
    g = torch.Generator().manual_seed(1234)
    r = lambda *s: torch.randn(*s, generator=g)
    T = {}

    def case(name, inputs, out):
        for i, t in enumerate(inputs):
            T[f"{name}/in{i}"] = t
        if isinstance(out, (tuple, list)):
            for i, t in enumerate(out):
                T[f"{name}/out{i}"] = t
        else:
            T[f"{name}/out"] = out

    x = r(3, 4)
    for op, f in [("neg", torch.neg), ("abs", torch.abs), ("exp", torch.exp), ("tanh", torch.tanh),
                  ("sigmoid", torch.sigmoid), ("relu", torch.relu), ("gelu", F.gelu),
                  ("gelu_tanh", lambda a: F.gelu(a, approximate="tanh")), ("silu", F.silu),
                  ("hardswish", F.hardswish), ("softplus", F.softplus), ("erf", torch.erf),
                  ("leaky_relu", lambda a: F.leaky_relu(a, 0.1)), ("elu", F.elu), ("relu6", F.relu6),
                  ("square", torch.square), ("sign", torch.sign), ("floor", torch.floor),
                  ("log_sigmoid", F.logsigmoid)]:
        case(op, [x], f(x))
    pos = x.abs() + 0.1
    for op, f in [("log", torch.log), ("sqrt", torch.sqrt), ("rsqrt", torch.rsqrt), ("reciprocal", torch.reciprocal),
                  ("log1p", torch.log1p)]:
        case(op, [pos], f(pos))
    y, row = r(3, 4), r(4)
    case("add", [x, row], x + row)
    case("sub", [x, y], x - y)
    case("mul", [x, y], x * y)
    case("div", [x, pos], x / pos)
    case("pow", [pos, y], torch.pow(pos, y))
    case("maximum", [x, y], torch.maximum(x, y))
    case("minimum", [x, y], torch.minimum(x, y))
    case("scalar_affine", [x], (x * 2.5 + 1.0) / 4.0 - 0.5)
    case("rsub_scalar", [x], 3.0 - x)
    w = r(4, 5)
    case("matmul", [x, w], x @ w)
    a3, b3 = r(2, 3, 4), r(2, 4, 5)
    case("bmm", [a3, b3], a3 @ b3)
    z = r(2, 3, 4)
    case("sum_all", [z], z.sum())
    case("sum_dim", [z], z.sum(dim=1))
    case("mean_keep", [z], z.mean(dim=(0, 2), keepdim=True))
    case("amax", [z], z.amax(dim=2))
    case("amin", [z], z.amin(dim=0))
    case("argmax", [z], z.argmax(dim=2))
    case("std", [z], z.std(dim=1))
    case("var", [z], z.var(dim=2))
    case("logsumexp", [z], torch.logsumexp(z, dim=2))
    case("norm", [z], z.norm())
    case("softmax", [z], z.softmax(dim=-1))
    case("log_softmax", [z], z.log_softmax(dim=1))
    case("cumsum", [z], z.cumsum(dim=2))
    case("permute", [z], z.permute(2, 0, 1).contiguous())
    case("transpose", [z], z.transpose(0, 2).contiguous())
    case("reshape", [z], z.reshape(4, 6))
    case("cat", [z, z * 2], torch.cat([z, z * 2], dim=1))
    case("stack", [z, z * 2], torch.stack([z, z * 2], dim=3))
    case("slice_step", [z], z[:, 1:, ::2].contiguous())
    case("flip", [z], z.flip(1, 2))
    case("roll", [z], z.roll(shifts=(1, -1), dims=(1, 2)))
    img = r(1, 2, 5, 6)
    case("pad_reflect", [img], F.pad(img, (1, 2, 2, 1), mode="reflect"))
    case("pad_replicate", [img], F.pad(img, (2, 0, 1, 1), mode="replicate"))
    case("pad_constant", [img], F.pad(img, (1, 1, 0, 2), value=0.5))
    sq = r(4, 4)
    case("tril", [sq], sq.tril(-1))
    case("triu", [sq], sq.triu(1))
    idx = torch.tensor([2, 0, 2])
    case("index_select", [x, idx], x.index_select(0, idx))
    gi = torch.tensor([[0, 3], [1, 1], [2, 0]])
    case("gather", [x, gi], x.gather(1, gi))
    case("where", [x, y], torch.where(x > 0, x, y))
    case("masked_fill", [x], x.masked_fill(x < 0, -7.0))
    case("clamp", [x], x.clamp(-0.5, 0.7))

    # functional NN
    xi, wc, bc = r(2, 4, 9, 8), r(6, 2, 3, 3), r(6)
    case("conv2d", [xi, wc, bc], F.conv2d(xi, wc, bc, stride=2, padding=1, dilation=1, groups=2))
    wd = r(5, 4, 3, 3)
    case("conv2d_dilated", [xi, wd], F.conv2d(xi, wd, None, stride=1, padding=2, dilation=2))
    wt, bt = r(4, 3, 3, 3), r(3)
    case("conv_transpose2d", [xi, wt, bt], F.conv_transpose2d(xi, wt, bt, stride=2, padding=1, output_padding=1))
    case("max_pool2d", [xi], F.max_pool2d(xi, 3, 2, 1, ceil_mode=True))
    case("avg_pool2d", [xi], F.avg_pool2d(xi, 2, 2, 0))
    case("adaptive_avg_pool2d", [xi], F.adaptive_avg_pool2d(xi, (3, 5)))
    case("adaptive_max_pool2d", [xi], F.adaptive_max_pool2d(xi, (2, 2)))
    rm, rv, gw, gb = r(4) * 0.1, torch.rand(4, generator=g) + 0.5, r(4), r(4)
    rm2, rv2 = rm.clone(), rv.clone()
    bn_train = F.batch_norm(xi, rm2, rv2, gw, gb, training=True, momentum=0.1, eps=1e-5)
    case("batch_norm_train", [xi, rm, rv, gw, gb], [bn_train, rm2, rv2])
    case("batch_norm_eval", [xi, rm, rv, gw, gb], F.batch_norm(xi, rm, rv, gw, gb, training=False, eps=1e-5))
    lw, lb = r(8), r(8)
    case("layer_norm", [xi, lw, lb], F.layer_norm(xi, (8,), lw, lb, eps=1e-5))
    case("group_norm", [xi, gw, gb], F.group_norm(xi, 2, gw, gb, eps=1e-5))
    case("interp_bilinear", [xi], F.interpolate(xi, size=(13, 5), mode="bilinear", align_corners=False))
    case("interp_bilinear_ac", [xi], F.interpolate(xi, size=(4, 11), mode="bilinear", align_corners=True))
    case("interp_bicubic", [xi], F.interpolate(xi, size=(12, 12), mode="bicubic", align_corners=False))
    case("interp_nearest", [xi], F.interpolate(xi, size=(18, 16), mode="nearest"))
    case("interp_bilinear_aa", [xi], F.interpolate(xi, size=(4, 3), mode="bilinear", antialias=True))
    case("pixel_shuffle", [xi], F.pixel_shuffle(xi, 2))
    emb, ids = r(10, 3), torch.tensor([[1, 9], [0, 4]])
    case("embedding", [emb, ids], F.embedding(ids, emb))
    lwt, lbt = r(5, 8), r(5)
    case("linear", [xi, lwt, lbt], F.linear(xi, lwt, lbt))

    # losses
    logits, tgt = r(6, 4), torch.tensor([0, 3, 1, 1, 2, 0])
    case("cross_entropy", [logits, tgt], F.cross_entropy(logits, tgt))
    case("cross_entropy_ls", [logits, tgt], F.cross_entropy(logits, tgt, label_smoothing=0.1))
    case("nll", [logits.log_softmax(1), tgt], F.nll_loss(logits.log_softmax(1), tgt))
    bl, bt2, pw = r(6), torch.tensor([1., 0, 1, 1, 0, 0]), torch.tensor([2.0])
    case("bce_logits", [bl, bt2], F.binary_cross_entropy_with_logits(bl, bt2))
    case("bce_logits_pw", [bl, bt2, pw], F.binary_cross_entropy_with_logits(bl, bt2, pos_weight=pw))
    case("bce", [bl.sigmoid(), bt2], F.binary_cross_entropy(bl.sigmoid(), bt2))
    case("mse", [x, y], F.mse_loss(x, y))
    case("mse_sum", [x, y], F.mse_loss(x, y, reduction="sum"))
    case("smooth_l1", [x, y], F.smooth_l1_loss(x, y, beta=0.5))

    # autograd: d/dx, d/dw of sum(tanh(x @ w) * gout)
    xa, wa, go = r(3, 4).requires_grad_(), r(4, 2).requires_grad_(), r(3, 2)
    (torch.tanh(xa @ wa) * go).sum().backward()
    case("grad_tanh_matmul", [xa.detach(), wa.detach(), go], [xa.grad, wa.grad])
    xc = r(1, 2, 6, 6).requires_grad_()
    wcv = r(3, 2, 3, 3).requires_grad_()
    F.max_pool2d(F.conv2d(xc, wcv, padding=1).relu(), 2).pow(2).mean().backward()
    case("grad_conv_pool", [xc.detach(), wcv.detach()], [xc.grad, wcv.grad])
    st.save({k: v for k, v in T.items()}, out_path("TorchTests", "ops.safetensors"))
    print("ops:", len(T), "tensors")

    # TorchScript: a small scripted model with control flow, saved with torch.jit.save.
    class Scripted(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            h = F.relu(self.conv(x)).mean(dim=(2, 3))
            if h.sum() > 0:
                h = h * 2
            return self.fc(h)
    torch.manual_seed(3)
    sm = torch.jit.script(Scripted().eval())
    xs = torch.randn(2, 3, 8, 8, generator=g)
    torch.jit.save(sm, out_path("TorchTests", "scripted.pt"))
    st.save({"in": xs, "out": sm(xs).detach()}, out_path("TorchTests", "scripted_io.safetensors"))


# ---------------------------------------------------------------------------------------------------
# Layers, optimisers
def make_layers():
    g = torch.Generator().manual_seed(99)
    r = lambda *s: torch.randn(*s, generator=g)
    T = {}
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    with torch.no_grad():
        for k, p in mha.state_dict().items():
            p.copy_(r(*p.shape) * 0.3)
            T[f"mha/param/{k}"] = p.clone()
    xq = r(2, 5, 8)
    out, attn = mha(xq, xq, xq, need_weights=True, average_attn_weights=False)
    T["mha/in"], T["mha/out"], T["mha/attn"] = xq, out, attn
    mask = torch.triu(torch.full((5, 5), float("-inf")), 1)
    T["mha/mask"], T["mha/out_masked"] = mask, mha(xq, xq, xq, attn_mask=mask, need_weights=False)[0]

    target = r(6)
    p0 = r(6)
    T["opt/p0"], T["opt/target"] = p0, target
    configs = {
        "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1),
        "sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
        "sgd_nesterov": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
        "adam": lambda ps: torch.optim.Adam(ps, lr=0.05, weight_decay=0.1),
        "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.05, weight_decay=0.1),
    }
    for name, make in configs.items():
        p = p0.clone().requires_grad_()
        opt = make([p])
        for _ in range(7):
            opt.zero_grad()
            ((p - target) ** 2 * torch.arange(1, 7)).sum().backward()
            opt.step()
        T[f"opt/{name}"] = p.detach().clone()
    # clip_grad_norm_
    p = p0.clone().requires_grad_()
    ((p - target) ** 2).sum().backward()
    norm = torch.nn.utils.clip_grad_norm_([p], 0.5)
    T["clip/norm"], T["clip/grad"] = norm.reshape(1), p.grad.clone()
    st.save(T, out_path("NNTests", "layers.safetensors"))
    print("layers:", len(T), "tensors")


# ---------------------------------------------------------------------------------------------------
# Models
def seeded_fill(model):
    """Deterministic weights shared with Swift (ModelsTests.seededFill): sorted keys, one generator."""
    gen = torch.Generator().manual_seed(0)
    sd = model.state_dict()
    with torch.no_grad():
        for k in sorted(sd):
            t = sd[k]
            if k.endswith("num_batches_tracked"):
                continue
            if k.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif t.dim() >= 2:
                fan_in = t[0].numel()
                t.copy_(torch.randn(t.shape, generator=gen) / math.sqrt(fan_in))
            else:
                t.copy_(torch.randn(t.shape, generator=gen) * 0.1)
    model.eval()
    return model


class CifarBlock(nn.Module):  # akamaster BasicBlock, option A
    def __init__(self, inp, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pad = planes // 4 if (stride != 1 or inp != planes) else None

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        sc = x if self.pad is None else F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + sc)


class CifarResNet(nn.Module):
    def __init__(self, depth, classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        inp = 16
        for i, planes in enumerate([16, 32, 64]):
            blocks = []
            for b in range(n):
                blocks.append(CifarBlock(inp, planes, 2 if (b == 0 and i > 0) else 1))
                inp = planes
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.linear = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(F.adaptive_avg_pool2d(x, 1).flatten(1))


class TimmBlock(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.norm1 = nn.LayerNorm(d, eps=1e-6)
        self.attn = nn.Module()
        self.attn.qkv = nn.Linear(d, 3 * d)
        self.attn.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(d, 4 * d)
        self.mlp.fc2 = nn.Linear(4 * d, d)

    def forward(self, x):
        B, N, C = x.shape
        y = self.norm1(x)
        qkv = self.attn.qkv(y).reshape(B, N, 3, self.h, C // self.h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = (q @ k.transpose(-2, -1) * (C // self.h) ** -0.5).softmax(-1)
        x = x + self.attn.proj((a @ v).transpose(1, 2).reshape(B, N, C))
        return x + self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))


class TimmViT(nn.Module):
    def __init__(self, img, patch, d, depth, h, classes):
        super().__init__()
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, d, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, (img // patch) ** 2 + 1, d))
        self.blocks = nn.Sequential(*[TimmBlock(d, h) for _ in range(depth)])
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])


class LeNetRef(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                                      nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                                        nn.Linear(84, 1))

    def forward(self, x):
        return self.classifier(self.features(x))


def make_models():
    import torchvision
    T = {}

    def record(name, model, shape):
        seeded_fill(model)
        g = torch.Generator().manual_seed(7)
        x = torch.randn(*shape, generator=g)
        with torch.no_grad():
            y = model(x)
        if isinstance(y, dict):
            y = y["out"]
        T[f"{name}/in"], T[f"{name}/out"] = x, y
        print(f"  {name}: in {tuple(x.shape)} -> out {tuple(y.shape)}")

    record("resnet18", torchvision.models.resnet18(num_classes=1), (2, 3, 64, 64))
    record("resnet50", torchvision.models.resnet50(num_classes=1), (1, 3, 64, 64))
    record("resnext50_32x4d", torchvision.models.resnext50_32x4d(num_classes=1), (1, 3, 64, 64))
    record("resnext101_32x8d", torchvision.models.resnext101_32x8d(num_classes=1), (1, 3, 32, 32))
    import timm  # the reference layout for Swin (pip install timm into the peer venv; make fixtures does)
    swin = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, num_classes=1)
    record("swin_tiny_patch4_window7_224", swin, (1, 3, 224, 224))
    with torch.no_grad():  # the pooled 768-d features too: one logit alone is a thin check
        T["swin_tiny_patch4_window7_224/features"] = swin.forward_features(T["swin_tiny_patch4_window7_224/in"]).mean((1, 2))
    record("fcn_resnet50", torchvision.models.segmentation.fcn_resnet50(weights=None, weights_backbone=None,
                                                                        num_classes=1, aux_loss=False), (1, 3, 48, 40))
    record("resnet20", CifarResNet(20), (2, 3, 32, 32))
    record("vit_tiny_patch4_32", TimmViT(32, 4, 192, 6, 3, 1), (2, 3, 32, 32))
    record("lenet_baseline", LeNetRef(), (2, 3, 32, 32))
    try:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".cache", "pretrained"))  # scripts/fetch_pretrained.sh
        from efficientnet_lite_pytorch import EfficientNet  # pip download efficientnet-lite-pytorch (reference)
        eff = EfficientNet.from_name("efficientnet-lite0", num_classes=1, image_size=None)  # dynamic TF SAME padding
        record("efficientnet_lite0", eff, (1, 3, 64, 80))
    except ImportError:
        print("  efficientnet_lite0: reference package not found in .cache/pretrained/efficientnet_lite_pytorch: run scripts/fetch_pretrained.sh (skipped)")
    st.save(T, out_path("ModelsTests", "models.safetensors"))

    # Checkpoint formats for the importer: zip (default) and legacy, with a non-contiguous view and a
    # DataParallel-style prefix.
    m = CifarResNet(8, classes=3)
    seeded_fill(m)
    sd = {"module." + k: v for k, v in m.state_dict().items()}
    big = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    sd["module.view_t"] = big.t()            # strided view sharing storage
    sd["module.view_slice"] = big[1:3, 2:5]  # offset view
    torch.save({"state_dict": sd, "epoch": 3}, out_path("ModelsTests", "ckpt_zip.pt"))
    torch.save({"state_dict": sd, "epoch": 3}, out_path("ModelsTests", "ckpt_legacy.pt"),
               _use_new_zipfile_serialization=False)
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        st.save({"in": x, "out": m(x), "view_t": big.t().contiguous(), "view_slice": big[1:3, 2:5].contiguous()},
                out_path("ModelsTests", "ckpt_expected.safetensors"))


if __name__ == "__main__":
    make_ops()
    make_layers()
    make_models()
