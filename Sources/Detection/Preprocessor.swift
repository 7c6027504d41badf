import Imaging
import ImagingTorch
import Models
import Torch

/// Turns a decoded image into the model's input batch following its `Preprocessing` policy.
public struct Preprocessor: Sendable {
    public let preprocessing: Preprocessing
    /// At most this many tiles per image for the `.tile` policy (evenly spread); keeps memory bounded.
    public var maxTiles: Int

    public init(_ preprocessing: Preprocessing, maxTiles: Int = 64) {
        self.preprocessing = preprocessing
        self.maxTiles = maxTiles
    }

    var filter: ResizeFilter { ResizeFilter(rawValue: preprocessing.interpolation) ?? .bilinear }

    /// Model input views of `image`: [N, 3, S, S] (one view, or several tiles), normalised.
    public func views(_ image: Image) -> (batch: Tensor, boxes: [(x: Int, y: Int, size: Int)]) {
        let s = preprocessing.inputSize
        let views: [(Image, (Int, Int, Int))]
        switch preprocessing.policy {
        case .resize:
            views = [(image.resized(width: s, height: s, filter: filter), (0, 0, max(image.width, image.height)))]
        case .resizeCenterCrop:
            // Square windows of the shorter side, evenly spread along the longer side so that the whole image
            // is looked at (one window for square images); each is resized and centre-cropped as in training.
            let shorter = Int((Double(s) / preprocessing.cropFraction).rounded())
            let side = min(image.width, image.height), long = max(image.width, image.height)
            let count = min(maxTiles, Int((Double(long) / Double(side) - 0.15).rounded(.up)).clamped(1, 8))
            views = (0..<count).map { i in
                let offset = count == 1 ? (long - side) / 2 : (long - side) * i / (count - 1)
                let (x, y) = image.width >= image.height ? (offset, (image.height - side) / 2) : ((image.width - side) / 2, offset)
                let square = image.cropped(x: x, y: y, width: side, height: side)
                let r = square.resized(width: shorter, height: shorter, filter: filter).centerCropped(width: s, height: s)
                return (r.width == s && r.height == s ? r : r.resized(width: s, height: s, filter: filter), (x, y, side))
            }
        case .tile:
            views = tiles(image, size: s)
        case .native:
            return (stacked([image.normalizedTensor(mean: preprocessing.mean, std: preprocessing.std)]),
                    [(0, 0, max(image.width, image.height))])
        }
        let batch = stacked(views.map { $0.0.normalizedTensor(mean: preprocessing.mean, std: preprocessing.std) })
        return (batch, views.map { (x: $0.1.0, y: $0.1.1, size: $0.1.2) })
    }

    /// Non-overlapping native-resolution tiles covering the image (the last row/column aligned to the edge);
    /// images smaller than a tile are resized up to one tile.
    public func tiles(_ image: Image, size s: Int) -> [(Image, (Int, Int, Int))] {
        if image.width < s || image.height < s {
            let sq = image.centerSquare()
            return [(sq.resized(width: s, height: s, filter: filter), ((image.width - sq.width) / 2, (image.height - sq.height) / 2, sq.width))]
        }
        func starts(_ n: Int) -> [Int] {
            let count = (n + s - 1) / s
            return (0..<count).map { min($0 * s, n - s) }
        }
        var all: [(Int, Int)] = []
        for y in starts(image.height) { for x in starts(image.width) { all.append((x, y)) } }
        if all.count > maxTiles {
            let step = Double(all.count) / Double(maxTiles)
            all = (0..<maxTiles).map { all[Int(Double($0) * step)] }
        }
        return all.map { (image.cropped(x: $0.0, y: $0.1, width: s, height: s), ($0.0, $0.1, s)) }
    }
}

extension Int {
    func clamped(_ lo: Int, _ hi: Int) -> Int { Swift.min(Swift.max(self, lo), hi) }
}
