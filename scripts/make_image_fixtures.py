#!/usr/bin/python3
"""Writes the small image fixtures of Tests/ImagingTests/Fixtures with PIL (python3-pil), heif-enc
(libheif-examples), avifenc (libavif-bin) and an Adobe-RGB-compatible ICC profile (icc-profiles-free):

    apt-get install python3-pil libheif-examples libavif-bin icc-profiles-free
    /usr/bin/python3 scripts/make_image_fixtures.py

`expected.json` records, per file, the size and mean colour that PIL decodes (the reference the Swift
decoder must agree with); `resize.safetensors` holds PIL resize results for every filter.
"""
import io
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import st  # noqa: E402
import torch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "ImagingTests", "Fixtures")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(5)


def photo(w, h):
    """A smooth colourful test pattern with some texture (deterministic)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 128 + 100 * np.sin(x / 5.0) * np.cos(y / 7.0)
    g = 255 * x / max(w - 1, 1)
    b = 255 * y / max(h - 1, 1)
    img = np.stack([r, g, b], -1) + rng.normal(0, 6, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


expected = {}


def save(name, im, **kw):
    path = os.path.join(OUT, name)
    im.save(path, **kw)
    record(name)


def record(name, orientation_applied=False):
    ref = Image.open(os.path.join(OUT, name))
    ref.seek(0)
    if orientation_applied:
        from PIL import ImageOps
        ref = ImageOps.exif_transpose(ref)
    rgba = ref.convert("RGBA")
    a = np.asarray(rgba).astype(np.float64)
    alpha = a[..., 3:4] / 255.0
    rgb = a[..., :3] * alpha + 255 * (1 - alpha)  # composite on white, as the Swift decoder does
    expected[name] = {"width": rgba.width, "height": rgba.height, "mean": [round(float(v), 3) for v in rgb.mean((0, 1))]}


base = Image.fromarray(photo(24, 16))
save("rgb.png", base)
rgba = base.copy()
rgba.putalpha(Image.fromarray((np.tile(np.linspace(0, 255, 24), (16, 1))).astype(np.uint8)))
save("rgba.png", rgba)
save("palette.png", base.convert("P", palette=Image.ADAPTIVE, colors=16))
save("gray.png", base.convert("L"))
g16 = Image.fromarray((np.asarray(base.convert("L")).astype(np.uint16) * 257), mode="I;16")
g16.save(os.path.join(OUT, "gray16.png"))
# PIL clips I;16 to 255 when converting to RGB, so the 8-bit source is the reference for the 16-bit file.
expected["gray16.png"] = dict(expected["gray.png"])
save("q90_444.jpg", base, quality=90, subsampling=0)
save("q75_420.jpg", base, quality=75, subsampling=2)
save("gray.jpg", base.convert("L"), quality=90)
save("cmyk.jpg", base.convert("CMYK"), quality=95)
save("progressive.jpg", base, quality=85, progressive=True)
# EXIF orientation 6: stored 24x16, displayed 16x24.
exif = Image.Exif()
exif[0x0112] = 6
base.save(os.path.join(OUT, "orient6.jpg"), quality=95, exif=exif.tobytes())
record("orient6.jpg", orientation_applied=True)
icc = open("/usr/share/color/icc/compatibleWithAdobeRGB1998.icc", "rb").read()
base.save(os.path.join(OUT, "adobergb.jpg"), quality=95, icc_profile=icc)
expected["adobergb.jpg"] = {"width": 24, "height": 16, "icc": True}
save("lossy.webp", base, quality=80)
save("lossless_alpha.webp", rgba, lossless=True)
frames = [base, Image.fromarray(255 - np.asarray(base))]
frames[0].save(os.path.join(OUT, "anim.webp"), save_all=True, append_images=frames[1:], duration=100, loop=0)
record("anim.webp")
save("rgb.tiff", base)
frames[0].save(os.path.join(OUT, "multipage.tiff"), save_all=True, append_images=frames[1:])
record("multipage.tiff")
gif = [f.convert("P", palette=Image.ADAPTIVE, colors=32) for f in frames]
gif[0].save(os.path.join(OUT, "anim.gif"), save_all=True, append_images=gif[1:], duration=100, loop=0)
record("anim.gif")
save("rgb.bmp", base)

# HEIC and AVIF through the command-line encoders (PIL cannot write them).
with tempfile.TemporaryDirectory() as tmp:
    src = os.path.join(tmp, "src.png")
    Image.fromarray(photo(64, 48)).save(src)
    subprocess.run(["heif-enc", "-q", "90", "-o", os.path.join(OUT, "small.heic"), src], check=True, capture_output=True)
    subprocess.run(["avifenc", "-s", "8", "--min", "5", "--max", "15", src, os.path.join(OUT, "small.avif")], check=True, capture_output=True)
    ref = np.asarray(Image.open(src).convert("RGB")).astype(np.float64)
    for n in ["small.heic", "small.avif"]:  # lossy: compare with the source's mean, loosely
        expected[n] = {"width": 64, "height": 48, "mean": [round(float(v), 3) for v in ref.mean((0, 1))], "lossy": True}

with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)

# Resize references: PIL's filters on a 37x23 image, down and up.
src = Image.fromarray(photo(37, 23))
T = {"src": torch.from_numpy(np.asarray(src).copy())}
filters = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS, "area": Image.BOX}
for name, flt in filters.items():
    for (w, h) in [(16, 10), (60, 41), (37, 9)]:
        T[f"{name}/{w}x{h}"] = torch.from_numpy(np.asarray(src.resize((w, h), flt)).copy())
st.save(T, os.path.join(OUT, "resize.safetensors"))
print("wrote", len(expected), "images and", len(T), "resize references to", OUT)
