import Foundation
import Imaging
import ImagingTorch
import Models
import NN
import Torch

/// Embeddings of a dataset by a frozen backbone, cached on disk by (backbone, weights, preprocessing, view, sample id).
public struct EmbeddingTable: Sendable {
    public var ids: [String]
    public var features: Tensor          // [N, D] float32
    public var index: [String: Int]

    public init(ids: [String], features: Tensor) {
        self.ids = ids
        self.features = features
        index = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
    }
    public func rows(_ samples: [Sample]) -> Tensor {
        let idx = samples.map { Int64(index[$0.id]!) }
        return features.indexSelect(axis: 0, Tensor(idx))
    }
}

/// A view of an image used for embedding: as stored, perturbed (the flip-rate checks), or randomly augmented
/// (extra training rows, so a head does not learn compression, size or framing).
public enum EmbeddingView: String, Sendable, CaseIterable {
    case plain, jpeg95, resize90, jpeg75, half, crop, aug1, aug2, aug3

    /// The flip-rate views, in the order the card lists them.
    public static let perturbations: [EmbeddingView] = [.jpeg95, .jpeg75, .resize90, .half, .crop]
    /// The augmented training views (`count` of them).
    public static func augmented(_ count: Int) -> [EmbeddingView] { Array([EmbeddingView.aug1, .aug2, .aug3].prefix(max(0, count))) }

    /// What a person reads for this view.
    public var summary: String {
        switch self {
        case .plain: return "as stored"
        case .jpeg95: return "JPEG q95 re-encode"
        case .jpeg75: return "JPEG q75 re-encode"
        case .resize90: return "10% downsize"
        case .half: return "0.5x downsize"
        case .crop: return "central 80% crop"
        case .aug1, .aug2, .aug3: return "random augmentation"
        }
    }

    /// The training augmentation of the `aug` views: JPEG 60-100, blur, resize 0.5-1.5x, crops and flips.
    public static let trainingAugmentation: Augmentation = {
        var a = Augmentation()
        a.flipProbability = 0.5
        a.cropProbability = 0.5
        a.cropScale = 0.6...1.0
        a.jpegProbability = 0.6
        a.jpegQuality = 60...100
        a.resizeProbability = 0.5
        a.resizeScale = 0.5...1.5
        a.blurProbability = 0.3
        a.blurSigma = 0.1...1.5
        return a
    }()

    /// The view of `image`; `seed` makes an augmented view reproducible (a hash of the sample id). Throws when the
    /// view cannot be made (a failed JPEG re-encode), never returns the original instead.
    func apply(_ image: Image, seed: UInt64 = 0) throws -> Image {
        func jpeg(_ q: Int) throws -> Image {
            try ImageDecoder().decode(data: ImageEncoder.jpeg(image, quality: q, subsampling: q >= 90 ? .s444 : .s420)).image
        }
        switch self {
        case .plain: return image
        case .jpeg95: return try jpeg(95)
        case .jpeg75: return try jpeg(75)
        case .resize90:
            return image.resized(width: max(1, image.width * 9 / 10), height: max(1, image.height * 9 / 10), filter: .bicubic)
        case .half:
            return image.resized(width: max(1, image.width / 2), height: max(1, image.height / 2), filter: .area)
        case .crop:
            let w = max(1, image.width * 8 / 10), h = max(1, image.height * 8 / 10)
            return image.centerCropped(width: w, height: h)
        case .aug1, .aug2, .aug3:
            var rng = SplitMix64(seed: seed ^ stableHash(rawValue, 0x5EED))
            let a = Self.trainingAugmentation
            let im = a.apply(image, rng: &rng)
            guard rng.chance(a.blurProbability) else { return im }
            return Image(tensor: gaussianBlur(im.tensor(), sigma: rng.uniform(a.blurSigma.lowerBound, a.blurSigma.upperBound)))
        }
    }
}

public enum FrozenFeatures {
    /// The cache metadata key holding what the embeddings were computed with (see `cacheKey`).
    static let cacheKeyField = "aidetect.embedding_key"

