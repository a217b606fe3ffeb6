// JPEG decoding through libjpeg(-turbo), wrapped so that libjpeg's error_exit longjmp never
// crosses into Swift: every libjpeg call happens inside cjpeg_decode, which owns the setjmp.
#ifndef CJPEG_H
#define CJPEG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    CJPEG_OK = 0,
    CJPEG_ERROR = 1,          // corrupt or truncated data; see message
    CJPEG_TOO_LARGE = 2,      // width * height exceeds max_pixels (nothing allocated)
    CJPEG_OUT_OF_MEMORY = 3,
};

// Scans a file may have before it is refused as a decoding bomb (see cjpeg.c).
#define CJPEG_MAX_SCANS 500

// Decoded with libjpeg's defaults (JDCT_ISLOW, fancy upsampling), the settings Pillow uses.
typedef struct {
    uint32_t width;
    uint32_t height;
    int channels;         // 1 gray, 3 RGB, 4 CMYK
    int adobe_inverted;   // 1 for CMYK/YCCK files with an Adobe marker (Photoshop stores inverted ink)
    int source_components;
    uint8_t *pixels;      // height * width * channels bytes; free with cjpeg_free
    char message[256];    // set when the return code is not CJPEG_OK
} cjpeg_image;

int cjpeg_decode(const uint8_t *data, size_t size, uint64_t max_pixels, cjpeg_image *image);

void cjpeg_free(cjpeg_image *image);

#ifdef __cplusplus
}
#endif

#endif
