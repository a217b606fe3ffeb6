// Intel AMX bfloat16 GEMM pieces (see include/camx.h). Tile registers, as configured by configure_tiles:
//   tmm0..tmm3  C: a 32 x 32 block of float32 as four 16 x 16 tiles (rows 0-15 / 16-31, columns 0-15 / 16-31)
//   tmm4, tmm5  A: rows 0-15 and 16-31 of a 32-row panel, one chunk (32 bfloat16 a row)
//   tmm6, tmm7  B: columns 0-15 and 16-31 of a 32-column panel, one chunk (16 rows of 16 bfloat16 pairs)
// Intel 64 and IA-32 Architectures Software Developer's Manual, vol. 1 ch. 18 (AMX) and vol. 2 (TDPBF16PS,
// LDTILECFG); the 32 x 32 block of four C tiles is the register blocking of oneDNN's brgemm AMX kernels.
#include "camx.h"
#include <string.h>

#if defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

int carcinoma_amx_request_permission(void) {
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0 ? 0 : -1;
}

#define AMX_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,amx-tile,amx-bf16")))

// bfloat16 of x, rounded to nearest, ties to even (finite inputs; the networks' weights and activations are).
static inline uint16_t bf16_scalar(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u += 0x7FFF + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

static inline float float_of_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

// Part t of x's expansion: 0 = hi, 1 = lo (for A: hi, lo, hi; for B: hi, hi, lo — chosen by the caller).
static inline uint16_t part_scalar(float x, int low) {
    uint16_t hi = bf16_scalar(x);
    return low ? bf16_scalar(x - float_of_bf16(hi)) : hi;
}

void carcinoma_amx_pack_a(const float *a, long lda, long rows, long depth, int terms, uint16_t *out) {
    long expanded = terms * depth, chunks = (expanded + 31) / 32, panels = (rows + 31) / 32;
    for (long p = 0; p < panels; p++) {
        for (long q = 0; q < chunks; q++) {
            uint16_t *block = out + (p * chunks + q) * 1024;
            for (long r = 0; r < 32; r++) {
                long row = p * 32 + r;
                for (long e = 0; e < 32; e++) {
                    long kk = q * 32 + e;
                    uint16_t value = 0;
                    if (row < rows && kk < expanded) {
                        long k = kk / terms;
                        int low = terms == 3 && kk % 3 == 1;
                        value = part_scalar(a[row * lda + k], low);
                    }
                    block[r * 32 + e] = value;
                }
            }
        }
    }
}

// hi = bf16(x) and lo = bf16(x - hi) of 16 columns, each in the low half of a 32-bit lane.
AMX_TARGET static inline void split_vector(const float *row, long valid, __m512i *hi, __m512i *lo) {
    __mmask16 mask = valid >= 16 ? (__mmask16)0xFFFF : valid <= 0 ? (__mmask16)0 : (__mmask16)((1u << valid) - 1);
    __m512 x = _mm512_maskz_loadu_ps(mask, row);
    *hi = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(x));
    if (lo) {
        __m512 back = _mm512_castsi512_ps(_mm512_slli_epi32(*hi, 16));
        *lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_sub_ps(x, back)));
    }
}

AMX_TARGET static inline void store_pair(uint16_t *out, long chunks, long panel, long pairRow, int half, __m512i first, __m512i second) {
    uint16_t *target = out + (panel * chunks + pairRow / 16) * 1024 + (pairRow % 16) * 64 + 32 * half;
    _mm512_storeu_si512((void *)target, _mm512_or_si512(first, _mm512_slli_epi32(second, 16)));
}

AMX_TARGET void carcinoma_amx_pack_b_rows_avx512(const float *row0, const float *row1, long k0, long columns, int terms,
                                                 long chunks, uint16_t *out) {
    long panels = (columns + 31) / 32;
    __m512i zero = _mm512_setzero_si512();
    for (long p = 0; p < panels; p++) {
        for (int half = 0; half < 2; half++) {
            long column = p * 32 + 16 * half, valid = columns - column;
            __m512i hi0, lo0, hi1 = zero, lo1 = zero;
            split_vector(row0 + column, valid, &hi0, terms == 3 ? &lo0 : NULL);
            if (row1) split_vector(row1 + column, valid, &hi1, terms == 3 ? &lo1 : NULL);
            if (terms == 1) {
                store_pair(out, chunks, p, k0 / 2, half, hi0, hi1);
            } else {
                // expanded 3k0 ... 3k0 + 5 = hi0, hi0, lo0, hi1, hi1, lo1: three pair rows from 3k0 / 2.
                long first = 3 * k0 / 2;
                store_pair(out, chunks, p, first, half, hi0, hi0);
                store_pair(out, chunks, p, first + 1, half, lo0, hi1);
                store_pair(out, chunks, p, first + 2, half, hi1, lo1);
            }
        }
    }
}

