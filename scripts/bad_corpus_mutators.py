"""Format-aware and byte-level mutations for scripts/make_bad_corpus.py (standard library only).

Each format's parser returns the file's *units* (chunks, segments, boxes, blocks: spans that can be removed, doubled or
swapped) and *fields* (lengths, sizes, dimensions, counts, offsets, codec parameters: where a lie hurts most). A
structural mutation sets one field to an interesting value or moves one unit; a byte-level mutation is one of
libFuzzer's (insert, erase, copy, shuffle, an interesting integer at any offset, a format token, a splice of two files).
"""
import struct, zlib

INTERESTING = {
    1: [0, 1, 2, 3, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 254, 255],
    2: [0, 1, 2, 255, 256, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF],
    3: [0, 1, 0x3FFF, 0x4000, 0x7FFFFF, 0xFFFFFF],
    4: [0, 1, 2, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF],
    8: [0, 1, 0x7FFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF],
}
TOKENS = [b"\xff\xd8", b"\xff\xd9", b"\xff\xda", b"\xff\xc0", b"\xff\xc2", b"\xff\xc4", b"\xff\xdb", b"\xff\xdd", b"\xff\xe1",
          b"IHDR", b"IDAT", b"IEND", b"PLTE", b"tRNS", b"acTL", b"fcTL", b"fdAT", b"zTXt", b"iCCP", b"ftyp", b"meta", b"iloc",
          b"iinf", b"ipco", b"ispe", b"mdat", b"hvcC", b"av1C", b"RIFF", b"WEBP", b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANMF",
          b"GIF89a", b"\x21\xf9\x04", b"\x2c", b"\x3b", b"II*\x00", b"MM\x00*", b"BM", b"Exif\x00\x00", b"jumb", b"c2pa"]


def _u(data, off, width, big):
    return int.from_bytes(data[off:off + width], "big" if big else "little")


