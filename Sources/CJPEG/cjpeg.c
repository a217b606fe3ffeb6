// See include/cjpeg.h. libjpeg calls error_exit on fatal errors and emit_message for warnings;
// both are replaced here so nothing is printed and nothing longjmps past this file.
#include "cjpeg.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

typedef struct {
    struct jpeg_error_mgr manager;   // first member: libjpeg casts cinfo->err to this
    jmp_buf jump;
    char *message;
} error_state;

static void error_exit(j_common_ptr cinfo) {
    error_state *state = (error_state *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(state->message, 256, "%s", text);
    longjmp(state->jump, 1);
}

// Warnings are ignored like Pillow does, except premature end of data: libjpeg would pad the
// missing rows with grey and carry on, Pillow raises "image file is truncated"; so do we.
static void emit_message(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        error_state *state = (error_state *)cinfo->err;
        snprintf(state->message, 256, "file is truncated (premature end of JPEG data)");
        longjmp(state->jump, 1);
    }
}

// Decoding bombs: a progressive file may repeat a refinement scan thousands of times, each one a
// pass over every coefficient (536 KB took minutes). libjpeg-turbo's guidance (libjpeg.txt,
// "Progress monitoring"; djpeg -maxscans, TJPARAM_SCANLIMIT) is a progress monitor that stops
// after N scans; its fuzzers use 500, far above the 10 or so scans an encoder writes.
static void scan_limit_monitor(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    j_decompress_ptr decompress = (j_decompress_ptr)cinfo;
    if (decompress->input_scan_number > CJPEG_MAX_SCANS) {
        error_state *state = (error_state *)cinfo->err;
        snprintf(state->message, 256, "more than %d scans (scan %d): a progressive JPEG this long is refused as a decoding bomb",
                 CJPEG_MAX_SCANS, decompress->input_scan_number);
        longjmp(state->jump, 1);
    }
}

int cjpeg_decode(const uint8_t *data, size_t size, uint64_t max_pixels, cjpeg_image *image) {
    memset(image, 0, sizeof(*image));
    struct jpeg_decompress_struct cinfo;
    error_state state;
    memset(&cinfo, 0, sizeof(cinfo));
    cinfo.err = jpeg_std_error(&state.manager);
    state.manager.error_exit = error_exit;
    state.manager.emit_message = emit_message;
    state.message = image->message;

    uint8_t *volatile pixels = NULL;
    volatile int code = CJPEG_ERROR;

    if (setjmp(state.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        image->pixels = NULL;
        if (image->message[0] == 0) snprintf(image->message, sizeof(image->message), "libjpeg error");
        return code;
    }

    jpeg_create_decompress(&cinfo);
    struct jpeg_progress_mgr progress;
    memset(&progress, 0, sizeof(progress));
    progress.progress_monitor = scan_limit_monitor;
    cinfo.progress = &progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);

    image->width = cinfo.image_width;
    image->height = cinfo.image_height;
    image->source_components = cinfo.num_components;
    if ((uint64_t)cinfo.image_width * (uint64_t)cinfo.image_height > max_pixels) {
        snprintf(image->message, sizeof(image->message),
                 "header claims %u x %u pixels, more than the limit of %llu",
                 cinfo.image_width, cinfo.image_height, (unsigned long long)max_pixels);
        jpeg_destroy_decompress(&cinfo);
        return CJPEG_TOO_LARGE;
    }

    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo.out_color_space = JCS_GRAYSCALE;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        cinfo.out_color_space = JCS_CMYK;
        image->adobe_inverted = cinfo.saw_Adobe_marker ? 1 : 0;
        break;
    default:
        cinfo.out_color_space = JCS_RGB;
        break;
    }

    jpeg_start_decompress(&cinfo);
    int channels = cinfo.output_components;
    size_t row_bytes = (size_t)cinfo.output_width * (size_t)channels;
    code = CJPEG_OUT_OF_MEMORY;
    pixels = malloc(row_bytes * (size_t)cinfo.output_height);
    if (!pixels) {
        snprintf(image->message, sizeof(image->message),
                 "out of memory for %u x %u pixels", cinfo.output_width, cinfo.output_height);
        longjmp(state.jump, 1);
    }
    code = CJPEG_ERROR;
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + (size_t)cinfo.output_scanline * row_bytes;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);

    image->width = cinfo.output_width;
    image->height = cinfo.output_height;
    image->channels = channels;
    image->pixels = pixels;
    return CJPEG_OK;
}

void cjpeg_free(cjpeg_image *image) {
    free(image->pixels);
    image->pixels = NULL;
}
