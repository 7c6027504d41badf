// cimg.h - thin C wrappers over Debian's image codecs (libjpeg-turbo, libpng, libwebp, libtiff, giflib,
// stb_image for BMP, libheif, libavif) and lcms2, used by the Swift `Imaging` module.
//
// Every decoder reads the header first and refuses images over `max_pixels` before allocating the
// pixel buffer; outputs are 8-bit RGBA (channels = 4), top-left origin. No function longjmps or aborts
// across this header: failures return a CIMG_* code with a message in `err`.
#ifndef CIMG_H
#define CIMG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { CIMG_OK = 0, CIMG_CORRUPT = 1, CIMG_TRUNCATED = 2, CIMG_TOO_LARGE = 3, CIMG_UNSUPPORTED = 4, CIMG_NOMEM = 5 };
enum { CIMG_JPEG = 1, CIMG_PNG = 2, CIMG_WEBP = 3, CIMG_TIFF = 4, CIMG_GIF = 5, CIMG_BMP = 6, CIMG_HEIF = 7, CIMG_AVIF = 8 };

typedef struct {
    int32_t width, height;
    int32_t channels;          // always 4 (RGBA, 8 bits per channel)
    uint8_t *pixels;           // malloc'd, width * height * 4 bytes
    uint8_t *icc;              // malloc'd embedded ICC profile, or NULL
    size_t icc_len;
    int32_t frames;            // frames or pages in the file (first one decoded)
    int32_t bit_depth;         // bits per sample in the file
    int32_t has_alpha;         // the file carries transparency
    int32_t oriented;          // the decoder already applied the file's rotation (HEIF)
} cimg_image;

/// Decodes the first frame of `data` (format: CIMG_*). On CIMG_TOO_LARGE, width/height hold the
/// header's dimensions. The caller frees a successful result with cimg_free.
int cimg_decode(int format, const uint8_t *data, size_t len, int64_t max_pixels, cimg_image *out, char *err, size_t errlen);
void cimg_free(cimg_image *img);

/// Converts RGBA pixels in place from the given ICC profile to sRGB. Returns CIMG_OK, or
/// CIMG_UNSUPPORTED when the profile is unreadable or not an RGB profile (pixels untouched).
int cimg_icc_to_srgb(uint8_t *rgba, int32_t width, int32_t height, const uint8_t *icc, size_t icc_len, char *err, size_t errlen);

/// Encodes RGB (channels 3) or RGBA (4) pixels. The caller frees *out with cimg_free_buffer.
int cimg_encode_jpeg(const uint8_t *pixels, int32_t width, int32_t height, int32_t channels, int32_t quality,
                     int32_t subsample420, uint8_t **out, size_t *out_len, char *err, size_t errlen);
int cimg_encode_png(const uint8_t *pixels, int32_t width, int32_t height, int32_t channels, uint8_t **out,
                    size_t *out_len, char *err, size_t errlen);
void cimg_free_buffer(uint8_t *buf);

/// Library versions, for `aidetect --version` and bug reports (static storage).
const char *cimg_versions(void);
/* Decompresses a gzip file to dst (atomically, via dst.partial). 0 on success, else a message in err. */
int cimg_gunzip_file(const char *src, const char *dst, char *err, size_t errlen);
/// Inflates a zlib stream (window_bits 15) or raw deflate (-15) of n bytes into a malloc'd buffer (*out, *out_len;
/// free with free()). Fails (returns -1) on corrupt data or when the output would exceed max_out bytes.
int cimg_inflate(const unsigned char *src, size_t n, int window_bits, size_t max_out, unsigned char **out, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
