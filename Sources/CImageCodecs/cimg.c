// cimg.c - see include/cimg.h. Each decoder: header -> dimension check -> decode to RGBA8 -> ICC bytes.
#include "cimg.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <zlib.h>
#include <webp/decode.h>
#include <webp/demux.h>
#include <tiffio.h>
#include <gif_lib.h>
#include <libheif/heif.h>
#include <avif/avif.h>
#include <lcms2.h>

#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int too_large(int64_t w, int64_t h, int64_t max_pixels, cimg_image *out, char *err, size_t errlen) {
    out->width = (int32_t)(w > INT32_MAX ? INT32_MAX : w);
    out->height = (int32_t)(h > INT32_MAX ? INT32_MAX : h);
    if (w <= 0 || h <= 0) {
        set_err(err, errlen, "invalid dimensions %lldx%lld", (long long)w, (long long)h);
        return CIMG_CORRUPT;
    }
    if (w > 65535 * 4 || h > 65535 * 4 || w * h > max_pixels) {
        set_err(err, errlen, "%lldx%lld pixels exceed the limit of %lld", (long long)w, (long long)h, (long long)max_pixels);
        return CIMG_TOO_LARGE;
    }
    return CIMG_OK;
}

static uint8_t *alloc_rgba(int64_t w, int64_t h) { return (uint8_t *)malloc((size_t)(w * h * 4)); }

static uint8_t *copy_bytes(const void *p, size_t n) {
    if (!p || n == 0) return NULL;
    uint8_t *c = (uint8_t *)malloc(n);
    if (c) memcpy(c, p, n);
    return c;
}

// ---- JPEG ------------------------------------------------------------------------------------
struct jerr {
    struct jpeg_error_mgr pub;
    jmp_buf jmp;
    int truncated;
    char msg[JMSG_LENGTH_MAX];
};
static void jpeg_fail(j_common_ptr cinfo) {
    struct jerr *e = (struct jerr *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jmp, 1);
}
static void jpeg_note(j_common_ptr cinfo, int level) {
    struct jerr *e = (struct jerr *)cinfo->err;
    if (level < 0) {
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) e->truncated = 1;
        else if (e->msg[0] == 0) (*cinfo->err->format_message)(cinfo, e->msg);
        cinfo->err->num_warnings++;
    }
}

static int decode_jpeg(const uint8_t *data, size_t len, int64_t max_pixels, cimg_image *out, char *err, size_t errlen) {
    struct jpeg_decompress_struct c;
    struct jerr e;
    memset(&e, 0, sizeof e);
    uint8_t *volatile pixels = NULL;
    uint8_t *volatile row = NULL;
    c.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = jpeg_fail;
    e.pub.emit_message = jpeg_note;
    if (setjmp(e.jmp)) {
        free(pixels);
        free(row);
        free(out->icc);
        out->icc = NULL;
        jpeg_destroy_decompress(&c);
        set_err(err, errlen, "%s", e.msg);
        return CIMG_CORRUPT;
    }
    jpeg_create_decompress(&c);
    jpeg_mem_src(&c, data, (unsigned long)len);
    jpeg_save_markers(&c, JPEG_APP0 + 2, 0xFFFF);
    jpeg_read_header(&c, TRUE);
    int rc = too_large(c.image_width, c.image_height, max_pixels, out, err, errlen);
    if (rc != CIMG_OK) {
        jpeg_destroy_decompress(&c);
        return rc;
    }
    JOCTET *icc = NULL;
    unsigned int icc_len = 0;
    if (jpeg_read_icc_profile(&c, &icc, &icc_len) && icc) {
        out->icc = copy_bytes(icc, icc_len);
        out->icc_len = icc_len;
        free(icc);
    }
    int cmyk = c.jpeg_color_space == JCS_CMYK || c.jpeg_color_space == JCS_YCCK;
    c.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&c);
    int64_t w = c.output_width, h = c.output_height;
    pixels = alloc_rgba(w, h);
    row = (uint8_t *)malloc((size_t)w * c.output_components);
    if (!pixels || !row) {
        free(pixels);
        free(row);
        jpeg_destroy_decompress(&c);
        set_err(err, errlen, "out of memory for %lldx%lld", (long long)w, (long long)h);
        return CIMG_NOMEM;
    }
    // Adobe CMYK JPEGs store inverted values.
    int inverted = cmyk && c.saw_Adobe_marker;
    while (c.output_scanline < c.output_height) {
        JSAMPROW r = row;
        int64_t y = c.output_scanline;
        jpeg_read_scanlines(&c, &r, 1);
        uint8_t *dst = pixels + y * w * 4;
        for (int64_t x = 0; x < w; x++) {
            if (cmyk) {
                int C = row[x * 4], M = row[x * 4 + 1], Y = row[x * 4 + 2], K = row[x * 4 + 3];
                if (!inverted) { C = 255 - C; M = 255 - M; Y = 255 - Y; K = 255 - K; }
                dst[x * 4] = (uint8_t)(C * K / 255);
                dst[x * 4 + 1] = (uint8_t)(M * K / 255);
                dst[x * 4 + 2] = (uint8_t)(Y * K / 255);
            } else {
                dst[x * 4] = row[x * 3];
                dst[x * 4 + 1] = row[x * 3 + 1];
                dst[x * 4 + 2] = row[x * 3 + 2];
            }
            dst[x * 4 + 3] = 255;
        }
    }
    int truncated = e.truncated;
    jpeg_finish_decompress(&c);
    truncated |= e.truncated;
    jpeg_destroy_decompress(&c);
    free(row);
    if (truncated) {
        free(pixels);
        free(out->icc);
        out->icc = NULL;
        set_err(err, errlen, "premature end of JPEG data");
        return CIMG_TRUNCATED;
    }
    if (cmyk && out->icc) {  // a CMYK profile cannot be applied to our RGB output
        free(out->icc);
        out->icc = NULL;
        out->icc_len = 0;
    }
    out->width = (int32_t)w;
    out->height = (int32_t)h;
    out->pixels = pixels;
    out->bit_depth = 8;
    out->frames = 1;
    return CIMG_OK;
}

