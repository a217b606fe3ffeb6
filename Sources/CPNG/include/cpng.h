// PNG decoding through libpng, wrapped so that libpng's longjmp error handling
// never crosses into Swift: every libpng call happens inside cpng_decode, which
// owns the setjmp and turns an error into a return code plus a message.
#ifndef CPNG_H
#define CPNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    CPNG_OK = 0,
    CPNG_ERROR = 1,          // libpng reported corrupt or truncated data; see message
    CPNG_TOO_LARGE = 2,      // width * height exceeds max_pixels (nothing allocated)
    CPNG_OUT_OF_MEMORY = 3,
};

// A decoded image after these libpng transforms: palette → RGB, gray below 8 bits → 8 bits,
// tRNS → alpha channel, interlace passes combined. Samples stay at 16 bits when the file
// has 16 (big-endian in the file, native uint16_t here) so the caller chooses the reduction.
typedef struct {
    uint32_t width;
    uint32_t height;
    int channels;      // 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
    int bit_depth;     // 8 or 16
    int color_type;    // PNG colour type in the file (0, 2, 3, 4, 6)
    int interlaced;    // 1 when Adam7
    void *pixels;      // height * width * channels samples (uint8_t or uint16_t); free with cpng_free
    char message[256]; // set when the return code is not CPNG_OK
} cpng_image;

// Decodes a whole PNG held in memory. Returns a CPNG_* code; on success image->pixels is owned
// by the caller. Refuses (CPNG_TOO_LARGE) before allocating when width * height > max_pixels.
int cpng_decode(const uint8_t *data, size_t size, uint64_t max_pixels, cpng_image *image);

void cpng_free(cpng_image *image);

#ifdef __cplusplus
}
#endif

#endif
