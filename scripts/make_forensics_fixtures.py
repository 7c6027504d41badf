#!/usr/bin/env python3
"""Writes Tests/ForensicsTests/Fixtures: the metadata of a few ../shared originals without their pixels
(JPEG: every segment before the scan, then EOI; PNG: every chunk but IDAT), so the fixtures stay small; and one
whole C2PA-signed file (c2pa-rs's C.jpg, MIT/Apache-2.0, 132 KB), whose manifest validates against its bytes.
Usage: python3 scripts/make_forensics_fixtures.py [../shared/data]"""
import io, os, struct, sys, tarfile

data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../shared/data")
out = os.path.join(os.path.dirname(__file__), "../Tests/ForensicsTests/Fixtures")
os.makedirs(out, exist_ok=True)
wanted = {
    "provenance-originals.tar": {
        "fake/a1111-deliberate-v2/img__other__metadata-example.jpeg": "a1111-usercomment.jpg",
        "fake/comfyui-sd15-hypernetwork/hypernetworks__hypernetwork_example_output.png": "comfyui-hypernetwork.png",
        "fake/dalle2/output__renders__time-travelers-99427836__dal2-1.jpg": "dalle2-exif.jpg",
        "real/imagenet/n03770679_minivan.JPEG": "camera-nokia.jpg",
        "real/imagenet/n04357314_sunscreen.JPEG": "editor-paintnet.jpg",
    },
    "c2pa-fixtures.tar": {
        "sdk/tests/fixtures/C.jpg": "c2pa-created.jpg",
        "sdk/tests/fixtures/CA.jpg": "c2pa-edited.jpg",
    },
}

def jpeg_header(b):
    i, outb = 2, bytearray(b[:2])
    while i + 4 <= len(b):
        marker = b[i + 1]
        if marker == 0xDA:
            break
        n = struct.unpack(">H", b[i + 2:i + 4])[0]
        outb += b[i:i + 2 + n]
        i += 2 + n
    return bytes(outb + b"\xff\xd9")

def png_without_idat(b):
    i, outb = 8, bytearray(b[:8])
    while i + 8 <= len(b):
        n = struct.unpack(">I", b[i:i + 4])[0]
        kind = b[i + 4:i + 8]
        if kind != b"IDAT":
            outb += b[i:i + 12 + n]
        i += 12 + n
    return bytes(outb)

whole = {"c2pa-fixtures.tar": {"sdk/tests/fixtures/C.jpg": "c2pa-signed-whole.jpg"}}

for tar, files in whole.items():
    with tarfile.open(os.path.join(data, tar)) as t:
        for member, name in files.items():
            b = t.extractfile(member).read()
            with open(os.path.join(out, name), "wb") as f:
                f.write(b)
            print(f"{name}: {len(b)} bytes (whole)")

for tar, files in wanted.items():
    with tarfile.open(os.path.join(data, tar)) as t:
        for member, name in files.items():
            b = t.extractfile(member).read()
            small = png_without_idat(b) if b.startswith(b"\x89PNG") else jpeg_header(b)
            with open(os.path.join(out, name), "wb") as f:
                f.write(small)
            print(f"{name}: {len(small)} bytes (from {len(b)})")