// ---- PNG -------------------------------------------------------------------------------------
// The iCCP chunk (zlib-compressed profile), read directly since the simplified API does not expose it.
static void png_icc(const uint8_t *d, size_t len, cimg_image *out) {
    size_t p = 8;
    while (p + 12 <= len) {
        uint32_t n = ((uint32_t)d[p] << 24) | ((uint32_t)d[p + 1] << 16) | ((uint32_t)d[p + 2] << 8) | d[p + 3];
        if (n > len - p - 12) return;
        const uint8_t *type = d + p + 4, *body = d + p + 8;
        if (memcmp(type, "IDAT", 4) == 0 || memcmp(type, "IEND", 4) == 0) return;
        if (memcmp(type, "iCCP", 4) == 0) {
            size_t name = 0;
            while (name < n && name < 80 && body[name] != 0) name++;
            if (name + 2 > n) return;
            const uint8_t *z = body + name + 2;
            size_t zlen = n - name - 2;
            uLongf cap = 4 * 1024 * 1024;
            uint8_t *buf = (uint8_t *)malloc(cap);
            if (!buf) return;
            if (uncompress(buf, &cap, z, zlen) == Z_OK) {
                out->icc = buf;
                out->icc_len = cap;
            } else {
                free(buf);
            }
            return;
        }
        p += 12 + n;
    }
}

// Whether the PNG declares its colour encoding (gAMA, sRGB, iCCP or cHRM) before the image data.
static int png_has_colour_chunk(const uint8_t *d, size_t len) {
    size_t p = 8;
    while (p + 12 <= len) {
        uint32_t n = ((uint32_t)d[p] << 24) | ((uint32_t)d[p + 1] << 16) | ((uint32_t)d[p + 2] << 8) | d[p + 3];
        const uint8_t *t = d + p + 4;
        if (memcmp(t, "IDAT", 4) == 0 || n > len - p - 12) return 0;
        if (!memcmp(t, "gAMA", 4) || !memcmp(t, "sRGB", 4) || !memcmp(t, "iCCP", 4) || !memcmp(t, "cHRM", 4)) return 1;
        p += 12 + n;
    }
    return 0;
}

static int decode_png(const uint8_t *data, size_t len, int64_t max_pixels, cimg_image *out, char *err, size_t errlen) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, data, len)) {
        set_err(err, errlen, "%s", img.message);
        png_image_free(&img);
        return CIMG_CORRUPT;
    }
    int rc = too_large(img.width, img.height, max_pixels, out, err, errlen);
    if (rc != CIMG_OK) {
        png_image_free(&img);
        return rc;
    }
    out->bit_depth = (img.format & PNG_FORMAT_FLAG_LINEAR) ? 16 : 8;
    out->has_alpha = (img.format & PNG_FORMAT_FLAG_ALPHA) ? 1 : 0;
    uint8_t *pixels = alloc_rgba(img.width, img.height);
    if (!pixels) {
        png_image_free(&img);
        set_err(err, errlen, "out of memory");
        return CIMG_NOMEM;
    }
    // libpng's simplified API takes 16-bit samples without colour information as linear light and
    // brightens them on the way to 8-bit sRGB; viewers (and PIL) take them as sRGB-encoded. Read such
    // files as 16-bit "linear" (no conversion), undo the premultiplied alpha, and keep the top 8 bits.
    int raw16 = out->bit_depth == 16 && !png_has_colour_chunk(data, len);
    int ok;
    if (raw16) {
        img.format = PNG_FORMAT_LINEAR_RGB_ALPHA;
        uint16_t *wide = (uint16_t *)malloc((size_t)img.width * img.height * 8);
        ok = wide && png_image_finish_read(&img, NULL, wide, 0, NULL);
        if (ok) {
            for (size_t i = 0; i < (size_t)img.width * img.height; i++) {
                uint32_t a = wide[i * 4 + 3];
                for (int c = 0; c < 3; c++) {
                    uint32_t v = wide[i * 4 + c];
                    if (a > 0 && a < 65535) v = (v * 65535u + a / 2) / a;
                    if (v > 65535) v = 65535;
                    pixels[i * 4 + c] = (uint8_t)((v * 255u + 32767u) / 65535u);
                }
                pixels[i * 4 + 3] = (uint8_t)((a * 255u + 32767u) / 65535u);
            }
        }
        free(wide);
    } else {
        img.format = PNG_FORMAT_RGBA;
        ok = png_image_finish_read(&img, NULL, pixels, 0, NULL);
    }
    if (!ok) {
        set_err(err, errlen, "%s", img.message[0] ? img.message : "out of memory");
        free(pixels);
        png_image_free(&img);
        return CIMG_CORRUPT;
    }
    out->width = (int32_t)img.width;
    out->height = (int32_t)img.height;
    out->pixels = pixels;
    out->frames = 1;
    png_image_free(&img);
    png_icc(data, len, out);
    return CIMG_OK;
}

