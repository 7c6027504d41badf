import Foundation
import Imaging
import ImagingTorch
import Models
import NN
import Torch

/// Everything a training run depends on; stored in every checkpoint so a run can be resumed and audited.
public struct TrainConfig: Sendable, Codable, Equatable {
    public var model: String
    public var data: String
    public var classes = 1
    public var convLayers: Int?
    public var filters: Int?
    public var dense: [Int]?
    public var inputSize: Int?
    /// Overrides the model's crop fraction (1: the input is resized, never cropped; with `inputSize` equal to the
    /// images' side, they are fed at native size, as the img2img study does).
    public var cropFraction: Double?
    /// Weight initialisation, batch order and augmentation.
    public var seed: UInt64 = 0
    /// The train / validation / test split (`Dataset.split`), separate from `seed` so that runs over several
    /// seeds never re-deal the test split: every run of a study is judged on the same, unseen test images.
    public var splitSeed: UInt64 = 0
    public var trainFraction = Dataset.trainFraction
    public var validationFraction = Dataset.validationFraction
    public var epochs = 10
    public var batchSize = 32
    public var optimizer = "adamw"          // adamw | adam | sgd
    public var learningRate = 1e-3
    public var momentum = 0.9
    public var weightDecay = 1e-4
    public var schedule = "cosine"          // cosine | step | constant
    public var warmupEpochs = 0
    public var patience = 5
    /// none | backbone (train only the head) | last-stage (head + last stage)
    public var freeze = "none"
    /// Initial weights (.safetensors model file or PyTorch checkpoint), loaded non-strictly except the head.
    public var initialWeights: String?
    public var augmentation = Augmentation.standard
    public var checkpointSeconds = 180.0
    public var excludeGenerators: [String] = []
    public var capPerGenerator: Int?
    /// Adversarial training (Madry et al. 2018): a share of every batch is replaced by its FGSM (one step) or PGD
    /// (several steps) version at an L-inf budget taken in turn from this list, in pixel units ([0, 1] scale).
    public var adversarialEpsilons: [Double] = []
    public var adversarialFraction = 0.5
    public var adversarialSteps = 1

    public init(model: String, data: String) {
        self.model = model
        self.data = data
    }
}

/// One line of the training log (JSON Lines).
public struct TrainRecord: Sendable, Codable {
    public var epoch: Int
    public var trainLoss: Double
    public var validationLoss: Double
    public var validationAccuracy: Double
    public var validationAUC: Double?
    public var learningRate: Double
    public var imagesPerSecond: Double
    public var seconds: Double
}

/// Trains any registry model as a binary detector: seeded splits, augmentation on a prefetching loader,
/// validation every epoch, best-by-validation-loss with early stopping, periodic resumable checkpoints.
public final class Trainer {
    public let config: TrainConfig
    public let outputDirectory: String
    public var log: (String) -> Void = { _ in }
    /// Stop after this many optimisation steps in this process (tests use it to simulate an interruption).
    public var stopAfterSteps: Int?
    /// Decode/augment threads of the batch loader; the batches do not depend on it.
    public var workers = BatchLoader.defaultWorkers
    /// Data-parallel training over a c10d group (`--world-size/--rank/--master`): each rank loads its contiguous
    /// shard of every global batch (same order, same augmentation as one process), gradients are summed over
    /// the group and divided by the global batch's size, so every rank takes the same step as one process would;
    /// validation is sharded and its results gathered. Rank 0 alone writes the checkpoint, log and model, and
    /// hands the checkpoint to the others on `--resume`. Batch-norm statistics are per shard (as PyTorch's DDP).
    public var group: ProcessGroup?
    var isLeader: Bool { (group?.rank ?? 0) == 0 }

    public init(config: TrainConfig, outputDirectory: String) {
        self.config = config
        self.outputDirectory = outputDirectory
    }

    static let stateEncoder: JSONEncoder = {
        let e = JSONEncoder()
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }()
    static let stateDecoder: JSONDecoder = {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }()

    var checkpointPath: String { (outputDirectory as NSString).appendingPathComponent("checkpoint.safetensors") }
    public var bestModelPath: String { (outputDirectory as NSString).appendingPathComponent("best.safetensors") }
    var logPath: String { (outputDirectory as NSString).appendingPathComponent("train.jsonl") }

