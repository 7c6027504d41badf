#!/usr/bin/env python3
"""Writes the bad-input corpus: >= 10,000 malformed files made from the small images in Tests/ImagingTests/Fixtures,
samples/ and (when present) the HEIC, HEIF, AVIF, TIFF, WebP, PNG, GIF and signed JPEG files of
../shared/data/c2pa-fixtures.tar, deterministically (seeded), with a manifest naming each file's category.

    python3 scripts/make_bad_corpus.py --output .cache/bad-corpus [--seed 0] [--target 10000] [--c2pa TAR] [--small]

Categories: truncated (cut at 14 points), bitflip (1 to 64 flipped bytes, or a header byte), wrong-extension (a good
image under another format's extension), not-an-image (text, HTML, SVG, PDF, ZIP, ELF, gzip under image
extensions), empty (0 bytes), giant-dimensions (headers claiming up to 2^31 pixels a side), bomb (small files that
inflate to gigabytes: PNG pixels, zTXt/iTXt/iCCP text, GIF), polyglot (two formats in one file), random-after-magic
(a format's signature then noise), metadata (hostile EXIF/XMP/C2PA structures in a good image), structural (one lie
in a parsed field or unit of the format: a PNG chunk, JPEG segment, ISO-BMFF box, TIFF IFD entry, GIF block, RIFF
chunk or BMP header field set to an interesting value, removed, doubled, swapped or cut; see
scripts/bad_corpus_mutators.py), byte-level (1-4 stacked libFuzzer-style mutations: inserts, erasures, copies,
shuffles, interesting integers, format tokens, splices of two seeds, repeats), and control (the good seeds
themselves, untouched, which must score exactly as when scanned alone). The structural and byte-level files fill the
corpus up to --target (more for small seeds, which cost least to decode). --small: the test fixtures' seeds and the
first ten categories only (~950 files, for the test suite). Standard library only.
"""
import argparse, csv, io, math, os, random, struct, sys, tarfile, zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bad_corpus_mutators as mut

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".avif")


# Files of c2pa-rs's fixtures used as seeds: every format other than JPEG, and a few signed JPEGs (C2PA boxes in APP11).
C2PA_SEEDS = ("sample1.heic", "sample1.heif", "sample1.avif", "sample1.png", "sample1.gif", "sample1.webp", "mars.webp",
              "test.webp", "test_lossless.webp", "test_xmp.webp", "libpng-test.png", "libpng-test_with_url.png",
              "tiff_poc.tiff", "test.tiff", "MultiPage.tif", "TUSCANY.TIF", "C.jpg", "XCA.jpg", "CACAE-uri-CA.jpg", "boxhash.jpg")