// ---- WebP ------------------------------------------------------------------------------------
static int decode_webp(const uint8_t *data, size_t len, int64_t max_pixels, cimg_image *out, char *err, size_t errlen) {
    WebPBitstreamFeatures f;
    VP8StatusCode st = WebPGetFeatures(data, len, &f);
    if (st != VP8_STATUS_OK) {
        set_err(err, errlen, "WebP header unreadable (status %d)", (int)st);
        return st == VP8_STATUS_NOT_ENOUGH_DATA ? CIMG_TRUNCATED : CIMG_CORRUPT;
    }
    int rc = too_large(f.width, f.height, max_pixels, out, err, errlen);
    if (rc != CIMG_OK) return rc;
    WebPData wd = {data, len};
    WebPDemuxer *dmux = WebPDemux(&wd);
    out->frames = 1;
    if (dmux) {
        out->frames = (int32_t)WebPDemuxGetI(dmux, WEBP_FF_FRAME_COUNT);
        WebPChunkIterator it;
        if (WebPDemuxGetChunk(dmux, "ICCP", 1, &it)) {
            out->icc = copy_bytes(it.chunk.bytes, it.chunk.size);
            out->icc_len = out->icc ? it.chunk.size : 0;
            WebPDemuxReleaseChunkIterator(&it);
        }
        WebPDemuxDelete(dmux);
    }
    int64_t w = f.width, h = f.height;
    uint8_t *pixels = alloc_rgba(w, h);
    if (!pixels) {
        set_err(err, errlen, "out of memory");
        return CIMG_NOMEM;
    }
    if (f.has_animation) {
        WebPAnimDecoderOptions opt;
        WebPAnimDecoderOptionsInit(&opt);
        opt.color_mode = MODE_RGBA;
        WebPAnimDecoder *dec = WebPAnimDecoderNew(&wd, &opt);
        uint8_t *frame = NULL;
        int ts = 0;
        WebPAnimInfo info;
        if (!dec || !WebPAnimDecoderGetInfo(dec, &info) || (int64_t)info.canvas_width * info.canvas_height != w * h ||
            !WebPAnimDecoderGetNext(dec, &frame, &ts)) {
            if (dec) WebPAnimDecoderDelete(dec);
            free(pixels);
            set_err(err, errlen, "animated WebP: first frame undecodable");
            return CIMG_CORRUPT;
        }
        memcpy(pixels, frame, (size_t)(w * h * 4));
        WebPAnimDecoderDelete(dec);
    } else if (!WebPDecodeRGBAInto(data, len, pixels, (size_t)(w * h * 4), (int)(w * 4))) {
        free(pixels);
        set_err(err, errlen, "WebP bitstream undecodable");
        return CIMG_CORRUPT;
    }
    out->width = (int32_t)w;
    out->height = (int32_t)h;
    out->pixels = pixels;
    out->has_alpha = f.has_alpha;
    out->bit_depth = 8;
    return CIMG_OK;
}

// ---- TIFF ------------------------------------------------------------------------------------
typedef struct { const uint8_t *d; toff_t len, pos; } memfile;
static tmsize_t t_read(thandle_t h, void *buf, tmsize_t n) {
    memfile *m = (memfile *)h;
    if (m->pos >= m->len) return 0;
    toff_t left = m->len - m->pos;
    if ((toff_t)n > left) n = (tmsize_t)left;
    memcpy(buf, m->d + m->pos, (size_t)n);
    m->pos += (toff_t)n;
    return n;
}
static tmsize_t t_write(thandle_t h, void *buf, tmsize_t n) { (void)h; (void)buf; (void)n; return -1; }
static toff_t t_seek(thandle_t h, toff_t off, int whence) {
    memfile *m = (memfile *)h;
    toff_t base = whence == SEEK_SET ? 0 : (whence == SEEK_CUR ? m->pos : m->len);
    m->pos = base + off;
    return m->pos;
}
static int t_close(thandle_t h) { (void)h; return 0; }
static toff_t t_size(thandle_t h) { return ((memfile *)h)->len; }
static int t_map(thandle_t h, void **base, toff_t *size) { (void)h; (void)base; (void)size; return 0; }
static void t_unmap(thandle_t h, void *base, toff_t size) { (void)h; (void)base; (void)size; }
static int t_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif; (void)module;
    char *msg = (char *)user;
    if (msg[0] == 0) vsnprintf(msg, 256, fmt, ap);
    return 1;
}
static int t_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif; (void)user; (void)module; (void)fmt; (void)ap;
    return 1;
}

