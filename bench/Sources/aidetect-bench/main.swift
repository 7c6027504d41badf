// aidetect-bench CASE [--iters N] [--warmup W]: times one workload on the Swift/LibTorch stack and prints
// one JSON line {case, median_ms, mean_ms, iters, peak_rss_mb, ...}. bench/run.sh runs every case here and
// in bench/peer.py (Python PyTorch, the same LibTorch build) in separate processes and prints the ratios.
import Detection
import Foundation
import Models
import NN
import Server
import Synchronization
import Torch

let args = Array(CommandLine.arguments.dropFirst())
guard let caseName = args.first else {
    FileHandle.standardError.write(Data("usage: aidetect-bench CASE [--iters N] [--warmup W]\n".utf8))
    exit(64)
}
func option(_ name: String, _ def: Int, in args: [String] = Array(CommandLine.arguments.dropFirst())) -> Int {
    if let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) { return v }
    return def
}
let iters = option("--iters", 20), warmup = option("--warmup", 3)

func peakRSSMB() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_maxrss) / 1024
}

func time(_ body: () -> Void) -> [Double] {
    for _ in 0..<warmup { body() }
    var t: [Double] = []
    for _ in 0..<iters {
        let s = DispatchTime.now().uptimeNanoseconds
        body()
        t.append(Double(DispatchTime.now().uptimeNanoseconds - s) / 1e6)
    }
    return t
}

/// The CNN used by the training and FGSM cases: CIFAKE-style, 3 conv layers x 64 filters, dense 128, 32 px.
func cnn32() -> Module { CIFAKECNN(convLayers: 3, filters: 64, dense: [128], classes: 1) }

Runtime.manualSeed(0)
var extra: [String: Double] = [:]
var label: [String: String] = [:]
let times: [Double]
switch caseName {
case "cnn32_train_b64":
    let model = cnn32()
    model.train()
    let opt = Adam(parameters: model.parameters(), learningRate: 1e-3)
    let x = Tensor.rand([64, 3, 32, 32]), y = Tensor.randint(0, 2, shape: [64, 1]).to(.float32)
    times = time {
        opt.zeroGrad()
        let loss = binaryCrossEntropyWithLogits(model(x), targets: y)
        loss.backward()
        opt.step()
        _ = loss.item()
    }
case "fgsm_b64":
    let model = cnn32()
    model.eval()
    let x = Tensor.rand([64, 3, 32, 32]), y = Tensor.ones([64, 1])
    times = time {
        let xi = x.detached().requiringGrad()
        let loss = binaryCrossEntropyWithLogits(model(xi), targets: y)
        let g = gradients(of: [loss], withRespectTo: [xi])[0]
        let adv = (xi.detached() + g.sign() * 0.01).clamped(min: 0, max: 1)
        _ = adv.sum().item()
    }
case "resnet18_infer_b8_224", "resnet50_infer_b8_224", "vit_small_infer_b8_224":
    let name = caseName == "vit_small_infer_b8_224" ? "vit_small_patch16_224" : String(caseName.prefix(8))
    let model = try ModelRegistry.create(name)
    model.eval()
    let device = Device.best
    if device != .cpu { model.to(device: device) }
    let x = Tensor.randn([8, 3, 224, 224]).to(device: device)
    times = time { withNoGrad { _ = model(x).sum().item() } }
case "clip_b16_infer_b1", "clip_b16_infer_b8":
    // The default detector's encoder: CLIP ViT-B/16 at 224 px, the class token of every block (what the default model's
    // head reads), in the precision of --precision (fp32, bf16: bfloat16 Linear layers, or int8: FBGEMM dynamic INT8 Linear layers).
    let batch = caseName.hasSuffix("b8") ? 8 : 1
    let a = Array(CommandLine.arguments.dropFirst())
    let precision = a.firstIndex(of: "--precision").flatMap { i in i + 1 < a.count ? Precision(rawValue: a[i + 1]) : nil } ?? .fp32
    let encoder = CLIPVisionTransformer()
    encoder.eval()
    let device = Device.best  // $AIDETECT_DEVICE (scripts/gpu_check.sh times cuda and cpu)
    if device != .cpu { encoder.to(device: device) } else { try precision.apply(to: encoder) }
    let x = Tensor.randn([batch, 3, 224, 224]).to(device: device)
    extra["cuda"] = device == .cpu ? 0 : 1
    times = time { withNoGrad { _ = concatenated(encoder.classTokens(x), axis: 1).sum().item() } }
    extra["batch"] = Double(batch)
    label = ["precision": device == .cpu ? precision.rawValue : "fp32"]
case "loader_b64_64":
    // The training loader alone: decode bench256 JPEG/PNG members from the tar, the standard augmentation
    // (flip, crop, rotation, blur, JPEG, resize), resize + centre crop to 64 px, normalise; one batch per iteration.
    let path = ProcessInfo.processInfo.environment["BENCH_DATA"] ?? "../shared/data/bench256.tar"
    guard FileManager.default.fileExists(atPath: path) else {
        FileHandle.standardError.write(Data("loader_b64_64: \(path) not found (set BENCH_DATA)\n".utf8))
        exit(65)
    }
    let all = try Dataset.load(path).samples
    let n = 64 * (warmup + iters), step = max(1, all.count / n)
    let picked = (0..<min(n, all.count)).map { all[$0 * step] }
    let batches = stride(from: 0, to: picked.count, by: 64).map { Array($0..<min($0 + 64, picked.count)) }
    let pre = Preprocessing(inputSize: 64, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], policy: .resizeCenterCrop, cropFraction: 1)
    let loader = BatchLoader(samples: picked, batches: batches, startAt: 0, preprocessing: pre, augmentation: .standard, seed: 0)
    // Per-batch times are bimodal (prefetched batches return at once), so the whole pass after the warm-up is
    // timed and reported as its mean per batch.
    for _ in 0..<warmup { _ = loader.next()!.x.sum().item() }
    let start = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<iters { _ = loader.next()!.x.sum().item() }
    let perBatch = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 / Double(iters)
    times = [perBatch]
    extra["workers"] = Double(BatchLoader.defaultWorkers)
    extra["images_per_s"] = 64 / (perBatch / 1000)
