/// An 8-bit sRGB image, RGB interleaved, row-major, top-left origin.
public struct Image: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// width * height * 3 bytes.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0 && pixels.count == width * height * 3,
                     "Image: \(pixels.count) bytes do not make a \(width)x\(height) RGB image")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
    /// A solid image.
    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8)) {
        var p = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            p[i * 3] = fill.0
            p[i * 3 + 1] = fill.1
            p[i * 3 + 2] = fill.2
        }
        self.init(width: width, height: height, pixels: p)
    }

    public subscript(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8) {
        let i = (y * width + x) * 3
        return (pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// The region at (x, y) of size w x h (must lie inside the image).
    public func cropped(x: Int, y: Int, width w: Int, height h: Int) -> Image {
        precondition(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= width && y + h <= height,
                     "cropped: \(w)x\(h)+\(x)+\(y) is outside \(width)x\(height)")
        var out = [UInt8](repeating: 0, count: w * h * 3)
        for row in 0..<h {
            let src = ((y + row) * width + x) * 3
            out.replaceSubrange((row * w * 3)..<((row + 1) * w * 3), with: pixels[src..<(src + w * 3)])
        }
        return Image(width: w, height: h, pixels: out)
    }

    /// The centred square of side min(width, height).
    public func centerSquare() -> Image {
        let s = min(width, height)
        return cropped(x: (width - s) / 2, y: (height - s) / 2, width: s, height: s)
    }

    /// A centred crop of w x h (clamped to the image).
    public func centerCropped(width w: Int, height h: Int) -> Image {
        let cw = min(w, width), ch = min(h, height)
        return cropped(x: (width - cw) / 2, y: (height - ch) / 2, width: cw, height: ch)
    }

    public func flippedHorizontally() -> Image {
        var out = [UInt8](repeating: 0, count: pixels.count)
        let w = width, h = height
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { out in
                for y in 0..<h {
                    for x in 0..<w {
                        let s = (y * w + x) * 3, d = (y * w + (w - 1 - x)) * 3
                        out[d] = src[s]; out[d + 1] = src[s + 1]; out[d + 2] = src[s + 2]
                    }
                }
            }
        }
        return Image(width: width, height: height, pixels: out)
    }

    /// Applies an EXIF orientation (1-8) so the result displays upright.
    public func oriented(_ orientation: Int) -> Image {
        guard (2...8).contains(orientation) else { return self }
        let swap = orientation >= 5
        let ow = swap ? height : width, oh = swap ? width : height
        var out = [UInt8](repeating: 0, count: pixels.count)
        for y in 0..<oh {
            for x in 0..<ow {
                // Source coordinates for destination (x, y), per the EXIF definition.
                let (sx, sy): (Int, Int)
                switch orientation {
                case 2: (sx, sy) = (width - 1 - x, y)
                case 3: (sx, sy) = (width - 1 - x, height - 1 - y)
                case 4: (sx, sy) = (x, height - 1 - y)
                case 5: (sx, sy) = (y, x)
                case 6: (sx, sy) = (y, height - 1 - x)
                case 7: (sx, sy) = (width - 1 - y, height - 1 - x)
                default: (sx, sy) = (width - 1 - y, x)
                }
                let s = (sy * width + sx) * 3, d = (y * ow + x) * 3
                out[d] = pixels[s]; out[d + 1] = pixels[s + 1]; out[d + 2] = pixels[s + 2]
            }
        }
        return Image(width: ow, height: oh, pixels: out)
    }
}