void carcinoma_amx_pack_b_rows(const float *row0, const float *row1, long k0, long columns, int terms, long chunks, uint16_t *out) {
    carcinoma_amx_pack_b_rows_avx512(row0, row1, k0, columns, terms, chunks, out);
}

void carcinoma_amx_clear_last_chunks(long columns, long chunks, uint16_t *out) {
    long panels = (columns + 31) / 32;
    for (long p = 0; p < panels; p++) memset(out + (p * chunks + chunks - 1) * 1024, 0, 2048);
}


struct tile_config {
    uint8_t palette, start_row;
    uint8_t reserved[14];
    uint16_t bytes_per_row[16];
    uint8_t rows[16];
} __attribute__((packed));

AMX_TARGET static void configure_tiles(void) {
    struct tile_config config;
    memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int t = 0; t < 8; t++) {
        config.rows[t] = 16;
        config.bytes_per_row[t] = 64;
    }
    _tile_loadconfig(&config);
}

AMX_TARGET void carcinoma_amx_gemm(const uint16_t *a, long rowPanels, const uint16_t *b, long columnPanels, long panelChunks,
                                   long firstChunk, long chunkCount, float *c, long ldc, int accumulate) {
    configure_tiles();
    long stride = ldc * (long)sizeof(float);
    for (long j = 0; j < columnPanels; j++) {
        const uint16_t *bPanel = b + (j * panelChunks + firstChunk) * 1024;
        for (long i = 0; i < rowPanels; i++) {
            const uint16_t *aPanel = a + (i * panelChunks + firstChunk) * 1024;
            float *block = c + i * 32 * ldc + j * 32;
            if (accumulate) {
                _tile_loadd(0, block, stride);
                _tile_loadd(1, block + 16, stride);
                _tile_loadd(2, block + 16 * ldc, stride);
                _tile_loadd(3, block + 16 * ldc + 16, stride);
            } else {
                _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
            }
            for (long q = 0; q < chunkCount; q++) {
                const uint16_t *aq = aPanel + q * 1024, *bq = bPanel + q * 1024;
                _tile_loadd(4, aq, 64);
                _tile_loadd(5, aq + 16 * 32, 64);
                _tile_loadd(6, bq, 128);
                _tile_loadd(7, bq + 32, 128);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 4, 7);
                _tile_dpbf16ps(2, 5, 6);
                _tile_dpbf16ps(3, 5, 7);
            }
            _tile_stored(0, block, stride);
            _tile_stored(1, block + 16, stride);
            _tile_stored(2, block + 16 * ldc, stride);
            _tile_stored(3, block + 16 * ldc + 16, stride);
        }
    }
    _tile_release();
}

// The same product without AMX, on AVX512-BF16 (AMD Zen 4 and later, Intel Cooper Lake): VDPBF16PS adds to each of 16
// float32 lanes the products of a pair of bfloat16 values (the pair of expanded depth 2i, 2i + 1 that the packed B
// holds per column, the VNNI layout) with a pair of A's row broadcast to every lane. A 32 x 32 block runs as row
// groups of 12, 12 and 8 rows by two vectors of 16 columns: 24 sums, two B vectors and a broadcast in 32 zmm
// registers (the float32 GEMM's 12 x 32 tile), each VDPBF16PS 32 multiply-adds where an FMA does 16.
#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))

#define BF16_UNROLL _Pragma("clang loop unroll(full)")

