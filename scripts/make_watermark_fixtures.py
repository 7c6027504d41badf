#!/usr/bin/env python3
"""Golden fixtures for the invisible-watermark decoder, made with the reference encoder and decoder (PyPI
`invisible-watermark` 0.2.0, imported as imwatermark, with opencv-python-headless, PyWavelets, numpy<2 and pillow;
install it with --no-deps: its RivaGAN module imports torch at load time, which the dwtDct method never uses, so an
empty `torch` package on PYTHONPATH does):

  wm-sdxl.png  SDXL's 48 bits, embedded as the SDXL pipelines do (RGB pixels handed over as if BGR)
  wm-sd1.png   "StableDiffusionV1" as bytes, embedded as the SD 1.x scripts do (RGB converted to BGR first)
  wm-none.png  the same 256x256 crop of samples/real-P1000827.jpg, unmarked
  wm-expected.json  what the reference decoder reads from each file, for 48 and 136 bits, in both channel orders

written to Tests/ForensicsTests/Fixtures. Our decoder must read exactly the same bits.
    python3 scripts/make_watermark_fixtures.py
"""
import json, os
import numpy as np
from PIL import Image
from imwatermark import WatermarkEncoder, WatermarkDecoder

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
out = os.path.join(root, "Tests/ForensicsTests/Fixtures")
rgb = np.array(Image.open(os.path.join(root, "samples/real-P1000827.jpg")).convert("RGB"))
h, w, _ = rgb.shape
crop = np.ascontiguousarray(rgb[(h - 256) // 2:(h - 256) // 2 + 256, (w - 256) // 2:(w - 256) // 2 + 256])
Image.fromarray(crop).save(os.path.join(out, "wm-none.png"))

sdxl_bits = [int(b) for b in bin(0b101100111110110010010000011110111011000110011110)[2:]]
enc = WatermarkEncoder()
enc.set_watermark("bits", sdxl_bits)
Image.fromarray(enc.encode(crop.copy(), "dwtDct")).save(os.path.join(out, "wm-sdxl.png"))  # RGB given as BGR

enc = WatermarkEncoder()
enc.set_watermark("bytes", "StableDiffusionV1".encode("utf-8"))
bgr = enc.encode(np.ascontiguousarray(crop[:, :, ::-1]), "dwtDct")
Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1])).save(os.path.join(out, "wm-sd1.png"))

expected = {}
for name in ("wm-none.png", "wm-sdxl.png", "wm-sd1.png"):
    pixels = np.array(Image.open(os.path.join(out, name)).convert("RGB"))
    expected[name] = {}
    for layout, arr in (("rgb", np.ascontiguousarray(pixels[:, :, ::-1])), ("swapped", pixels)):
        for n in (48, 136):
            bits = WatermarkDecoder("bits", n).decode(arr, "dwtDct")
            expected[name][f"{layout}-{n}"] = "".join("1" if b else "0" for b in bits)
    e = expected[name]
    print(name, "SDXL errors (swapped):", sum(a != b for a, b in zip(e["swapped-48"], "".join(map(str, sdxl_bits)))),
          "SD1 errors (rgb):", sum(a != b for a, b in zip(e["rgb-136"], "".join(f"{c:08b}" for c in b"StableDiffusionV1"))))
json.dump(expected, open(os.path.join(out, "wm-expected.json"), "w"), indent=1)