    struct State: Codable {
        var config: TrainConfig
        var epoch = 0
        var batch = 0
        var step = 0
        var bestValidationLoss = Double.infinity
        var epochsSinceBest = 0
        var history: [TrainRecord] = []
        var finished = false
    }

    func makeModel() throws -> (Module, ModelEntry) {
        let entry = try ModelRegistry.entry(config.model)
        var o = ModelOptions(classes: config.classes, convLayers: config.convLayers, filters: config.filters, dense: config.dense)
        o.inputChannels = 3
        o.inputSize = config.inputSize
        return (entry.make(o), entry)
    }

    func preprocessing(_ entry: ModelEntry) -> Preprocessing {
        var p = entry.preprocessing
        if let s = config.inputSize { p.inputSize = s }
        if let f = config.cropFraction { p.cropFraction = f }
        if p.policy == .tile || p.policy == .native { p.policy = .resizeCenterCrop }
        return p
    }

    /// Names of parameters left trainable by the freeze mode.
    static func trainable(_ model: Module, freeze: String) -> (String) -> Bool {
        switch freeze {
        case "none": return { _ in true }
        case "backbone", "last-stage":
            let head = (model as? FeatureExtractor)?.headKey ?? model.namedParameters().last.map { String($0.0.split(separator: ".").dropLast().joined(separator: ".")) } ?? ""
            var keep = [head + "."]
            if freeze == "last-stage" {
                if model is ResNet { keep.append("layer4.") }
                if model is EfficientNetLite { keep += ["_blocks.15.", "_conv_head.", "_bn1."] }
                if model is CIFARResNet { keep.append("layer3.") }
                if model is VisionTransformer { keep += ["blocks.11.", "norm."] }
            }
            return { name in keep.contains { name.hasPrefix($0) } }
        default:
            return { _ in true }
        }
    }

