#!/usr/bin/env python3
"""Per-content figures of `aidetect eval --output DIR` runs on sets that include wild-train.tar.

Usage: /usr/bin/python3 scripts/content_breakdown.py NAME=DIR [NAME=DIR ...]
Content comes from ../shared/data/wild-train-manifest.csv.gz (photo / art); reals without one (bench256's ImageNet
and FFHQ photos) count as photo, fakes without one (bench256, SDXL thumbnails) are left out of the per-content AUCs.
Prints a Markdown table: ROC-AUC overall and within photo and art, real photos flagged likely-AI (P > 0.7), fakes
flagged likely-AI.
"""
import csv, gzip, json, os, sys

def auc(pos, neg):
    if not pos or not neg:
        return float("nan")
    s = 0.0
    for p in pos:
        for n in neg:
            s += 1.0 if p > n else (0.5 if p == n else 0.0)
    return s / (len(pos) * len(neg))

here = os.path.dirname(os.path.abspath(__file__))
manifest = os.path.join(here, "..", "..", "shared", "data", "wild-train-manifest.csv.gz")
content = {}
with gzip.open(manifest, "rt") as f:
    for r in csv.DictReader(f):
        content["wild-train.tar:" + r["path"]] = r["content"]

print("| model | images | ROC-AUC | ROC-AUC photo | ROC-AUC art | real photos flagged (P > 0.7) | fakes flagged (P > 0.7) |")
print("|---|---:|---:|---:|---:|---:|---:|")
for arg in sys.argv[1:]:
    name, d = arg.split("=", 1)
    rows = [r for r in json.load(open(os.path.join(d, "evaluation.json")))["rows"] if r.get("probability") is not None]
    def c(r):
        return content.get(r["id"], "photo" if r["label"] == 0 else None)
    P = lambda rs: [r["probability"] for r in rs]
    real = [r for r in rows if r["label"] == 0]; fake = [r for r in rows if r["label"] == 1]
    out = [name, str(len(rows)), f"{auc(P(fake), P(real)):.3f}"]
    for k in ["photo", "art"]:
        out.append(f"{auc(P([r for r in fake if c(r) == k]), P([r for r in real if c(r) == k])):.3f}")
    rp = [r for r in real if c(r) == "photo"]
    out.append(f"{100 * sum(r['probability'] > 0.7 for r in rp) / max(len(rp), 1):.1f}% of {len(rp)}")
    out.append(f"{100 * sum(r['probability'] > 0.7 for r in fake) / max(len(fake), 1):.1f}% of {len(fake)}")
    print("| " + " | ".join(out) + " |")