    /// What a cached embedding depends on besides the image: the backbone's weights (a digest) and the
    /// preprocessing (its JSON, keys sorted). A cache written under another key is stale.
    public static func cacheKey(weightsDigest: String, preprocessing: Preprocessing) throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = .sortedKeys
        return "weights=\(weightsDigest);preprocessing=" + String(decoding: try enc.encode(preprocessing), as: UTF8.self)
    }

    /// Embeds `samples` with `backbone` (eval, no grad), reusing and extending the cache at `cachePath`.
    /// Undecodable samples are reported through `onError` and left out.
    ///
    /// The cache is used only when it was written with the same backbone weights and preprocessing; otherwise it is
    /// ignored and rewritten. `weightsDigest` names the weights (e.g. `ContentDigest.file(path:)` of the weight file,
    /// cheap to compute once per run); when nil, the digest of `backbone`'s state dict is computed here.
    ///
    /// With a `group` (every rank calls `embed` with the same samples, in the same order of calls), the images that
    /// rank 0's cache lacks are split into contiguous shards, one per rank, embedded in parallel and gathered;
    /// rank 0 writes the cache, and every rank returns the same, whole table.
    public static func embed(_ samples: [Sample], backbone: FeatureExtractor, preprocessing: Preprocessing, view: EmbeddingView = .plain,
                             cachePath: String?, weightsDigest: String? = nil, batchSize: Int = 32, progress: ((Int, Int) -> Void)? = nil,
                             onError: ((Sample, Error) -> Void)? = nil, group: ProcessGroup? = nil) throws -> EmbeddingTable {
        var ids: [String] = [], rows: [Tensor] = []
        var known: [String: Int] = [:]
        let leader = (group?.rank ?? 0) == 0
        let key: String? = try cachePath.map { _ in
            try cacheKey(weightsDigest: weightsDigest ?? ContentDigest.stateDict(backbone.stateDict()), preprocessing: preprocessing)
        }
        if leader, let cachePath, FileManager.default.fileExists(atPath: cachePath),
           let (t, meta) = try? Safetensors.load(path: cachePath), meta[cacheKeyField] == key, let f = t["features"],
           let idData = meta["ids"]?.data(using: .utf8), let cachedIds = try? JSONDecoder().decode([String].self, from: idData),
           cachedIds.count == f.size(0) {
            for (i, id) in cachedIds.enumerated() { known[id] = i }
            ids = cachedIds
            rows = [f]
        }
        var todo = samples.filter { known[$0.id] == nil }
        var exchange: String?
        if let group {
            // Rank 0's cache decides what is left to embed; the others learn it through the store.
            embedCalls += 1
            exchange = "embed-\(embedCalls)"
            if leader {
                try group.setValue(try JSONEncoder().encode(todo.map(\.id)), for: exchange! + "-todo")
            } else {
                let wanted = try JSONDecoder().decode([String].self, from: try group.value(for: exchange! + "-todo"))
                let byId = Dictionary(samples.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
                todo = try wanted.map { id in
                    guard let s = byId[id] else { throw DatasetError.unreadable(path: id, reason: "rank 0 has this image and rank \(group.rank) has not: give every rank the same data") }
                    return s
                }
            }
        }
        let everything = todo
        let mine = group.map { Trainer.shard(todo.count, rank: $0.rank, of: $0.worldSize) } ?? todo.indices
        todo = Array(todo[mine])
        var newIds: Set<String> = []
        let reader = SampleReader()
        let pre = Preprocessor(preprocessing)
        backbone.eval()
        var batch: [Tensor] = [], batchIds: [String] = []
        var done = 0
        func flush() {
            guard !batch.isEmpty else { return }
            let e = withNoGrad { backbone.embedding(concatenated(batch, axis: 0)) }
            rows.append(e.detached())
            ids += batchIds
            newIds.formUnion(batchIds)
            batch = []
            batchIds = []
        }
        for s in todo {
            do {
                let image = try view.apply(try reader.image(s), seed: stableHash(s.id, 0))
                batch.append(pre.views(image).batch.slice(axis: 0, start: 0, end: 1))
                batchIds.append(s.id)
            } catch {
                onError?(s, error)
            }
            done += 1
            if batch.count == batchSize { flush(); progress?(done, todo.count) }
        }
        flush()
        progress?(done, todo.count)
        var all = rows.isEmpty ? Tensor.zeros([0, backbone.embeddingSize]) : concatenated(rows, axis: 0)
        if let group, let exchange {
            (ids, all) = try gather(group, exchange: exchange, everything: everything, mine: mine, ids: ids, features: all,
                                    embedded: newIds, width: backbone.embeddingSize) { s in
                // An image another rank could not read: rank 0 reads it again for the error to report.
                do { _ = try view.apply(try reader.image(s), seed: stableHash(s.id, 0)); onError?(s, DatasetError.unreadable(path: s.id, reason: "could not be embedded on another rank")) }
                catch { onError?(s, error) }
            }
            todo = everything
        }
        if leader, let cachePath, !todo.isEmpty {
            try? FileManager.default.createDirectory(atPath: (cachePath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let idJSON = String(decoding: try JSONEncoder().encode(ids), as: UTF8.self)
            var meta = ["ids": idJSON]
            meta[cacheKeyField] = key
            try Safetensors.save(["features": all], metadata: meta, path: cachePath)
        }
        return EmbeddingTable(ids: ids, features: all)
    }

    /// Calls of `embed` with a group in this process: every rank makes the same calls, so the count names each
    /// call's exchange in the group's store.
    nonisolated(unsafe) static var embedCalls = 0

    /// Gathers the rows each rank embedded for its shard of `everything` and hands every rank rank 0's whole table
    /// (its cached rows, then the new ones in `everything`'s order). `failed` runs on rank 0 for each image another
    /// rank could not embed.
    static func gather(_ group: ProcessGroup, exchange: String, everything: [Sample], mine: Range<Int>, ids: [String], features: Tensor,
                       embedded: Set<String>, width: Int, failed: (Sample) -> Void) throws -> ([String], Tensor) {
        let n = everything.count
        let row = Dictionary(ids.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let local = mine.filter { embedded.contains(everything[$0].id) }
        var buffer = [Float](repeating: 0, count: n * width), flags = [Float](repeating: 0, count: n)
        if !local.isEmpty {
            let values = features.indexSelect(axis: 0, Tensor(local.map { Int64(row[everything[$0].id]!) })).toArray(Float.self)
            for (j, i) in local.enumerated() {
                buffer.replaceSubrange(i * width..<(i + 1) * width, with: values[j * width..<(j + 1) * width])
                flags[i] = 1
            }
        }
        let gathered = Tensor(buffer, shape: [n, width]), present = Tensor(flags)
        buffer = []
        try group.allReduce([gathered, present])
        var finalIds: [String] = [], final = Tensor.zeros([0, width])
        if group.rank == 0 {
            let have = present.toArray(Float.self)
            let cached = ids.filter { !embedded.contains($0) }
            let cachedRows = cached.isEmpty ? Tensor.zeros([0, width]) : features.indexSelect(axis: 0, Tensor(cached.map { Int64(row[$0]!) }))
            let ok = (0..<n).filter { have[$0] > 0.5 }
            // Rank 0's own failures were reported as they happened.
            for i in 0..<n where have[i] <= 0.5 && !mine.contains(i) { failed(everything[i]) }
            finalIds = cached + ok.map { everything[$0].id }
            final = concatenated([cachedRows, gathered.indexSelect(axis: 0, Tensor(ok.map { Int64($0) }))], axis: 0)
            try group.setValue(try JSONEncoder().encode(finalIds), for: exchange + "-ids")
        } else {
            finalIds = try JSONDecoder().decode([String].self, from: try group.value(for: exchange + "-ids"))
            final = Tensor.zeros([finalIds.count, width])
        }
        final = final.contiguous()
        try group.broadcast([final], root: 0)
        return (finalIds, final)
    }
}

/// A linear probe on standardised embeddings, trained full-batch with AdamW and early stopping on the
/// validation loss; classes balanced through the positive-class weight.
public struct LinearProbe: Sendable {
    public var weight: [Float]      // in original (unstandardised) feature space
    public var bias: Float
    public var steps: Int
    public var bestValidationLoss: Double

    public struct Options: Sendable {
        public var learningRate = 1e-2
        public var weightDecay = 1e-2
        public var maxSteps = 1500
        public var patience = 100
        public var seed: UInt64 = 0
        public init() {}
    }

    /// Logits for features [N, D].
    public func logits(_ x: Tensor) -> [Double] {
        let w = Tensor(weight, shape: [weight.count, 1])
        return (x.matmul(w) + Double(bias)).reshaped([-1]).toArray(Float.self).map(Double.init)
    }

    /// Trains on `x` (rows) with labels `y`. `weights` (one per row; nil: classes balanced through the positive-class
    /// weight) and `validationWeights` weight the loss and the early-stopping loss, e.g. to balance content types.
    public static func train(x: Tensor, y: [Int], validationX: Tensor, validationY: [Int], weights: [Double]? = nil,
                             validationWeights: [Double]? = nil, options: Options = Options()) -> LinearProbe {
        Runtime.manualSeed(options.seed)
        let mean = x.mean(axes: [0], keepDims: true), std = x.std(axes: [0], keepDims: true).clamped(min: 1e-6)
        let xs = (x - mean) / std, vs = (validationX - mean) / std
        let d = x.size(1)
        let yt = Tensor(y.map { Float($0) }), vt = Tensor(validationY.map { Float($0) })
        func balanced(_ labels: [Int]) -> [Double] {
            let npos = Double(labels.filter { $0 == 1 }.count), nneg = Double(labels.count) - npos
            return labels.map { $0 == 1 ? 0.5 / max(npos, 1) : 0.5 / max(nneg, 1) }
        }
        func normalised(_ w: [Double]) -> Tensor {
            let total = w.reduce(0, +)
            return Tensor(w.map { Float($0 / max(total, 1e-12)) })
        }
        let wt = normalised(weights ?? balanced(y)), vwt = normalised(validationWeights ?? balanced(validationY))
        func loss(_ logits: Tensor, _ targets: Tensor, _ w: Tensor) -> Tensor {
            (binaryCrossEntropyWithLogits(logits, targets: targets, reduction: .none) * w).sum()
        }
        let head = Linear(inputFeatures: d, outputFeatures: 1)
        withNoGrad { head.weight.zero_(); head.bias?.zero_() }
        let (bestW, bestB, steps, best) = fitWithEarlyStopping(head, options: options,
                                                               trainLoss: { loss(head(xs).reshaped([-1]), yt, wt) },
                                                               validationLoss: { loss(head(vs).reshaped([-1]), vt, vwt).item() })
        // Fold the standardisation into the weights: w' = w / std, b' = b - sum(w * mean / std).
        let w = (bestW / std)                       // [1, D]
        let b = bestB - (w * mean).sum()
        return LinearProbe(weight: w.reshaped([-1]).toArray(Float.self), bias: Float(b.item()), steps: steps, bestValidationLoss: best)
    }
}

/// Full-batch AdamW on `head` with early stopping: stops after `options.patience` steps without a lower
/// validation loss and returns the best step's weight and bias, the steps taken and the best validation loss.
func fitWithEarlyStopping(_ head: Linear, options: LinearProbe.Options, trainLoss: () -> Tensor,
                          validationLoss: () -> Double) -> (weight: Tensor, bias: Tensor, steps: Int, best: Double) {
    let opt = AdamW(parameters: head.parameters(), learningRate: options.learningRate, weightDecay: options.weightDecay)
    var best = Double.infinity, bestW = head.weight.cloned().detached(), bestB = head.bias!.cloned().detached()
    var since = 0, steps = 0
    for step in 0..<options.maxSteps {
        opt.zeroGrad()
        trainLoss().backward()
        opt.step()
        steps = step + 1
        let vl = withNoGrad { validationLoss() }
        if vl < best - 1e-6 {
            best = vl
            bestW = head.weight.cloned().detached()
            bestB = head.bias!.cloned().detached()
            since = 0
        } else {
            since += 1
            if since >= options.patience { break }
        }
    }
    return (bestW, bestB, steps, best)
}