    /// Runs (or resumes) training. Returns the epoch records.
    @discardableResult
    public func run(resume: Bool = false) throws -> [TrainRecord] {
        let log = isLeader ? self.log : { _ in }   // rank 0 speaks for a group
        try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        // Split the whole set first, then leave generators out and cap: the test split stays that of the full set
        // (what `eval --split test` scores), whatever is excluded.
        let dataset = try Dataset.load(config.data)
        var (train, val, _) = dataset.split(train: config.trainFraction, validation: config.validationFraction, seed: config.splitSeed)
        if !config.excludeGenerators.isEmpty {
            train = train.excluding(generators: Set(config.excludeGenerators))
            val = val.excluding(generators: Set(config.excludeGenerators))
        }
        if let cap = config.capPerGenerator {
            let trainShare = config.trainFraction / max(config.trainFraction + config.validationFraction, 1e-9)
            train = train.capped(perGenerator: max(1, Int((Double(cap) * trainShare).rounded())), seed: config.seed)
            val = val.capped(perGenerator: max(1, cap - Int((Double(cap) * trainShare).rounded())), seed: config.seed)
        }
        guard !train.samples.isEmpty, !val.samples.isEmpty else { throw DatasetError.empty("training or validation split of \(config.data)") }
        if isLeader { try writeSplitIds(train: train, validation: val) }

        let (model, entry) = try Generator(seed: config.seed).withInitialization { try makeModel() }
        if let w = config.initialWeights {
            let sd = w.hasSuffix(".safetensors") ? try Safetensors.load(path: w).tensors : try TorchCheckpoint.load(path: w)
            let head = (model as? FeatureExtractor)?.headKey ?? "fc"
            let filtered = sd.filter { !$0.key.hasPrefix(head + ".") }
            try model.loadStateDict(filtered, strict: false)
        }
        let isTrainable = Self.trainable(model, freeze: config.freeze)
        for (name, p) in model.namedParameters() { p.requiresGrad = isTrainable(name) }
        // $AIDETECT_DEVICE / --device (CUDA when present): the model moves before the optimiser takes its parameters.
        let device = Device.best
        if device != .cpu { model.to(device: device) }
        let params = model.namedParameters().filter { isTrainable($0.0) }.map(\.1)
        let optimizer: Optimizer
        switch config.optimizer {
        case "sgd": optimizer = SGD(parameters: params, learningRate: config.learningRate, momentum: config.momentum, weightDecay: config.weightDecay, nesterov: config.momentum > 0)
        case "adam": optimizer = Adam(parameters: params, learningRate: config.learningRate, weightDecay: config.weightDecay)
        default: optimizer = AdamW(parameters: params, learningRate: config.learningRate, weightDecay: config.weightDecay)
        }
        let schedule: LRSchedule
        switch config.schedule {
        case "constant": schedule = .constant
        case "step": schedule = .step(stepSize: max(1, config.epochs / 3), gamma: 0.1)
        default: schedule = config.warmupEpochs > 0
            ? .warmupCosine(warmup: config.warmupEpochs, total: config.epochs, startFactor: 0.1, minimum: config.learningRate * 0.01)
            : .cosine(total: config.epochs, minimum: config.learningRate * 0.01)
        }

        var state = State(config: config)
        if let checkpoint = try checkpointToResume(resume) {
            defer { if checkpoint != checkpointPath { try? FileManager.default.removeItem(atPath: checkpoint) } }
            let (t, meta) = try Safetensors.load(path: checkpoint)
            guard let s = meta["trainer.state"].flatMap({ $0.data(using: .utf8) }), let decoded = try? Self.stateDecoder.decode(State.self, from: s) else {
                throw CheckpointError.malformed(path: checkpointPath, reason: "no trainer state")
            }
            guard decoded.config == config else {
                throw CheckpointError.malformed(path: checkpointPath, reason: "the checkpoint was written with a different configuration")
            }
            state = decoded
            try model.loadStateDict(t.filter { $0.key.hasPrefix("model.") }.reduce(into: [:]) { $0[String($1.key.dropFirst(6))] = $1.value })
            try optimizer.loadStateDict(t.filter { $0.key.hasPrefix("optimizer.") }.reduce(into: [:]) { $0[String($1.key.dropFirst(10))] = $1.value })
            log("resumed at epoch \(state.epoch + 1), batch \(state.batch)")
        } else if !resume && isLeader {
            try? FileManager.default.removeItem(atPath: logPath)
        }
        // Every rank starts from rank 0's weights (the same seed makes them equal already; initial weights read
        // from a file, or a resumed checkpoint, reach the others this way too).
        try group?.broadcast(module: model)
        if state.finished { return state.history }

        let pre = preprocessing(entry)
        let positives = Double(train.samples.filter { $0.label == .fake }.count)
        let posWeight = Tensor([Float((Double(train.samples.count) - positives) / max(positives, 1))]).to(device: device)
        var lastCheckpoint = Date()
        var stepsThisProcess = 0

        func saveCheckpoint() throws {
            guard isLeader else { return }
            var t: [String: Tensor] = [:]
            for (k, v) in model.stateDict() { t["model." + k] = v.to(device: .cpu) }
            for (k, v) in optimizer.stateDict() { t["optimizer." + k] = v.to(device: .cpu) }
            let s = String(decoding: try Self.stateEncoder.encode(state), as: UTF8.self)
            try Safetensors.save(t, metadata: ["trainer.state": s], path: checkpointPath)
            lastCheckpoint = Date()
        }

        while state.epoch < config.epochs {
            let epochStart = Date()
            optimizer.learningRate = schedule.rate(base: config.learningRate, epoch: state.epoch)
            model.train()
            for (_, m) in model.namedModules() where !m.parameterSlots.isEmpty && m.parameterSlots.allSatisfy({ !$0.tensor.requiresGrad }) {
                m.eval()   // frozen layers keep their running statistics
            }
            let order = Self.epochOrder(count: train.samples.count, seed: config.seed, epoch: state.epoch)
            let batches = stride(from: 0, to: order.count, by: config.batchSize).map { Array(order[$0..<min($0 + config.batchSize, order.count)]) }
            let shards = batches.map { Self.shard($0.count, rank: group?.rank ?? 0, of: group?.worldSize ?? 1) }
            let loader = BatchLoader(samples: train.samples, batches: zip(batches, shards).map { Array($0[$1]) }, startAt: state.batch,
                                     preprocessing: pre, augmentation: config.augmentation, seed: config.seed &+ UInt64(state.epoch) &* 1_000_003,
                                     workers: workers, positionOffsets: shards.map(\.lowerBound))
            var lossSum = 0.0, seen = 0
            while let slot = loader.nextSlot() {
                if group == nil && slot == nil { state.batch += 1; continue }   // nothing readable in this batch
                optimizer.zeroGrad()
                var localLoss = 0.0, localCount = 0
                if let loaded = slot {
                    let b = BatchLoader.Batch(x: loaded.x.to(device: device), y: loaded.y.to(device: device))
                    Runtime.manualSeed(config.seed &+ UInt64(state.step) &* 7919)
                    let x = config.adversarialEpsilons.isEmpty ? b.x : adversarial(b.x, targets: b.y, model: model, preprocessing: pre, posWeight: posWeight, step: state.step)
                    let logits = model(x).reshaped([-1])
                    let loss = binaryCrossEntropyWithLogits(logits, targets: b.y, posWeight: posWeight)
                    localCount = b.y.count
                    // Distributed: the shard's loss sum, so that the summed gradients over the global count are the
                    // gradient of the global batch's mean loss.
                    (group == nil ? loss : loss * Double(localCount)).backward()
                    localLoss = loss.item() * Double(localCount)
                }
                if let group {
                    let totals = try group.allReduce(sums: [localLoss, Double(localCount)])
                    (localLoss, localCount) = (totals[0], Int(totals[1]))
                    try group.allReduceGradients(params, scale: 1 / Double(max(localCount, 1)))
                }
                if localCount > 0 { optimizer.step() }
                lossSum += localLoss
                seen += localCount
                state.batch += 1
                state.step += 1
                stepsThisProcess += 1
                if Date().timeIntervalSince(lastCheckpoint) > config.checkpointSeconds { try saveCheckpoint() }
                if let stop = stopAfterSteps, stepsThisProcess >= stop {
                    try saveCheckpoint()
                    loader.cancel()
                    return state.history
                }
            }
            if seen == 0 && loader.skipped > 0 {
                throw DatasetError.unreadable(path: config.data, reason: "none of the \(train.samples.count) training images could be read (\(loader.skipped) skipped); check the paths")
            }
            // Validation.
            model.eval()
            let (vLoss, vProbs, vLabels) = try evaluateSharded(model, val.samples, pre)
            let m = BinaryMetrics(probabilities: vProbs, labels: vLabels)
            let elapsed = Date().timeIntervalSince(epochStart)
            let record = TrainRecord(epoch: state.epoch + 1, trainLoss: seen > 0 ? lossSum / Double(seen) : .nan, validationLoss: vLoss,
                                     validationAccuracy: m.accuracy, validationAUC: m.rocAUC, learningRate: optimizer.learningRate,
                                     imagesPerSecond: Double(seen) / max(elapsed, 1e-9), seconds: elapsed)
            state.history.append(record)
            if isLeader { appendLog(record) }
            log(String(format: "epoch %d/%d  train loss %.4f  val loss %.4f  val acc %.3f  val AUC %.3f  %.1f img/s",
                       record.epoch, config.epochs, record.trainLoss, vLoss, m.accuracy, m.rocAUC ?? .nan, record.imagesPerSecond))
            state.epoch += 1
            state.batch = 0
            if vLoss < state.bestValidationLoss - 1e-6 {
                state.bestValidationLoss = vLoss
                state.epochsSinceBest = 0
                if isLeader { try saveDetector(model, architecture: config.model, path: bestModelPath, classes: config.classes,
                                 description: "trained on \((config.data as NSString).lastPathComponent), epoch \(record.epoch)",
                                 preprocessing: pre, extra: trainingMetadata()) }
            } else {
                state.epochsSinceBest += 1
            }
            if state.epochsSinceBest >= config.patience {
                log("early stop: no validation improvement for \(config.patience) epochs")
                state.finished = true
            }
            if state.epoch >= config.epochs { state.finished = true }
            try saveCheckpoint()
            if state.finished { break }
        }
        if isLeader { try? Curves.svg(state.history).write(toFile: (outputDirectory as NSString).appendingPathComponent("curves.svg"), atomically: true, encoding: .utf8) }
        return state.history
    }

