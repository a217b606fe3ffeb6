// See include/cpng.h. libpng reports errors with longjmp; this file is the only place a
// setjmp frame exists, so Swift only ever sees return codes.
#include "cpng.h"

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
    char *message;     // where error_fn writes (the caller's cpng_image.message)
} reader_state;

static void read_from_memory(png_structp png, png_bytep out, png_size_t length) {
    reader_state *state = (reader_state *)png_get_io_ptr(png);
    if (length > state->size - state->offset) {
        png_error(png, "file is truncated (unexpected end of data)");
    }
    memcpy(out, state->data + state->offset, length);
    state->offset += length;
}

static void error_fn(png_structp png, png_const_charp text) {
    reader_state *state = (reader_state *)png_get_error_ptr(png);
    if (state && state->message) {
        snprintf(state->message, 256, "%s", text ? text : "libpng error");
    }
    png_longjmp(png, 1);
}

// Ancillary-chunk complaints (bad iCCP, CRC in a text chunk) are not fatal, as in Pillow.
static void warning_fn(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

int cpng_decode(const uint8_t *data, size_t size, uint64_t max_pixels, cpng_image *image) {
    memset(image, 0, sizeof(*image));
    reader_state state = {data, size, 0, image->message};

    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, error_fn, warning_fn);
    if (!png) {
        snprintf(image->message, sizeof(image->message), "libpng could not allocate its state");
        return CPNG_OUT_OF_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(image->message, sizeof(image->message), "libpng could not allocate its state");
        return CPNG_OUT_OF_MEMORY;
    }

    // Volatile: modified between setjmp and a possible longjmp.
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    volatile int code = CPNG_ERROR;

    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        free(pixels);
        png_destroy_read_struct(&png, &info, NULL);
        image->pixels = NULL;
        if (image->message[0] == 0) {
            snprintf(image->message, sizeof(image->message), "libpng error");
        }
        return code;
    }

    png_set_read_fn(png, &state, read_from_memory);
    // The caller's limit is the real one; lift libpng's own 1e6 x 1e6 limit out of the way
    // only as far as PNG allows, so absurd headers reach our check.
    png_set_user_limits(png, 0x7fffffffL, 0x7fffffffL);
    png_read_info(png, info);

    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    image->width = width;
    image->height = height;
    image->color_type = color_type;
    image->interlaced = interlace != PNG_INTERLACE_NONE;
    if ((uint64_t)width * (uint64_t)height > max_pixels) {
        snprintf(image->message, sizeof(image->message),
                 "header claims %u x %u pixels, more than the limit of %llu",
                 width, height, (unsigned long long)max_pixels);
        png_destroy_read_struct(&png, &info, NULL);
        return CPNG_TOO_LARGE;
    }

    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (bit_depth == 16) png_set_swap(png);  // file is big-endian; hand native uint16_t to the caller
    if (interlace != PNG_INTERLACE_NONE) png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    int out_depth = png_get_bit_depth(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    if ((channels < 1 || channels > 4) || (out_depth != 8 && out_depth != 16) ||
        row_bytes != (size_t)width * channels * (out_depth / 8)) {
        snprintf(image->message, sizeof(image->message),
                 "unsupported PNG layout (%d channels, %d bits)", channels, out_depth);
        png_destroy_read_struct(&png, &info, NULL);
        return CPNG_ERROR;
    }

    code = CPNG_OUT_OF_MEMORY;
    pixels = malloc(row_bytes * (size_t)height);
    rows = malloc(sizeof(png_bytep) * (size_t)height);
    if (!pixels || !rows) {
        snprintf(image->message, sizeof(image->message),
                 "out of memory for %u x %u pixels", width, height);
        png_longjmp(png, 1);
    }
    for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + (size_t)y * row_bytes;
    code = CPNG_ERROR;
    png_read_image(png, rows);  // the end chunks are not needed (Pillow does not require them)

    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    image->channels = channels;
    image->bit_depth = out_depth;
    image->pixels = pixels;
    return CPNG_OK;
}

void cpng_free(cpng_image *image) {
    free(image->pixels);
    image->pixels = NULL;
}
