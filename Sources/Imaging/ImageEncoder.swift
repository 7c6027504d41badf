import CImageCodecs

/// Encodes images for augmentation (JPEG re-compression) and reports (PNG).
public enum ImageEncoder {
    public enum Subsampling: Sendable { case s444, s420 }

    /// JPEG bytes at `quality` (1-100).
    public static func jpeg(_ image: Image, quality: Int = 90, subsampling: Subsampling = .s420) -> [UInt8] {
        precondition((1...100).contains(quality), "jpeg: quality must be 1...100, got \(quality)")
        return encode { out, len, err in
            image.pixels.withUnsafeBufferPointer {
                cimg_encode_jpeg($0.baseAddress, Int32(image.width), Int32(image.height), 3, Int32(quality),
                                 subsampling == .s420 ? 1 : 0, out, len, err, 256)
            }
        }
    }

    /// Lossless PNG bytes (RGB).
    public static func png(_ image: Image) -> [UInt8] {
        encode { out, len, err in
            image.pixels.withUnsafeBufferPointer { cimg_encode_png($0.baseAddress, Int32(image.width), Int32(image.height), 3, out, len, err, 256) }
        }
    }

    /// Lossless PNG of 8-bit RGBA or greyscale (channels 4 or 1), e.g. heatmap overlays and masks.
    public static func png(rgba: [UInt8], width: Int, height: Int, channels: Int = 4) -> [UInt8] {
        precondition(rgba.count == width * height * channels, "png: buffer size does not match \(width)x\(height)x\(channels)")
        return encode { out, len, err in
            rgba.withUnsafeBufferPointer { cimg_encode_png($0.baseAddress, Int32(width), Int32(height), Int32(channels), out, len, err, 256) }
        }
    }

    private static func encode(_ body: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, UnsafeMutablePointer<Int>, UnsafeMutablePointer<CChar>) -> Int32) -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        var len = 0
        var err = [CChar](repeating: 0, count: 256)
        let rc = body(&out, &len, &err)
        // Encoding valid in-memory pixels only fails on allocation failure: a programming/resource error.
        precondition(rc == CIMG_OK && out != nil, "image encoding failed: \(cText(err))")
        defer { cimg_free_buffer(out) }
        return Array(UnsafeBufferPointer(start: out, count: len))
    }
}