    /// Rank `rank`'s contiguous share of `count` items (the shares of a group differ in size by at most one).
    static func shard(_ count: Int, rank: Int, of world: Int) -> Range<Int> {
        (count * rank / world)..<(count * (rank + 1) / world)
    }

    /// The checkpoint to resume from, if any: rank 0's file; the other ranks of a group receive its bytes
    /// through the group's store (a temporary copy), so their output directory need not be shared.
    func checkpointToResume(_ resume: Bool) throws -> String? {
        let exists = resume && FileManager.default.fileExists(atPath: checkpointPath)
        guard let group else { return exists ? checkpointPath : nil }
        if isLeader {
            try group.setValue(exists ? try Data(contentsOf: URL(fileURLWithPath: checkpointPath)) : Data(), for: "resume-checkpoint")
            return exists ? checkpointPath : nil
        }
        let bytes = try group.value(for: "resume-checkpoint")
        guard !bytes.isEmpty else { return nil }
        let copy = (outputDirectory as NSString).appendingPathComponent(".resume-rank\(group.rank).safetensors")
        try bytes.write(to: URL(fileURLWithPath: copy))
        return copy
    }

    /// `evaluate` on this rank's contiguous shard of `samples`, the group's results concatenated in rank order
    /// (the order of `samples`, as one process would produce them).
    func evaluateSharded(_ model: Module, _ samples: [Sample], _ pre: Preprocessing) throws -> (Double, [Double], [Int]) {
        guard let group else { return evaluate(model, samples, pre) }
        let mine = Self.shard(samples.count, rank: group.rank, of: group.worldSize)
        let (loss, probs, labels) = mine.isEmpty ? (0, [], []) : evaluate(model, Array(samples[mine]), pre)
        var counts = [Double](repeating: 0, count: group.worldSize)
        counts[group.rank] = Double(probs.count)
        counts = try group.allReduce(sums: counts)
        let total = Int(counts.reduce(0, +)), offset = Int(counts[..<group.rank].reduce(0, +))
        var rows = [Double](repeating: 0, count: 2 * total + 1)
        for (i, (p, l)) in zip(probs, labels).enumerated() {
            rows[offset + i] = p
            rows[total + offset + i] = Double(l)
        }
        rows[2 * total] = loss * Double(probs.count)
        rows = try group.allReduce(sums: rows)
        return (rows[2 * total] / Double(max(total, 1)), Array(rows[0..<total]), rows[total..<(2 * total)].map { Int($0.rounded()) })
    }