def png(data):
    units, fields, o = [], [], 8
    while o + 12 <= len(data):
        n = _u(data, o, 4, True)
        kind = data[o + 4:o + 8]
        end = min(len(data), o + 12 + n)
        units.append((o, end))
        fields.append((o, 4, True, ("crc", o)))
        if kind == b"IHDR" and n >= 13:
            fields += [(o + 8, 4, True, ("crc", o)), (o + 12, 4, True, ("crc", o))]
            fields += [(o + 16 + k, 1, True, ("crc", o)) for k in range(5)]
        elif kind in (b"acTL", b"fcTL"):
            fields += [(o + 8 + 4 * k, 4, True, ("crc", o)) for k in range(min(n // 4, 6))]
        o = end
    return units, fields


def jpeg(data):
    units, fields, o = [], [], 2
    while o + 4 <= len(data) and data[o] == 0xFF:
        m = data[o + 1]
        if m == 0xFF:
            o += 1
            continue
        if m in (0xD8, 0x01) or 0xD0 <= m <= 0xD7:
            o += 2
            continue
        if m == 0xD9:
            break
        n = _u(data, o + 2, 2, True)
        end = o + 2 + n
        fields.append((o + 2, 2, True, None))
        p = o + 4
        if m in (0xC0, 0xC1, 0xC2, 0xC3, 0xC9, 0xCA) and n >= 8:
            fields += [(p, 1, True, None), (p + 1, 2, True, None), (p + 3, 2, True, None), (p + 5, 1, True, None)]
            fields += [(p + 6 + k, 1, True, None) for k in range(min(3 * data[p + 5], n - 8))]
        elif m == 0xDB:
            fields.append((p, 1, True, None))
        elif m == 0xC4:
            fields += [(p + k, 1, True, None) for k in range(min(17, n - 2))]
        elif m == 0xDD:
            fields.append((p, 2, True, None))
        elif m == 0xDA:
            fields += [(p + k, 1, True, None) for k in range(min(n - 2, 10))]
            # Entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or a restart.
            q = end
            while q + 1 < len(data) and not (data[q] == 0xFF and data[q + 1] not in (0x00,) and not 0xD0 <= data[q + 1] <= 0xD7):
                q += 1
            end = q
        units.append((o, min(end, len(data))))
        o = end
    return units, fields


CONTAINERS = {b"meta": 4, b"iprp": 0, b"ipco": 0, b"moov": 0, b"trak": 0, b"mdia": 0, b"minf": 0, b"stbl": 0, b"dinf": 0,
              b"iref": 4, b"grpl": 0, b"iinf": 6, b"jumb": 0, b"uuid": 0}


def bmff(data, start=0, end=None, depth=0, units=None, fields=None):
    units = [] if units is None else units
    fields = [] if fields is None else fields
    end = len(data) if end is None else end
    o = start
    while o + 8 <= end and depth < 6:
        size, kind = _u(data, o, 4, True), data[o + 4:o + 8]
        head = 8
        if size == 1 and o + 16 <= end:
            size, head = _u(data, o + 8, 8, True), 16
        elif size == 0:
            size = end - o
        if size < head:
            break
        box_end = min(end, o + size)
        units.append((o, box_end))
        fields.append((o, 4, True, None))
        if kind in CONTAINERS:
            bmff(data, o + head + CONTAINERS[kind], box_end, depth + 1, units, fields)
        else:   # the first words of a leaf box: version/flags, dimensions (ispe), item offsets and lengths (iloc), ...
            fields += [(p, 4, True, None) for p in range(o + head, min(box_end - 3, o + head + 40), 4)]
            fields += [(p, 2, True, None) for p in range(o + head, min(box_end - 1, o + head + 12), 2)]
        o = box_end
    return units, fields


def tiff(data):
    if len(data) < 8:
        return [], []
    big = data[:2] == b"MM"
    fields, units, ifd, seen = [(4, 4, big, None)], [], _u(data, 4, 4, big), set()
    while 0 < ifd < len(data) - 2 and ifd not in seen and len(seen) < 4:
        seen.add(ifd)
        n = _u(data, ifd, 2, big)
        fields.append((ifd, 2, big, None))
        for e in range(min(n, 64)):
            p = ifd + 2 + 12 * e
            if p + 12 > len(data):
                break
            units.append((p, p + 12))
            fields += [(p + 2, 2, big, None), (p + 4, 4, big, None), (p + 8, 4, big, None), (p + 8, 2, big, None)]
        nxt = ifd + 2 + 12 * n
        if nxt + 4 > len(data):
            break
        fields.append((nxt, 4, big, None))
        ifd = _u(data, nxt, 4, big)
    return units, fields


def gif(data):
    if len(data) < 13:
        return [], []
    fields = [(6, 2, False, None), (8, 2, False, None), (10, 1, False, None)]
    units, o = [], 13
    if data[10] & 0x80:
        o += 3 * (2 << (data[10] & 7))
    while o < len(data):
        start, kind = o, data[o]
        if kind == 0x3B:
            units.append((o, o + 1))
            break
        if kind == 0x21 and o + 2 < len(data):
            fields.append((o + 2, 1, False, None))
            o += 2
        elif kind == 0x2C and o + 10 < len(data):
            fields += [(o + 1 + 2 * k, 2, False, None) for k in range(4)] + [(o + 9, 1, False, None)]
            flags = data[o + 9]
            o += 10 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)
            if o < len(data):
                fields.append((o, 1, False, None))   # LZW minimum code size
            o += 1
        else:
            break
        while o < len(data) and data[o] != 0:     # sub-blocks
            fields.append((o, 1, False, None))
            o += 1 + data[o]
        o += 1
        units.append((start, min(o, len(data))))
    return units, fields


def riff(data):
    fields, units, o = [(4, 4, False, None)], [], 12
    while o + 8 <= len(data):
        kind, n = data[o:o + 4], _u(data, o + 4, 4, False)
        end = min(len(data), o + 8 + n + (n & 1))
        units.append((o, end))
        fields.append((o + 4, 4, False, None))
        p = o + 8
        if kind == b"VP8X":
            fields += [(p, 1, False, None), (p + 4, 3, False, None), (p + 7, 3, False, None)]
        elif kind == b"VP8L":
            fields += [(p + 1, 4, False, None)]
        elif kind == b"VP8 ":
            fields += [(p, 3, False, None), (p + 6, 2, False, None), (p + 8, 2, False, None)]
        elif kind == b"ANMF":
            fields += [(p + 3 * k, 3, False, None) for k in range(5)]
        elif kind in (b"ALPH", b"ANIM"):
            fields += [(p, 1, False, None), (p, 4, False, None)]
        o = end
    return units, fields


def bmp(data):
    fields = [(2, 4, False, None), (10, 4, False, None), (14, 4, False, None), (18, 4, False, None), (22, 4, False, None),
              (26, 2, False, None), (28, 2, False, None), (30, 4, False, None), (34, 4, False, None), (46, 4, False, None),
              (50, 4, False, None), (54, 4, False, None), (58, 4, False, None)]
    return [(0, 14), (14, min(len(data), 14 + _u(data, 14, 4, False)))], [f for f in fields if f[0] + f[1] <= len(data)]


def parse(data):
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png", png(data)
    if data[:2] == b"\xff\xd8":
        return "jpeg", jpeg(data)
    if data[4:8] == b"ftyp":
        return "bmff", bmff(data)
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff", tiff(data)
    if data[:3] == b"GIF":
        return "gif", gif(data)
    if data[:4] == b"RIFF":
        return "webp", riff(data)
    if data[:2] == b"BM":
        return "bmp", bmp(data)
    return None, ([], [])


def _fix_crc(b, chunk):
    n = _u(b, chunk, 4, True)
    if chunk + 12 + n <= len(b):
        b[chunk + 8 + n:chunk + 12 + n] = struct.pack(">I", zlib.crc32(bytes(b[chunk + 4:chunk + 8 + n])) & 0xFFFFFFFF)


def structural(data, rng):
    """One format-aware lie, or None when the format is not one we parse. Returns (bytes, note)."""
    fmt, (units, fields) = parse(data)
    if fmt is None or not (units or fields):
        return None
    b = bytearray(data)
    if fields and (not units or rng.random() < 0.7):
        off, width, big, fix = rng.choice(fields)
        if off + width > len(b):
            return None
        old = _u(b, off, width, big)
        top = (1 << (8 * width)) - 1
        new = rng.choice(INTERESTING[width] + [min(top, old + 1), max(0, old - 1), min(top, old * 2), old // 2, rng.randrange(top + 1)])
        b[off:off + width] = new.to_bytes(width, "big" if big else "little")
        if fix and rng.random() < 0.8:     # mostly keep the PNG chunk's CRC right, so the decoder reads on
            _fix_crc(b, fix[1])
        return bytes(b), f"{fmt}: field at {off} ({width} bytes) {old} -> {new}"
    s, e = rng.choice(units)
    op = rng.choice(("remove", "double", "swap", "cut"))
    if op == "remove":
        return bytes(b[:s] + b[e:]), f"{fmt}: unit {s}-{e} removed"
    if op == "double":
        return bytes(b[:e] + b[s:e] + b[e:]), f"{fmt}: unit {s}-{e} doubled"
    if op == "cut" and e - s > 2:
        k = rng.randrange(1, e - s)
        return bytes(b[:s + k] + b[e:]), f"{fmt}: unit {s}-{e} cut after {k} bytes"
    s2, e2 = rng.choice(units)
    if (s2, e2) == (s, e) or s2 < e and s < e2:
        return bytes(b[:e] + b[s:e] + b[e:]), f"{fmt}: unit {s}-{e} doubled"
    (s, e), (s2, e2) = sorted(((s, e), (s2, e2)))
    return bytes(b[:s] + b[s2:e2] + b[e:s2] + b[s:e] + b[e2:]), f"{fmt}: units {s}-{e} and {s2}-{e2} swapped"


def byte_level(data, other, rng):
    """One to four stacked libFuzzer-style byte mutations; `other` is another seed for splices. Returns (bytes, note)."""
    b, notes = bytearray(data), []
    for _ in range(rng.choice((1, 1, 2, 3, 4))):
        n = len(b)
        op = rng.choice(("insert", "erase", "copy", "shuffle", "integer", "token", "splice", "repeat"))
        p = rng.randrange(n + 1) if n else 0
        if op == "insert":
            k = rng.choice((1, 2, 4, 16, 64, 256))
            b[p:p] = bytes(rng.randrange(256) for _ in range(k))
        elif op == "erase" and n > 1:
            k = rng.randrange(1, min(n, 512) + 1)
            del b[p:p + k]
        elif op == "copy" and n > 1:
            s = rng.randrange(n)
            k = rng.randrange(1, min(n - s, 256) + 1)
            b[p:p] = b[s:s + k]
        elif op == "shuffle" and n > 2:
            s = rng.randrange(n - 1)
            part = list(b[s:s + rng.randrange(2, 9)])
            rng.shuffle(part)
            b[s:s + len(part)] = bytes(part)
        elif op == "integer" and n > 8:
            width = rng.choice((1, 2, 4, 8))
            p = rng.randrange(n - width)
            b[p:p + width] = rng.choice(INTERESTING[width]).to_bytes(width, rng.choice(("big", "little")))
        elif op == "token":
            t = rng.choice(TOKENS)
            if rng.random() < 0.5:
                b[p:p] = t
            else:
                b[p:p + len(t)] = t
        elif op == "splice" and other:
            q = rng.randrange(len(other))
            b = b[:p] + bytearray(other[q:])
        elif op == "repeat" and n > 1:
            s = rng.randrange(n)
            k = rng.randrange(1, min(n - s, 64) + 1)
            b[s:s] = b[s:s + k] * rng.choice((2, 16, 200))
        else:
            continue
        notes.append(op)
    return bytes(b), "byte-level: " + (", ".join(notes) or "none")