BF16_TARGET __attribute__((always_inline)) static inline void bf16_rows(const int R, const int V, const uint16_t *aPanel,
                                                                           const uint16_t *bPanel, long firstChunk,
                                                                           long chunkCount, float *c, long ldc, int accumulate) {
    __m512 sum[12][2];
    BF16_UNROLL for (int r = 0; r < R; r++) {
        BF16_UNROLL for (int v = 0; v < V; v++) sum[r][v] = accumulate ? _mm512_loadu_ps(c + r * ldc + 16 * v) : _mm512_setzero_ps();
    }
    for (long q = firstChunk; q < firstChunk + chunkCount; q++) {
        const uint16_t *aq = aPanel + q * 1024, *bq = bPanel + q * 1024;
        for (int pair = 0; pair < 16; pair++) {
            __m512bh b[2];
            BF16_UNROLL for (int v = 0; v < V; v++) b[v] = (__m512bh)_mm512_loadu_si512((const void *)(bq + pair * 64 + 32 * v));
            BF16_UNROLL for (int r = 0; r < R; r++) {
                uint32_t bits;
                memcpy(&bits, aq + r * 32 + 2 * pair, sizeof bits);
                const __m512bh a = (__m512bh)_mm512_set1_epi32((int)bits);
                BF16_UNROLL for (int v = 0; v < V; v++) sum[r][v] = _mm512_dpbf16_ps(sum[r][v], a, b[v]);
            }
        }
    }
    BF16_UNROLL for (int r = 0; r < R; r++) {
        BF16_UNROLL for (int v = 0; v < V; v++) _mm512_storeu_ps(c + r * ldc + 16 * v, sum[r][v]);
    }
}

// Rows first ..< first + R of a block (R = 12, 8 or 4), its columns in V vectors of 16.
#define BF16_ROWS(R, V) bf16_rows(R, V, aPanel + first * 32, bPanel, firstChunk, chunkCount, block + first * ldc, ldc, accumulate)

BF16_TARGET void carcinoma_bf16_gemm_avx512(const uint16_t *a, long rowPanels, const uint16_t *b, long columnPanels,
                                            long panelChunks, long firstChunk, long chunkCount, float *c, long ldc,
                                            int accumulate, long rows, long columns) {
    for (long j = 0; j < columnPanels; j++) {
        const uint16_t *bPanel = b + j * panelChunks * 1024;
        // The last panels' rows and columns past A's and B's are left alone (their values are to be ignored): a 7x7
        // plane's second column panel holds 17 columns, a 40-channel layer's second row panel 8 rows.
        const int V = columns - 32 * j > 16 ? 2 : 1;
        for (long i = 0; i < rowPanels; i++) {
            const uint16_t *aPanel = a + i * panelChunks * 1024;
            float *block = c + i * 32 * ldc + j * 32;
            const long valid = rows - 32 * i < 32 ? rows - 32 * i : 32;
            for (long first = 0; first < valid;) {
                const long left = valid - first;
                if (V == 2) {
                    if (left > 8) { BF16_ROWS(12, 2); first += 12; } else if (left > 4) { BF16_ROWS(8, 2); first += 8; } else { BF16_ROWS(4, 2); first += 4; }
                } else {
                    if (left > 8) { BF16_ROWS(12, 1); first += 12; } else if (left > 4) { BF16_ROWS(8, 1); first += 8; } else { BF16_ROWS(4, 1); first += 4; }
                }
            }
        }
    }
}

#else

int carcinoma_amx_request_permission(void) { return -1; }
void carcinoma_amx_pack_a(const float *a, long lda, long rows, long depth, int terms, uint16_t *out) {
    (void)a; (void)lda; (void)rows; (void)depth; (void)terms; (void)out;
}
void carcinoma_amx_pack_b_rows(const float *row0, const float *row1, long k0, long columns, int terms, long chunks, uint16_t *out) {
    (void)row0; (void)row1; (void)k0; (void)columns; (void)terms; (void)chunks; (void)out;
}
void carcinoma_amx_clear_last_chunks(long columns, long chunks, uint16_t *out) { (void)columns; (void)chunks; (void)out; }
void carcinoma_amx_gemm(const uint16_t *a, long rowPanels, const uint16_t *b, long columnPanels, long panelChunks,
                        long firstChunk, long chunkCount, float *c, long ldc, int accumulate) {
    (void)a; (void)rowPanels; (void)b; (void)columnPanels; (void)panelChunks; (void)firstChunk; (void)chunkCount;
    (void)c; (void)ldc; (void)accumulate;
}
void carcinoma_bf16_gemm_avx512(const uint16_t *a, long rowPanels, const uint16_t *b, long columnPanels,
                                long panelChunks, long firstChunk, long chunkCount, float *c, long ldc, int accumulate,
                                long rows, long columns) {
    (void)a; (void)rowPanels; (void)b; (void)columnPanels; (void)panelChunks; (void)firstChunk; (void)chunkCount;
    (void)c; (void)ldc; (void)accumulate; (void)rows; (void)columns;
}

#endif