    /// The ids this run trains and validates on (`DIR/split.json`), so that any run can be audited for leaks.
    public var splitPath: String { (outputDirectory as NSString).appendingPathComponent("split.json") }
    func writeSplitIds(train: Dataset, validation: Dataset) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        try e.encode(["train": train.samples.map(\.id), "validation": validation.samples.map(\.id)]).write(to: URL(fileURLWithPath: splitPath))
    }

    func trainingMetadata() -> [String: String] {
        var extra: [String: String] = ["aidetect.training_data": Dataset.setNames(config.data), "aidetect.split": Dataset.splitVersion]
        if let c = try? JSONEncoder().encode(config) { extra["aidetect.train_config"] = String(decoding: c, as: UTF8.self) }
        var options: [String: Any] = [:]
        if let c = config.convLayers { options["convLayers"] = c }
        if let f = config.filters { options["filters"] = f }
        if let d = config.dense { options["dense"] = d }
        if let s = config.inputSize { options["inputSize"] = s }
        if !options.isEmpty, let d = try? JSONSerialization.data(withJSONObject: options, options: [.sortedKeys]) {
            extra["aidetect.options"] = String(decoding: d, as: UTF8.self)
        }
        return extra
    }

    /// The batch with its first `adversarialFraction` rows replaced by adversarial versions (normalised input;
    /// the budget and the valid pixel range are applied in pixel units through the normalisation).
    func adversarial(_ x: Tensor, targets y: Tensor, model: Module, preprocessing pre: Preprocessing, posWeight: Tensor, step: Int) -> Tensor {
        let n = x.size(0), k = min(n, Int((Double(n) * config.adversarialFraction).rounded()))
        guard k > 0 else { return x }
        let eps = config.adversarialEpsilons[step % config.adversarialEpsilons.count]
        let std = Tensor(pre.std, shape: [1, 3, 1, 1]).to(device: x.device), mean = Tensor(pre.mean, shape: [1, 3, 1, 1]).to(device: x.device)
        let lo = (mean * -1) / std, hi = ((mean * -1) + 1) / std
        let clean = x.slice(axis: 0, start: 0, end: k).detached(), yk = y.slice(axis: 0, start: 0, end: k)
        let steps = max(1, config.adversarialSteps)
        let stepSize = steps == 1 ? eps : eps / 4
        var v = clean
        for _ in 0..<steps {
            let leaf = v.detached().requiringGrad()
            let loss = binaryCrossEntropyWithLogits(model(leaf).reshaped([-1]), targets: yk, posWeight: posWeight)
            let g = gradients(of: [loss], withRespectTo: [leaf])[0]
            var next = v + g.sign() * stepSize / std
            next = clean + (next - clean).maximum(std.reciprocal() * -eps).minimum(std.reciprocal() * eps)
            v = next.maximum(lo).minimum(hi).detached()
        }
        return k == n ? v : concatenated([v, x.slice(axis: 0, start: k, end: n)], axis: 0)
    }

    func appendLog(_ r: TrainRecord) {
        guard let d = try? Self.stateEncoder.encode(r) else { return }
        try? appendLine(d, to: logPath)
    }

    /// Mean validation loss, P(AI) and labels over `samples` (unaugmented).
    func evaluate(_ model: Module, _ samples: [Sample], _ pre: Preprocessing) -> (Double, [Double], [Int]) {
        let batches = stride(from: 0, to: samples.count, by: config.batchSize).map { Array($0..<min($0 + config.batchSize, samples.count)) }
        let loader = BatchLoader(samples: samples, batches: batches, startAt: 0, preprocessing: pre, augmentation: .none, seed: 0, workers: workers)
        var loss = 0.0, probs: [Double] = [], labels: [Int] = []
        while let b = loader.next() {
            let logits = withNoGrad { model(b.x.to(device: model.device)).reshaped([-1]) }
            loss += withNoGrad { binaryCrossEntropyWithLogits(logits, targets: b.y, reduction: .sum).item() }
            probs += logits.sigmoid().toArray(Float.self).map(Double.init)
            labels += b.y.toArray(Float.self).map { Int($0) }
        }
        return (loss / Double(max(labels.count, 1)), probs, labels)
    }

    /// A seeded permutation of 0..<count for an epoch (Fisher-Yates with SplitMix64).
    static func epochOrder(count: Int, seed: UInt64, epoch: Int) -> [Int] {
        var rng = SplitMix64(seed: seed &* 6_364_136_223_846_793_005 &+ UInt64(epoch) &+ 1)
        var a = Array(0..<count)
        if count > 1 {
            for i in stride(from: count - 1, to: 0, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                a.swapAt(i, j)
            }
        }
        return a
    }
}