static int decode_tiff(const uint8_t *data, size_t len, int64_t max_pixels, cimg_image *out, char *err, size_t errlen) {
    memfile m = {data, (toff_t)len, 0};
    char msg[256] = {0};
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    TIFFOpenOptionsSetErrorHandlerExtR(opts, t_error, msg);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, t_warning, NULL);
    TIFF *tif = TIFFClientOpenExt("memory", "rm", (thandle_t)&m, t_read, t_write, t_seek, t_close, t_size, t_map, t_unmap, opts);
    TIFFOpenOptionsFree(opts);
    if (!tif) {
        set_err(err, errlen, "TIFF header unreadable: %s", msg);
        return CIMG_CORRUPT;
    }
    uint32_t w = 0, h = 0;
    uint16_t bps = 8, spp = 1;
    TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h);
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    int rc = too_large(w, h, max_pixels, out, err, errlen);
    if (rc != CIMG_OK) {
        TIFFClose(tif);
        return rc;
    }
    uint32_t icc_len = 0;
    void *icc = NULL;
    if (TIFFGetField(tif, TIFFTAG_ICCPROFILE, &icc_len, &icc) && icc && icc_len > 0) {
        out->icc = copy_bytes(icc, icc_len);
        out->icc_len = out->icc ? icc_len : 0;
    }
    uint32_t *raster = (uint32_t *)_TIFFmalloc((tmsize_t)w * h * sizeof(uint32_t));
    if (!raster) {
        TIFFClose(tif);
        set_err(err, errlen, "out of memory");
        return CIMG_NOMEM;
    }
    if (!TIFFReadRGBAImageOriented(tif, w, h, raster, ORIENTATION_TOPLEFT, 0)) {
        _TIFFfree(raster);
        TIFFClose(tif);
        free(out->icc);
        out->icc = NULL;
        set_err(err, errlen, "TIFF image data undecodable: %s", msg[0] ? msg : "unsupported layout");
        return CIMG_CORRUPT;
    }
    uint8_t *pixels = alloc_rgba(w, h);
    if (!pixels) {
        _TIFFfree(raster);
        TIFFClose(tif);
        return CIMG_NOMEM;
    }
    for (int64_t i = 0; i < (int64_t)w * h; i++) {
        uint32_t p = raster[i];
        pixels[i * 4] = (uint8_t)TIFFGetR(p);
        pixels[i * 4 + 1] = (uint8_t)TIFFGetG(p);
        pixels[i * 4 + 2] = (uint8_t)TIFFGetB(p);
        pixels[i * 4 + 3] = (uint8_t)TIFFGetA(p);
    }
    _TIFFfree(raster);
    out->frames = (int32_t)TIFFNumberOfDirectories(tif);
    TIFFClose(tif);
    out->width = (int32_t)w;
    out->height = (int32_t)h;
    out->pixels = pixels;
    out->bit_depth = bps;
    out->has_alpha = spp == 2 || spp == 4;
    if (msg[0]) {  // libtiff reported a read error while still producing a raster: treat as truncated/corrupt
        free(pixels);
        free(out->icc);
        out->icc = NULL;
        out->pixels = NULL;
        set_err(err, errlen, "TIFF data error: %s", msg);
        return CIMG_CORRUPT;
    }
    return CIMG_OK;
}

// ---- GIF -------------------------------------------------------------------------------------
typedef struct { const uint8_t *d; size_t len, pos; } gifsrc;
static int g_read(GifFileType *g, GifByteType *buf, int n) {
    gifsrc *s = (gifsrc *)g->UserData;
    size_t left = s->len - s->pos;
    if ((size_t)n > left) n = (int)left;
    memcpy(buf, s->d + s->pos, (size_t)n);
    s->pos += (size_t)n;
    return n;
}

