"""Writes the small seed files of the model-file fuzz target (fuzz/Seeds/FuzzModelFiles, committed): a safetensors
file, PyTorch checkpoints in the zip and the legacy container (a nested state dict, a non-contiguous view, several
dtypes) and an ONNX graph with raw, float and int64 initializers. Needs torch (the peer venv: scripts/peer_env.sh).

    .cache/venv-peer/bin/python scripts/make_fuzz_seeds.py
"""
import collections, json, os, struct

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "Seeds", "FuzzModelFiles")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)
sd = collections.OrderedDict()
sd["conv.weight"] = torch.randn(2, 1, 2, 2)
sd["fc.weight"] = torch.randn(3, 4).t()          # non-contiguous: strides in the checkpoint
sd["fc.bias"] = torch.arange(3, dtype=torch.float64)
sd["bn.num_batches_tracked"] = torch.tensor(7)
sd["mask"] = torch.tensor([True, False])
sd["half"] = torch.ones(2, dtype=torch.float16)
sd["bf"] = torch.ones(1, dtype=torch.bfloat16)
sd["empty"] = torch.zeros(0, 3)
shared = torch.arange(6, dtype=torch.int32)
sd["view.a"], sd["view.b"] = shared[:3], shared[2:]
torch.save({"state_dict": sd, "epoch": 1}, f"{OUT}/zip.pt")
torch.save({"module." + k: v for k, v in sd.items()}, f"{OUT}/legacy.pt", _use_new_zipfile_serialization=False)

# safetensors, by hand (the format is simple; no extra package).
tensors = {"a": torch.randn(2, 3), "b": torch.arange(4, dtype=torch.int64), "c": torch.ones(2, dtype=torch.float16),
           "d": torch.zeros(0)}
names = {torch.float32: "F32", torch.int64: "I64", torch.float16: "F16"}
header, blobs, off = {"__metadata__": {"aidetect.arch": "fuzz"}}, [], 0
for k, t in tensors.items():
    b = t.contiguous().numpy().tobytes()
    header[k] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b); off += len(b)
h = json.dumps(header).encode()
open(f"{OUT}/model.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

# ONNX, by hand: ModelProto.graph (7) holding nodes (1) and initializers (5).
def varint(n):
    out = b""
    while True:
        out += bytes([n & 0x7F | (0x80 if n > 0x7F else 0)]); n >>= 7
        if not n: return out
def field(n, payload): return varint(n << 3 | 2) + varint(len(payload)) + payload
def vfield(n, v): return varint(n << 3) + varint(v)
raw = struct.pack("<4f", 1.5, -2, 0.25, 3)
t1 = vfield(1, 2) + vfield(1, 2) + vfield(2, 1) + field(8, b"w") + field(9, raw)
t2 = field(1, varint(3)) + vfield(2, 1) + field(8, b"f") + field(4, struct.pack("<3f", 1, 2, 3))
t3 = vfield(1, 2) + vfield(2, 7) + field(8, b"i") + field(7, varint(5) + varint(9))
t4 = vfield(1, 2) + vfield(2, 3) + field(8, b"q") + field(5, varint(1) + varint(2))
node = field(1, b"x") + field(1, b"w") + field(2, b"y") + field(3, b"mm") + field(4, b"MatMul")
graph = field(1, node) + field(5, t1) + field(5, t2) + field(5, t3) + field(5, t4)
open(f"{OUT}/graph.onnx", "wb").write(vfield(1, 8) + field(7, graph))
for f in sorted(os.listdir(OUT)):
    print(f, os.path.getsize(f"{OUT}/{f}"))