/// Decodes and augments batches on `workers` background threads, at most `depth` batches ahead of the
/// consumer (bounded memory), and hands them out in order. Each sample's augmentation is seeded from the
/// batch, its position and its id, so the batches do not depend on the number of workers or their timing.
/// Undecodable samples are skipped (and counted), never fatal.
public final class BatchLoader: @unchecked Sendable {
    public struct Batch { public let x: Tensor; public let y: Tensor }
    private var ready: [Int: Batch?] = [:]
    private let condition = NSCondition()
    private var cancelled = false
    private var nextIndex: Int
    private let total: Int
    private var _skipped = 0
    /// Samples that could not be decoded so far.
    public var skipped: Int { condition.lock(); defer { condition.unlock() }; return _skipped }

    /// The default number of workers: all cores, at most 8.
    public static var defaultWorkers: Int { min(8, max(1, ProcessInfo.processInfo.activeProcessorCount)) }

    /// `positionOffsets[b]` is added to each sample's position in batch `b` when seeding its augmentation: a rank
    /// of a distributed run loads its shard of the global batch with the same augmentation as one process would.
    public init(samples: [Sample], batches: [[Int]], startAt: Int, preprocessing: Preprocessing, augmentation: Augmentation,
                seed: UInt64, workers: Int = BatchLoader.defaultWorkers, depth: Int = 3, positionOffsets: [Int]? = nil) {
        total = batches.count
        nextIndex = startAt
        let reader = SampleReader()
        let pre = preprocessing
        let workers = max(1, workers), window = max(depth, workers + 1)
        for w in 0..<workers {
            let thread = Thread { [weak self] in
                for bi in stride(from: startAt + w, to: batches.count, by: workers) {
                    guard let me = self else { return }
                    me.condition.lock()
                    while !me.cancelled && bi >= me.nextIndex + window { me.condition.wait() }
                    let stop = me.cancelled
                    me.condition.unlock()
                    if stop { return }
                    var xs: [Tensor] = [], ys: [Float] = [], failed = 0
                    for (pos, si) in batches[bi].enumerated() {
                        let s = samples[si]
                        let position = pos + (positionOffsets?[bi] ?? 0)
                        var rng = SplitMix64(seed: seed &+ UInt64(bi) &* 1_000_033 &+ UInt64(position) &* 7 &+ stableHash(s.id, 0))
                        guard let image = try? reader.image(s) else { failed += 1; continue }
                        xs.append(Self.prepare(image, preprocessing: pre, augmentation: augmentation, rng: &rng))
                        ys.append(Float(s.label.rawValue))
                    }
                    let batch: Batch? = xs.isEmpty ? nil : Batch(x: stacked(xs), y: Tensor(ys))
                    me.condition.lock()
                    me._skipped += failed
                    me.ready[bi] = .some(batch)
                    me.condition.broadcast()
                    me.condition.unlock()
                }
            }
            thread.start()
        }
    }