static int decode_gif(const uint8_t *data, size_t len, int64_t max_pixels, cimg_image *out, char *err, size_t errlen) {
    gifsrc src = {data, len, 0};
    int e = 0;
    GifFileType *g = DGifOpen(&src, g_read, &e);
    if (!g) {
        set_err(err, errlen, "GIF header unreadable: %s", GifErrorString(e));
        return CIMG_CORRUPT;
    }
    int rc = too_large(g->SWidth, g->SHeight, max_pixels, out, err, errlen);
    if (rc != CIMG_OK) {
        DGifCloseFile(g, &e);
        return rc;
    }
    if (DGifSlurp(g) != GIF_OK) {
        int code = g->Error;
        DGifCloseFile(g, &e);
        set_err(err, errlen, "GIF data undecodable: %s", GifErrorString(code));
        return (code == D_GIF_ERR_READ_FAILED || len == 0 || data[len - 1] != 0x3B) ? CIMG_TRUNCATED : CIMG_CORRUPT;
    }
    if (g->ImageCount < 1 || !g->SavedImages[0].RasterBits) {
        int code = g->Error;
        DGifCloseFile(g, &e);
        set_err(err, errlen, "GIF holds no complete frame");
        return code == D_GIF_ERR_READ_FAILED ? CIMG_TRUNCATED : CIMG_CORRUPT;
    }
    SavedImage *f = &g->SavedImages[0];
    ColorMapObject *cmap = f->ImageDesc.ColorMap ? f->ImageDesc.ColorMap : g->SColorMap;
    if (!cmap) {
        DGifCloseFile(g, &e);
        set_err(err, errlen, "GIF frame without a colour map");
        return CIMG_CORRUPT;
    }
    GraphicsControlBlock gcb;
    gcb.TransparentColor = NO_TRANSPARENT_COLOR;
    DGifSavedExtensionToGCB(g, 0, &gcb);
    int64_t W = g->SWidth, H = g->SHeight;
    uint8_t *pixels = alloc_rgba(W, H);
    if (!pixels) {
        DGifCloseFile(g, &e);
        return CIMG_NOMEM;
    }
    memset(pixels, 0, (size_t)(W * H * 4));  // transparent canvas
    int fl = f->ImageDesc.Left, ft = f->ImageDesc.Top, fw = f->ImageDesc.Width, fh = f->ImageDesc.Height;
    for (int y = 0; y < fh; y++) {
        for (int x = 0; x < fw; x++) {
            int cx = fl + x, cy = ft + y;
            if (cx < 0 || cy < 0 || cx >= W || cy >= H) continue;
            int idx = f->RasterBits[(size_t)y * fw + x];
            if (idx == gcb.TransparentColor || idx >= cmap->ColorCount) continue;
            uint8_t *p = pixels + ((int64_t)cy * W + cx) * 4;
            p[0] = cmap->Colors[idx].Red;
            p[1] = cmap->Colors[idx].Green;
            p[2] = cmap->Colors[idx].Blue;
            p[3] = 255;
        }
    }
    out->frames = g->ImageCount;
    out->has_alpha = gcb.TransparentColor != NO_TRANSPARENT_COLOR || fw < W || fh < H;
    DGifCloseFile(g, &e);
    out->width = (int32_t)W;
    out->height = (int32_t)H;
    out->pixels = pixels;
    out->bit_depth = 8;
    return CIMG_OK;
}

// ---- BMP (stb_image) -------------------------------------------------------------------------
static int decode_bmp(const uint8_t *data, size_t len, int64_t max_pixels, cimg_image *out, char *err, size_t errlen) {
    int w = 0, h = 0, comp = 0;
    if (len > INT32_MAX || !stbi_info_from_memory(data, (int)len, &w, &h, &comp)) {
        set_err(err, errlen, "BMP header unreadable: %s", stbi_failure_reason() ? stbi_failure_reason() : "unknown");
        return CIMG_CORRUPT;
    }
    int rc = too_large(w, h, max_pixels, out, err, errlen);
    if (rc != CIMG_OK) return rc;
    // Uncompressed BMPs must hold every row; stb_image would fill missing rows silently.
    if (len >= 34) {
        uint32_t offset = data[10] | data[11] << 8 | data[12] << 16 | (uint32_t)data[13] << 24;
        uint32_t bpp = data[28] | data[29] << 8;
        uint32_t compression = data[30] | data[31] << 8 | data[32] << 16 | (uint32_t)data[33] << 24;
        if ((compression == 0 || compression == 3) && bpp > 0) {
            uint64_t stride = (((uint64_t)w * bpp + 31) / 32) * 4;
            if ((uint64_t)offset + stride * (uint64_t)h > len) {
                set_err(err, errlen, "BMP pixel data ends early");
                return CIMG_TRUNCATED;
            }
        }
    }
    uint8_t *px = stbi_load_from_memory(data, (int)len, &w, &h, &comp, 4);
    if (!px) {
        set_err(err, errlen, "BMP pixel data undecodable: %s", stbi_failure_reason() ? stbi_failure_reason() : "unknown");
        return CIMG_CORRUPT;
    }
    // Copy into a malloc'd buffer so cimg_free can use free() whatever stb's allocator is.
    uint8_t *pixels = alloc_rgba(w, h);
    if (!pixels) {
        stbi_image_free(px);
        return CIMG_NOMEM;
    }
    memcpy(pixels, px, (size_t)w * h * 4);
    stbi_image_free(px);
    out->width = w;
    out->height = h;
    out->pixels = pixels;
    out->has_alpha = comp == 4;
    out->frames = 1;
    out->bit_depth = 8;
    return CIMG_OK;
}