def seeds(small=False, c2pa=None):
    out = []
    for folder in ("Tests/ImagingTests/Fixtures",) + (() if small else ("samples",)):
        d = os.path.join(ROOT, folder)
        for name in sorted(os.listdir(d)):
            if name.lower().endswith(IMAGE_EXT) and not name.startswith("broken"):
                out.append((name, open(os.path.join(d, name), "rb").read()))
    if c2pa and not small and os.path.exists(c2pa):
        with tarfile.open(c2pa) as t:
            members = {os.path.basename(m.name): m for m in t.getmembers() if m.isfile()}
            for name in C2PA_SEEDS:
                if name in members:
                    out.append(("c2pa-" + name, t.extractfile(members[name]).read()))
    return out


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png(width, height, idat, depth=8, colour=0, interlace=0, extra=b""):
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)) + extra
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def zeros_deflated(total, level=9):
    """zlib stream of `total` zero bytes, made in pieces (never holding them all)."""
    c, piece, out, left = zlib.compressobj(level), bytes(1 << 20), [], total
    while left > 0:
        n = min(left, len(piece))
        out.append(c.compress(piece[:n]))
        left -= n
    out.append(c.flush())
    return b"".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--small", action="store_true", help="seeds from the test fixtures only (tiny images; for the test suite)")
    ap.add_argument("--target", type=int, default=10000, help="fill up to this many files with structural and byte-level mutations")
    data = os.environ.get("AIDETECT_DATA", os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--c2pa", default=os.path.join(data, "c2pa-fixtures.tar"), help="c2pa-rs fixtures tar (seeds; skipped if absent)")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.output, exist_ok=True)
    rows = []

    def write(category, name, data, note):
        path = os.path.join(a.output, f"{category}--{name}")
        with open(path, "wb") as f:
            f.write(data)
        rows.append({"file": os.path.basename(path), "category": category, "bytes": len(data), "note": note})

    good = seeds(a.small, a.c2pa)
    for name, data in good:
        write("control", name, data, "untouched seed")
    # Truncations: nothing, one byte, the signature, inside the header, 10 % .. 99 %, one byte short.
    for name, data in good:
        n = len(data)
        cuts = sorted({0, 1, min(8, n - 1), min(24, n - 1), min(100, n - 1), n // 10, n // 4, n // 3, n // 2, 2 * n // 3,
                       3 * n // 4, 9 * n // 10, 99 * n // 100, n - 1})
        cuts = [c for c in cuts if 0 <= c < n]
        for c in cuts:
            write("truncated", f"{c}-{name}", data[:c], f"first {c} of {n} bytes")
        for k in range(14 - len(cuts)):  # same count per seed
            c = rng.randrange(n)
            write("truncated", f"r{k}-{c}-{name}", data[:c], f"first {c} of {n} bytes")
    # Bit flips anywhere, and single bytes in the first 64 (headers).
    for name, data in good:
        for k, flips in enumerate((1, 1, 2, 4, 8, 16, 32, 64)):
            b = bytearray(data)
            for _ in range(flips):
                i = rng.randrange(len(b)); b[i] ^= 1 << rng.randrange(8)
            write("bitflip", f"{k}x{flips}-{name}", bytes(b), f"{flips} random bit flips")
        for k in range(6):
            b = bytearray(data)
            i = rng.randrange(min(64, len(b)))
            b[i] = rng.choice((0x00, 0xFF, b[i] ^ 0x80))
            write("bitflip", f"h{k}-{i}-{name}", bytes(b), f"header byte {i} changed")
    # Good images under another format's extension.
    for name, data in good:
        stem, ext = os.path.splitext(name)
        for other in rng.sample([e for e in (".jpg", ".png", ".webp", ".gif", ".tiff", ".heic") if e != ext.lower()], 3):
            write("wrong-extension", f"{stem}-{ext[1:]}{other}", data, f"{ext} content named {other}")
    # Not images, named as images.
    others = {
        "text": b"hello, this is not an image\n" * 20,
        "html": b"<!doctype html><html><body><script>alert(1)</script><img src=x onerror=alert(2)></body></html>",
        "svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
        "pdf": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
        "zip": b"PK\x03\x04" + bytes(26) + b"PK\x05\x06" + bytes(18),
        "elf": b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HHI", 2, 62, 1) + bytes(40),
        "gzip": b"\x1f\x8b\x08\x00" + bytes(6) + zeros_deflated(1 << 16)[2:-4],
        "json": b'{"width": 100000, "height": 100000, "pixels": []}',
        "nul": bytes(4096),
    }
    for kind, data in others.items():
        for ext in (".jpg", ".png", ".webp", ".heic"):
            write("not-an-image", kind + ext, data, f"{kind} named {ext}")
    for ext in IMAGE_EXT + (".jfif", ".jpe"):
        write("empty", "empty" + ext, b"", "0 bytes")
    # Giant dimensions.
    small_idat = zlib.compress(bytes(64))
    for w, h in ((100000, 100000), (2**31 - 1, 1), (1, 2**31 - 1), (65535, 65535), (0, 0), (0, 10), (10, 0),
                 (2**32 - 1, 2**32 - 1), (30000, 30000), (1 << 20, 16)):
        for colour, depth in ((0, 8), (6, 16)):
            write("giant-dimensions", f"png-{w}x{h}-c{colour}.png", png(w, h, small_idat, depth, colour), f"PNG header {w}x{h}")
    jpegs = [(n, d) for n, d in good if d[:2] == b"\xff\xd8"]
    for n, d in jpegs[:4]:
        i = max(d.find(b"\xff\xc0"), d.find(b"\xff\xc2"))
        if i < 0:
            continue
        for w, h in ((65535, 65535), (0, 0), (1, 65535), (65535, 1), (0, 100)):
            b = bytearray(d); b[i + 5:i + 9] = struct.pack(">HH", h, w)
            write("giant-dimensions", f"jpeg-{w}x{h}-{n}", bytes(b), f"JPEG frame header {w}x{h}")
    gif = next(d for n, d in good if d[:3] == b"GIF")
    for w, h in ((65535, 65535), (0, 0), (65535, 1)):
        b = bytearray(gif); b[6:10] = struct.pack("<HH", w, h)
        write("giant-dimensions", f"gif-screen-{w}x{h}.gif", bytes(b), f"GIF screen {w}x{h}")
    bmp = next(d for n, d in good if d[:2] == b"BM")
    for w, h in ((2**31 - 1, 1), (100000, -100000), (-5, 5), (0, 0), (50000, 50000)):
        b = bytearray(bmp); b[18:26] = struct.pack("<ii", w, h)
        write("giant-dimensions", f"bmp-{w}x{h}.bmp", bytes(b), f"BMP header {w}x{h}")
    webp = next(d for n, d in good if d[:4] == b"RIFF" and b"VP8X" in d[:40]) if any(d[:4] == b"RIFF" and b"VP8X" in d[:40] for _, d in good) else None
    if webp:
        for w, h in ((16384, 16384), (1 << 24, 1 << 24)):
            b = bytearray(webp); i = b.find(b"VP8X")
            b[i + 12:i + 18] = (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
            write("giant-dimensions", f"webp-canvas-{w}x{h}.webp", bytes(b), f"WebP canvas {w}x{h}")
    tiff = next(d for n, d in good if d[:4] in (b"II*\x00", b"MM\x00*"))
    for w in (2**31 - 1, 100000, 0):
        b = bytearray(tiff)
        le = b[:2] == b"II"
        fmt = "<" if le else ">"
        ifd = struct.unpack(fmt + "I", b[4:8])[0]
        count = struct.unpack(fmt + "H", b[ifd:ifd + 2])[0]
        for e in range(count):
            o = ifd + 2 + 12 * e
            tag, typ = struct.unpack(fmt + "HH", b[o:o + 4])
            if tag in (256, 257):
                b[o + 2:o + 12] = struct.pack(fmt + "HII", 4, 1, w)
        write("giant-dimensions", f"tiff-{w}.tiff", bytes(b), f"TIFF ImageWidth/Length {w}")
    # Decompression bombs.
    write("bomb", "png-pixels-20000x20000.png", png(20000, 20000, zeros_deflated(20000 * 20001)), "400 MB of pixels in ~400 KB")
    write("bomb", "png-pixels-rgba16-12000x12000.png", png(12000, 12000, zeros_deflated(12000 * (1 + 12000 * 8)), 16, 6),
          "1.1 GB of pixels")
    write("bomb", "png-interlaced-16000x16000.png", png(16000, 16000, zeros_deflated(16000 * 16001), interlace=1), "interlaced")
    text_bomb = zeros_deflated(1 << 28)
    ok_png = next(d for n, d in good if n == "rgb.png")
    iend = ok_png.rfind(b"IEND") - 4
    for kind, body in ((b"zTXt", b"parameters\x00\x00" + text_bomb), (b"iTXt", b"parameters\x00\x01\x00\x00\x00" + text_bomb),
                       (b"iCCP", b"icc\x00\x00" + text_bomb)):
        write("bomb", f"png-{kind.decode()}-256MB.png", ok_png[:iend] + chunk(kind, body) + ok_png[iend:], f"{kind.decode()} inflating to 256 MB")
    # GIF 65535 x 65535 whose single frame claims the whole screen (LZW codes for a few pixels).
    g = bytearray(gif); g[6:10] = struct.pack("<HH", 65535, 65535)
    i = g.find(b"\x2c")
    if i > 0:
        g[i + 5:i + 9] = struct.pack("<HH", 65535, 65535)
    write("bomb", "gif-frame-65535x65535.gif", bytes(g), "frame claims 4.3 G pixels")
    # Polyglots.
    jpg = jpegs[0][1]
    zipped = b"PK\x03\x04\x14\x00\x00\x00\x00\x00" + bytes(16) + struct.pack("<HH", 5, 0) + b"a.txt" + b"PK\x05\x06" + bytes(18)
    html = b"<html><script>alert(document.cookie)</script></html>"
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n"
    for n, d in good[:10]:
        write("polyglot", f"zip-after-{n}", d + zipped, "a ZIP archive appended")
        write("polyglot", f"html-after-{n}", d + html, "HTML appended")
    write("polyglot", "pdf-then-jpeg.jpg", pdf + jpg, "PDF header, then a JPEG")
    write("polyglot", "html-then-png.png", html + ok_png, "HTML, then a PNG")
    write("polyglot", "png-magic-then-jpeg.png", ok_png[:8] + jpg, "PNG signature on JPEG data")
    write("polyglot", "jpeg-magic-then-png.jpg", jpg[:2] + ok_png, "JPEG SOI on PNG data")
    write("polyglot", "gifar.gif", gif + zipped, "GIF + JAR")
    write("polyglot", "jpeg-in-png-chunk.png", ok_png[:iend] + chunk(b"tEXt", b"x\x00" + jpg) + ok_png[iend:], "a JPEG in a PNG text chunk")
    write("polyglot", "two-jpegs.jpg", jpg + jpg, "two JPEGs back to back")
    write("polyglot", "svg-as-png.png", others["svg"], "SVG named .png")
    # A format's signature, then noise.
    magics = {"jpg": b"\xff\xd8\xff\xe0", "png": b"\x89PNG\r\n\x1a\n", "gif": b"GIF89a", "webp": b"RIFF\x00\x01\x00\x00WEBPVP8 ",
              "bmp": b"BM", "tiff": b"II*\x00", "tif": b"MM\x00*", "heic": b"\x00\x00\x00\x18ftypheic", "avif": b"\x00\x00\x00\x1cftypavif",
              "jxl": b"\xff\x0a"}
    for ext, m in magics.items():
        for k, n in enumerate((0, 1, 7, 16, 64, 256, 1024, 4096, 65536, 12, 33, 500)):
            write("random-after-magic", f"{k}-{n}.{ext}", m + bytes(rng.randrange(256) for _ in range(n)), f"{ext} signature + {n} random bytes")
    # Hostile metadata in a good JPEG: an EXIF IFD with 65535 entries, a loop of IFD offsets, a huge XMP claim,
    # and JUMBF (C2PA) boxes whose lengths lie.
    def app(marker, payload):
        return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload
    exif_many = b"Exif\x00\x00II*\x00\x08\x00\x00\x00" + struct.pack("<H", 65535) + bytes(2000)
    exif_loop = b"Exif\x00\x00II*\x00\x08\x00\x00\x00" + struct.pack("<H", 1) + struct.pack("<HHII", 0x8769, 4, 1, 8) + struct.pack("<I", 8)
    exif_offsets = b"Exif\x00\x00MM\x00*\xff\xff\xff\xf0" + bytes(64)
    xmp = b"http://ns.adobe.com/xap/1.0/\x00" + b"<x:xmpmeta>" + b"<rdf:Description " * 3000
    jumbf_lie = b"JP\x00\x00\x00\x01" + struct.pack(">I", 0xFFFFFFF0) + b"jumb" + struct.pack(">I", 1) + b"jumd" + struct.pack(">Q", 2**62)
    jumbf_deep = b"JP\x00\x00\x00\x01" + (struct.pack(">I", 8 + 4000) + b"jumb") * 500
    cbor_bomb = b"JP\x00\x00\x00\x01" + struct.pack(">I", 40) + b"jumb" + struct.pack(">I", 24) + b"cbor" + b"\x9b" + b"\xff" * 8 + bytes(7)
    for name, (marker, payload) in {"exif-65535-entries": (0xE1, exif_many), "exif-ifd-loop": (0xE1, exif_loop),
                                    "exif-bad-offset": (0xE1, exif_offsets), "xmp-unclosed": (0xE1, xmp),
                                    "jumbf-length-lie": (0xEB, jumbf_lie), "jumbf-deep": (0xEB, jumbf_deep),
                                    "cbor-huge-array": (0xEB, cbor_bomb)}.items():
        for n, d in jpegs[:3]:
            write("metadata", f"{name}-{n}", d[:2] + app(marker, payload) + d[2:], name)
    # Structural and byte-level mutations up to --target: weighted to small seeds (they decode fastest).
    left = 0 if a.small else max(0, a.target - len(rows))
    weight = [4 if len(d) < 64_000 else 2 if len(d) < 400_000 else 0.5 for _, d in good]
    for (name, data), w in zip(good, weight):
        n = math.ceil(left * w / sum(weight))
        made = 0
        for k in range(n):
            if k % 5 < 2:
                m = mut.structural(data, rng)
                if m is not None:
                    write("structural", f"{k}-{name}", m[0], m[1])
                    made += 1
                    continue
            other = good[rng.randrange(len(good))][1]
            b, note = mut.byte_level(data, other, rng)
            write("byte-level", f"{k}-{name}", b, note)
            made += 1
    with open(os.path.join(a.output, "manifest.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["file", "category", "bytes", "note"])
        w.writeheader()
        w.writerows(rows)
    counts = {}
    for r in rows:
        counts[r["category"]] = counts.get(r["category"], 0) + 1
    print(f"{len(rows)} files in {a.output}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
