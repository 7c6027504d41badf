"""Agreement of two `aidetect eval` runs of the same model and split in two precisions (issue 13: a reduced precision
of the default model keeps the test-split ROC-AUC within 0.002 of fp32): ROC-AUC of each, their difference, the largest
logit difference, and the verdicts (P = 0.5) that differ.

    aidetect eval --model models/clip-probe.safetensors --data A.tar,B.tar --precision fp32 --output .cache/eval-fp32
    aidetect eval --model models/clip-probe.safetensors --data A.tar,B.tar --precision bf16 --output .cache/eval-bf16
    /usr/bin/python3 scripts/precision_agreement.py .cache/eval-fp32 .cache/eval-bf16
"""
import csv, sys

def load(folder):
    with open(f"{folder}/evaluation.csv") as f:
        return {r["id"]: r for r in csv.DictReader(f) if not r["error"]}

def auc(scores, labels):
    # Mann-Whitney U with ties counted half.
    pos = [s for s, y in zip(scores, labels) if y == 1]
    neg = [s for s, y in zip(scores, labels) if y == 0]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))

a, b = load(sys.argv[1]), load(sys.argv[2])
ids = sorted(set(a) & set(b))
y = [int(a[i]["label"]) for i in ids]
pa = [float(a[i]["probability"]) for i in ids]
pb = [float(b[i]["probability"]) for i in ids]
la = [float(a[i]["logit"]) for i in ids]
lb = [float(b[i]["logit"]) for i in ids]
A, B = auc(pa, y), auc(pb, y)
flips = sum((p >= 0.5) != (q >= 0.5) for p, q in zip(pa, pb))
print(f"images {len(ids)}: ROC-AUC {A:.5f} ({sys.argv[1]}) vs {B:.5f} ({sys.argv[2]}), difference {B - A:+.5f}; "
      f"largest logit difference {max(abs(p - q) for p, q in zip(la, lb)):.4f}, largest P difference "
      f"{max(abs(p - q) for p, q in zip(pa, pb)):.4f}; verdicts (P = 0.5) that differ: {flips}")
sys.exit(0 if abs(B - A) <= 0.002 else 1)