// ---- HEIF/HEIC (libheif) ---------------------------------------------------------------------
static int decode_heif(const uint8_t *data, size_t len, int64_t max_pixels, cimg_image *out, char *err, size_t errlen) {
    struct heif_context *ctx = heif_context_alloc();
    if (!ctx) return CIMG_NOMEM;
    struct heif_error he = heif_context_read_from_memory_without_copy(ctx, data, len, NULL);
    if (he.code != heif_error_Ok) {
        set_err(err, errlen, "HEIF container unreadable: %s", he.message);
        // he.message belongs to the context: read it before freeing the context (found by FuzzImageDecode).
        int truncated = he.code == heif_error_Invalid_input && he.message && strstr(he.message, "end of");
        heif_context_free(ctx);
        return truncated ? CIMG_TRUNCATED : CIMG_CORRUPT;
    }
    struct heif_image_handle *hd = NULL;
    he = heif_context_get_primary_image_handle(ctx, &hd);
    if (he.code != heif_error_Ok) {
        set_err(err, errlen, "HEIF has no primary image: %s", he.message);
        heif_context_free(ctx);
        return CIMG_CORRUPT;
    }
    int64_t w = heif_image_handle_get_width(hd), h = heif_image_handle_get_height(hd);
    int rc = too_large(w, h, max_pixels, out, err, errlen);
    if (rc != CIMG_OK) {
        heif_image_handle_release(hd);
        heif_context_free(ctx);
        return rc;
    }
    out->frames = heif_context_get_number_of_top_level_images(ctx);
    out->has_alpha = heif_image_handle_has_alpha_channel(hd);
    out->bit_depth = heif_image_handle_get_luma_bits_per_pixel(hd);
    size_t icc_len = heif_image_handle_get_raw_color_profile_size(hd);
    if (icc_len > 0) {
        out->icc = (uint8_t *)malloc(icc_len);
        if (out->icc && heif_image_handle_get_raw_color_profile(hd, out->icc).code == heif_error_Ok) {
            out->icc_len = icc_len;
        } else {
            free(out->icc);
            out->icc = NULL;
        }
    }
    struct heif_image *img = NULL;
    he = heif_decode_image(hd, &img, heif_colorspace_RGB, heif_chroma_interleaved_RGBA, NULL);
    if (he.code != heif_error_Ok) {
        set_err(err, errlen, "HEIF image undecodable: %s", he.message);
        free(out->icc);
        out->icc = NULL;
        heif_image_handle_release(hd);
        heif_context_free(ctx);
        return he.code == heif_error_Unsupported_feature || he.code == heif_error_Unsupported_filetype ? CIMG_UNSUPPORTED : CIMG_CORRUPT;
    }
    int stride = 0;
    const uint8_t *plane = heif_image_get_plane_readonly(img, heif_channel_interleaved, &stride);
    int64_t iw = heif_image_get_width(img, heif_channel_interleaved), ih = heif_image_get_height(img, heif_channel_interleaved);
    uint8_t *pixels = plane ? alloc_rgba(iw, ih) : NULL;
    if (pixels) {
        for (int64_t y = 0; y < ih; y++) memcpy(pixels + y * iw * 4, plane + y * stride, (size_t)iw * 4);
    }
    heif_image_release(img);
    heif_image_handle_release(hd);
    heif_context_free(ctx);
    if (!pixels) {
        free(out->icc);
        out->icc = NULL;
        set_err(err, errlen, "HEIF decoder returned no pixels");
        return CIMG_CORRUPT;
    }
    out->width = (int32_t)iw;
    out->height = (int32_t)ih;
    out->pixels = pixels;
    out->oriented = 1;
    return CIMG_OK;
}

// ---- AVIF (libavif) --------------------------------------------------------------------------
static int decode_avif(const uint8_t *data, size_t len, int64_t max_pixels, cimg_image *out, char *err, size_t errlen) {
    avifDecoder *dec = avifDecoderCreate();
    if (!dec) return CIMG_NOMEM;
    dec->imageSizeLimit = (uint32_t)(max_pixels > 0xFFFFFFFFLL ? 0xFFFFFFFFu : (uint32_t)max_pixels);
    dec->maxThreads = 1;
    avifResult r = avifDecoderSetIOMemory(dec, data, len);
    if (r == AVIF_RESULT_OK) r = avifDecoderParse(dec);
    if (r != AVIF_RESULT_OK) {
        set_err(err, errlen, "AVIF container unreadable: %s", avifResultToString(r));
        int code = r == AVIF_RESULT_TRUNCATED_DATA ? CIMG_TRUNCATED
                 : r == AVIF_RESULT_NOT_IMPLEMENTED ? CIMG_UNSUPPORTED : CIMG_CORRUPT;
        if (dec->image && dec->image->width > 0 && (int64_t)dec->image->width * dec->image->height > max_pixels) {
            code = too_large(dec->image->width, dec->image->height, max_pixels, out, err, errlen);
        }
        avifDecoderDestroy(dec);
        return code;
    }
    int rc = too_large(dec->image->width, dec->image->height, max_pixels, out, err, errlen);
    if (rc != CIMG_OK) {
        avifDecoderDestroy(dec);
        return rc;
    }
    out->frames = dec->imageCount;
    r = avifDecoderNextImage(dec);
    if (r != AVIF_RESULT_OK) {
        set_err(err, errlen, "AVIF image undecodable: %s", avifResultToString(r));
        avifDecoderDestroy(dec);
        return r == AVIF_RESULT_TRUNCATED_DATA ? CIMG_TRUNCATED : CIMG_CORRUPT;
    }
    avifRGBImage rgb;
    avifRGBImageSetDefaults(&rgb, dec->image);
    rgb.format = AVIF_RGB_FORMAT_RGBA;
    rgb.depth = 8;
    avifRGBImageAllocatePixels(&rgb);
    r = avifImageYUVToRGB(dec->image, &rgb);
    if (r != AVIF_RESULT_OK) {
        avifRGBImageFreePixels(&rgb);
        avifDecoderDestroy(dec);
        set_err(err, errlen, "AVIF colour conversion failed: %s", avifResultToString(r));
        return CIMG_CORRUPT;
    }
    int64_t w = rgb.width, h = rgb.height;
    uint8_t *pixels = alloc_rgba(w, h);
    if (pixels) {
        for (int64_t y = 0; y < h; y++) memcpy(pixels + y * w * 4, rgb.pixels + y * rgb.rowBytes, (size_t)w * 4);
    }
    if (dec->image->icc.size > 0) {
        out->icc = copy_bytes(dec->image->icc.data, dec->image->icc.size);
        out->icc_len = out->icc ? dec->image->icc.size : 0;
    }
    out->bit_depth = (int32_t)dec->image->depth;
    out->has_alpha = dec->alphaPresent;
    avifRGBImageFreePixels(&rgb);
    avifDecoderDestroy(dec);
    if (!pixels) return CIMG_NOMEM;
    out->width = (int32_t)w;
    out->height = (int32_t)h;
    out->pixels = pixels;
    return CIMG_OK;
}