case "gemm_2048":
    let a = Tensor.randn([2048, 2048]), b = Tensor.randn([2048, 2048])
    times = time { _ = a.matmul(b).sum().item() }
    let median = times.sorted()[times.count / 2]
    extra["gflops"] = 2 * pow(2048.0, 3) / (median / 1000) / 1e9
case "analyze_raw":
    // What the server does per request, without HTTP: decode + every model + provenance (Analyzer.analyze) on a
    // fixed file, from --concurrency threads for --seconds; bench/server.sh compares the server's throughput to it.
    let a = Array(CommandLine.arguments.dropFirst())
    guard let i = a.firstIndex(of: "--file"), i + 1 < a.count, let bytes = FileManager.default.contents(atPath: a[i + 1]) else {
        FileHandle.standardError.write(Data("analyze_raw needs --file IMAGE\n".utf8))
        exit(64)
    }
    let analyzer = try Analyzer.load(models: ["default"])
    let k = option("--concurrency", 1), seconds = Double(option("--seconds", 10))
    for _ in 0..<warmup { _ = try analyzer.analyze(Array(bytes)) }
    let collected = Mutex<[Double]>([])
    let start = DispatchTime.now().uptimeNanoseconds, end = start + UInt64(seconds * 1e9)
    DispatchQueue.concurrentPerform(iterations: k) { _ in
        var mine: [Double] = []
        while DispatchTime.now().uptimeNanoseconds < end {
            let s = DispatchTime.now().uptimeNanoseconds
            _ = try? analyzer.analyze(Array(bytes))
            mine.append(Double(DispatchTime.now().uptimeNanoseconds - s) / 1e6)
        }
        collected.withLock { $0 += mine }
    }
    let latencies = collected.withLock { $0 }
    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    times = latencies
    extra["images_per_s"] = Double(latencies.count) / elapsed
    extra["concurrency"] = Double(k)
    extra["p99_ms"] = latencies.sorted()[min(latencies.count - 1, Int(Double(latencies.count) * 0.99))]
default:
    FileHandle.standardError.write(Data("unknown case \(caseName)\n".utf8))
    exit(64)
}
let sorted = times.sorted()
var result: [String: Any] = [
    "case": caseName, "side": "swift", "median_ms": sorted[sorted.count / 2], "mean_ms": times.reduce(0, +) / Double(times.count),
    "min_ms": sorted[0], "iters": iters, "threads": Runtime.threads, "peak_rss_mb": peakRSSMB(),
]
for (k, v) in extra { result[k] = v }
for (k, v) in label { result[k] = v }
let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
print(String(decoding: data, as: UTF8.self))