    /// One training view: augmented, resized (shorter side) and centre-cropped to the input size, normalised.
    static func prepare(_ image: Image, preprocessing pre: Preprocessing, augmentation: Augmentation, rng: inout SplitMix64) -> Tensor {
        let augmented = augmentation.apply(image, rng: &rng)
        let size = pre.inputSize
        let shorter = Int((Double(size) / pre.cropFraction).rounded())
        let base = augmented.resized(shorterSide: max(shorter, size), filter: ResizeFilter(rawValue: pre.interpolation) ?? .bilinear)
            .centerCropped(width: size, height: size)
        let fitted = base.width == size && base.height == size ? base : base.resized(width: size, height: size)
        let t = augmentation.apply(fitted.tensor(), rng: &rng)
        return (t - Tensor(pre.mean, shape: [3, 1, 1])) / Tensor(pre.std, shape: [3, 1, 1])
    }

    /// The next batch in order, or nil at the end.
    public func next() -> Batch? {
        while let slot = nextSlot() {
            if let b = slot { return b }
        }
        return nil
    }

    /// The next batch in order, `.some(nil)` for a batch of which no sample could be read (or an empty shard),
    /// nil at the end: the ranks of a distributed run step through the same batches even when one has nothing.
    public func nextSlot() -> Batch?? {
        condition.lock()
        defer { condition.unlock() }
        guard nextIndex < total else { return nil }
        while ready[nextIndex] == nil && !cancelled { condition.wait() }
        if cancelled { return nil }
        let b = ready.removeValue(forKey: nextIndex)!
        nextIndex += 1
        condition.broadcast()
        return .some(b)
    }

    public func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }
    deinit { cancel() }
}

/// Loss and accuracy curves as a self-contained SVG.
public enum Curves {
    public static func svg(_ h: [TrainRecord]) -> String {
        let w = 640.0, ht = 300.0, pad = 40.0
        guard h.count >= 1 else { return "<svg xmlns=\"http://www.w3.org/2000/svg\"/>" }
        let maxLoss = max(h.map(\.trainLoss).filter(\.isFinite).max() ?? 1, h.map(\.validationLoss).max() ?? 1, 1e-6)
        func x(_ i: Int) -> Double { pad + (w - 2 * pad) * (h.count == 1 ? 0.5 : Double(i) / Double(h.count - 1)) }
        func y(_ v: Double, _ top: Double) -> Double { ht - pad - (ht - 2 * pad) * min(max(v / top, 0), 1) }
        func line(_ values: [Double], _ top: Double, _ colour: String) -> String {
            let pts = values.enumerated().map { String(format: "%.1f,%.1f", x($0.offset), y($0.element, top)) }.joined(separator: " ")
            return "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(pts)\"/>"
        }
        return """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(ht))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <line x1="\(pad)" y1="\(ht - pad)" x2="\(w - pad)" y2="\(ht - pad)" stroke="black"/><line x1="\(pad)" y1="\(pad)" x2="\(pad)" y2="\(ht - pad)" stroke="black"/>
        \(line(h.map(\.trainLoss), maxLoss, "#1f77b4"))
        \(line(h.map(\.validationLoss), maxLoss, "#ff7f0e"))
        \(line(h.map(\.validationAccuracy), 1, "#2ca02c"))
        <text x="\(pad)" y="20">train loss (blue), validation loss (orange), validation accuracy (green, 0-1); epochs 1-\(h.count)</text>
        </svg>
        """
    }
}

/// Appends `line` and a newline to the file at `path`, creating it if needed (JSON Lines logs).
public func appendLine(_ line: Data, to path: String) throws {
    if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
    guard let h = FileHandle(forWritingAtPath: path) else { throw DatasetError.unreadable(path: path, reason: "cannot open for appending") }
    defer { try? h.close() }
    try h.seekToEnd()
    try h.write(contentsOf: line + Data("\n".utf8))
}