// ---- public ----------------------------------------------------------------------------------
int cimg_decode(int format, const uint8_t *data, size_t len, int64_t max_pixels, cimg_image *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    out->channels = 4;
    if (err && errlen) err[0] = 0;
    if (!data || len == 0) {
        set_err(err, errlen, "no data");
        return CIMG_CORRUPT;
    }
    switch (format) {
        case CIMG_JPEG: return decode_jpeg(data, len, max_pixels, out, err, errlen);
        case CIMG_PNG: return decode_png(data, len, max_pixels, out, err, errlen);
        case CIMG_WEBP: return decode_webp(data, len, max_pixels, out, err, errlen);
        case CIMG_TIFF: return decode_tiff(data, len, max_pixels, out, err, errlen);
        case CIMG_GIF: return decode_gif(data, len, max_pixels, out, err, errlen);
        case CIMG_BMP: return decode_bmp(data, len, max_pixels, out, err, errlen);
        case CIMG_HEIF: return decode_heif(data, len, max_pixels, out, err, errlen);
        case CIMG_AVIF: return decode_avif(data, len, max_pixels, out, err, errlen);
    }
    set_err(err, errlen, "unknown format code %d", format);
    return CIMG_UNSUPPORTED;
}

void cimg_free(cimg_image *img) {
    if (!img) return;
    free(img->pixels);
    free(img->icc);
    img->pixels = NULL;
    img->icc = NULL;
}

int cimg_icc_to_srgb(uint8_t *rgba, int32_t width, int32_t height, const uint8_t *icc, size_t icc_len, char *err, size_t errlen) {
    cmsHPROFILE src = cmsOpenProfileFromMem(icc, (cmsUInt32Number)icc_len);
    if (!src) {
        set_err(err, errlen, "embedded ICC profile unreadable");
        return CIMG_UNSUPPORTED;
    }
    if (cmsGetColorSpace(src) != cmsSigRgbData) {
        cmsCloseProfile(src);
        set_err(err, errlen, "embedded ICC profile is not an RGB profile");
        return CIMG_UNSUPPORTED;
    }
    cmsHPROFILE srgb = cmsCreate_sRGBProfile();
    cmsHTRANSFORM t = cmsCreateTransform(src, TYPE_RGBA_8, srgb, TYPE_RGBA_8, INTENT_PERCEPTUAL, cmsFLAGS_COPY_ALPHA);
    cmsCloseProfile(src);
    cmsCloseProfile(srgb);
    if (!t) {
        set_err(err, errlen, "no transform from the embedded ICC profile to sRGB");
        return CIMG_UNSUPPORTED;
    }
    for (int32_t y = 0; y < height; y++) {
        uint8_t *row = rgba + (size_t)y * width * 4;
        cmsDoTransform(t, row, row, (cmsUInt32Number)width);
    }
    cmsDeleteTransform(t);
    return CIMG_OK;
}

int cimg_encode_jpeg(const uint8_t *pixels, int32_t width, int32_t height, int32_t channels, int32_t quality,
                     int32_t subsample420, uint8_t **out, size_t *out_len, char *err, size_t errlen) {
    struct jpeg_compress_struct c;
    struct jerr e;
    memset(&e, 0, sizeof e);
    unsigned char *volatile buf = NULL;
    unsigned long size = 0;
    uint8_t *volatile row = NULL;
    c.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = jpeg_fail;
    if (setjmp(e.jmp)) {
        jpeg_destroy_compress(&c);
        free(buf);
        free(row);
        set_err(err, errlen, "%s", e.msg);
        return CIMG_CORRUPT;
    }
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, (unsigned char **)&buf, &size);
    c.image_width = (JDIMENSION)width;
    c.image_height = (JDIMENSION)height;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    c.comp_info[0].h_samp_factor = subsample420 ? 2 : 1;
    c.comp_info[0].v_samp_factor = subsample420 ? 2 : 1;
    c.comp_info[1].h_samp_factor = c.comp_info[1].v_samp_factor = 1;
    c.comp_info[2].h_samp_factor = c.comp_info[2].v_samp_factor = 1;
    jpeg_start_compress(&c, TRUE);
    row = (uint8_t *)malloc((size_t)width * 3);
    while (c.next_scanline < c.image_height) {
        const uint8_t *src = pixels + (size_t)c.next_scanline * width * channels;
        for (int32_t x = 0; x < width; x++) {
            row[x * 3] = src[x * channels];
            row[x * 3 + 1] = src[x * channels + 1];
            row[x * 3 + 2] = src[x * channels + 2];
        }
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    *out = buf;
    *out_len = size;
    return CIMG_OK;
}

int cimg_encode_png(const uint8_t *pixels, int32_t width, int32_t height, int32_t channels, uint8_t **out,
                    size_t *out_len, char *err, size_t errlen) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)width;
    img.height = (png_uint_32)height;
    img.format = channels == 4 ? PNG_FORMAT_RGBA : (channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB);
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&img, NULL, &size, 0, pixels, 0, NULL)) {
        set_err(err, errlen, "%s", img.message);
        return CIMG_CORRUPT;
    }
    uint8_t *buf = (uint8_t *)malloc(size);
    if (!buf) return CIMG_NOMEM;
    if (!png_image_write_to_memory(&img, buf, &size, 0, pixels, 0, NULL)) {
        free(buf);
        set_err(err, errlen, "%s", img.message);
        return CIMG_CORRUPT;
    }
    *out = buf;
    *out_len = size;
    return CIMG_OK;
}

void cimg_free_buffer(uint8_t *buf) { free(buf); }

const char *cimg_versions(void) {
    static char v[256];
    if (!v[0]) {
        snprintf(v, sizeof v, "libjpeg-turbo %d, libpng %s, libwebp %d.%d.%d, %s, giflib %d.%d, libheif %s, libavif %s, lcms2 %d",
                 LIBJPEG_TURBO_VERSION_NUMBER, PNG_LIBPNG_VER_STRING, WebPGetDecoderVersion() >> 16,
                 (WebPGetDecoderVersion() >> 8) & 0xFF, WebPGetDecoderVersion() & 0xFF, TIFFGetVersion(), GIFLIB_MAJOR,
                 GIFLIB_MINOR, heif_get_version(), avifVersion(), LCMS_VERSION);
        char *nl = strchr(v, '\n');
        while (nl) { *nl = ' '; nl = strchr(nl, '\n'); }
    }
    return v;
}

/* Decompresses the gzip file `src` into `dst` (written to dst.partial, then renamed). 0 on success. */
int cimg_gunzip_file(const char *src, const char *dst, char *err, size_t errlen) {
    gzFile in = gzopen(src, "rb");
    if (!in) { snprintf(err, errlen, "cannot open %s", src); return 1; }
    size_t plen = strlen(dst) + 16;
    char *partial = malloc(plen);
    if (!partial) { gzclose(in); snprintf(err, errlen, "out of memory"); return 1; }
    snprintf(partial, plen, "%s.partial", dst);
    FILE *out = fopen(partial, "wb");
    if (!out) { gzclose(in); snprintf(err, errlen, "cannot write %s", partial); free(partial); return 1; }
    static const size_t chunk = 1 << 20;
    unsigned char *buf = malloc(chunk);
    int rc = 0;
    if (!buf) { rc = 1; snprintf(err, errlen, "out of memory"); }
    while (!rc) {
        int n = gzread(in, buf, (unsigned)chunk);
        if (n < 0) { int e; snprintf(err, errlen, "corrupt gzip data: %s", gzerror(in, &e)); rc = 1; break; }
        if (n == 0) break;
        if (fwrite(buf, 1, (size_t)n, out) != (size_t)n) { snprintf(err, errlen, "write failed (disk full?)"); rc = 1; }
    }
    free(buf);
    gzclose(in);
    if (fclose(out) != 0 && !rc) { snprintf(err, errlen, "write failed"); rc = 1; }
    if (!rc && rename(partial, dst) != 0) { snprintf(err, errlen, "cannot rename to %s", dst); rc = 1; }
    if (rc) remove(partial);
    free(partial);
    return rc;
}

int cimg_inflate(const unsigned char *src, size_t n, int window_bits, size_t max_out, unsigned char **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, window_bits) != Z_OK) return -1;
    size_t cap = n * 4 + 64 < max_out ? n * 4 + 64 : max_out;
    if (cap == 0) cap = 1;
    unsigned char *buf = malloc(cap);
    if (!buf) { inflateEnd(&s); return -1; }
    s.next_in = (unsigned char *)src;
    s.avail_in = (uInt)(n > 0xFFFFFFFFu ? 0xFFFFFFFFu : n);
    int rc = Z_OK;
    for (;;) {
        if (s.total_out == cap) {
            if (cap >= max_out) { rc = Z_BUF_ERROR; break; }   // the output would exceed the limit
            size_t next = cap * 2 < max_out ? cap * 2 : max_out;
            unsigned char *b = realloc(buf, next);
            if (!b) { rc = Z_MEM_ERROR; break; }
            buf = b;
            cap = next;
        }
        s.next_out = buf + s.total_out;
        s.avail_out = (uInt)(cap - s.total_out);
        rc = inflate(&s, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) break;
        if (rc != Z_OK) break;
        if (s.avail_in == 0 && s.avail_out != 0) { rc = Z_DATA_ERROR; break; }   // truncated stream
    }
    size_t total = s.total_out;
    inflateEnd(&s);
    if (rc != Z_STREAM_END) { free(buf); return -1; }
    *out = buf;
    *out_len = total;
    return 0;
}
