/*
 * anc_kernels.h - private inner loops shared by the filters (not part of the public API).
 *
 * Float additions are not associative, so GCC will not vectorize a plain dot product
 * without -ffast-math. These loops keep ANC_LANES explicit partial sums instead: the
 * compiler maps them onto vector registers (several independent accumulators, which also
 * hides the multiply-add latency). The results differ from a sequential sum only by
 * ordinary float32 rounding.
 */
#ifndef ANC_KERNELS_H
#define ANC_KERNELS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
/* GCC/Clang vector extension: 16 floats, lowered to one AVX-512 register, two AVX2
   registers or four NEON registers. aligned(4) makes loads through it unaligned-safe. */
typedef float anc_v16 __attribute__((vector_size(64), aligned(4)));
#define ANC_VEC 16u

static inline anc_v16 anc_vload(const float *p)
{
    return *(const anc_v16 *)p;
}

static inline void anc_vstore(float *p, anc_v16 v)
{
    *(anc_v16 *)p = v;
}

/* Tree sum of the 16 lanes in registers: 4 dependent shuffle + add steps. */
#if defined(__clang__)
static inline float anc_vhsum(anc_v16 v)
{
    v += __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
    v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3);
    v += __builtin_shufflevector(v, v, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1);
    v += __builtin_shufflevector(v, v, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0);
    return v[0];
}
#else
typedef int32_t anc_i16 __attribute__((vector_size(64)));
static inline float anc_vhsum(anc_v16 v)
{
    const anc_i16 h8 = {8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7};
    const anc_i16 h4 = {4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3};
    const anc_i16 h2 = {2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1};
    const anc_i16 h1 = {1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0};
    v += __builtin_shuffle(v, h8);
    v += __builtin_shuffle(v, h4);
    v += __builtin_shuffle(v, h2);
    v += __builtin_shuffle(v, h1);
    return v[0];
}
#endif

/* sum_k a[k] b[k]; four independent accumulators hide the multiply-add latency */
static inline float anc_dot(const float *restrict a, const float *restrict b, uint32_t n)
{
    anc_v16 acc0 = {0.0f}, acc1 = {0.0f}, acc2 = {0.0f}, acc3 = {0.0f};
    size_t k = 0;
    for (; k + 4u * ANC_VEC <= n; k += 4u * ANC_VEC) {
        acc0 += anc_vload(a + k) * anc_vload(b + k);
        acc1 += anc_vload(a + k + 16u) * anc_vload(b + k + 16u);
        acc2 += anc_vload(a + k + 32u) * anc_vload(b + k + 32u);
        acc3 += anc_vload(a + k + 48u) * anc_vload(b + k + 48u);
    }
    for (; k + ANC_VEC <= n; k += ANC_VEC) {
        acc0 += anc_vload(a + k) * anc_vload(b + k);
    }
    float s = anc_vhsum((acc0 + acc1) + (acc2 + acc3));
    for (; k < n; ++k) {
        s += a[k] * b[k];
    }
    return s;
}

#define ANC_UPDATE_DOT_STEP(acc, off, NEW_W)                        \
    do {                                                           \
        const anc_v16 wv = NEW_W(off);                             \
        anc_vstore(w + k + (off), wv);                             \
        (acc) += wv * anc_vload(x + k + (off));                    \
    } while (0)
#define ANC_W_PLAIN(off) (anc_vload(w + k + (off)) + gv * anc_vload(u + k + (off)))
#define ANC_W_LEAKY(off) (kv * anc_vload(w + k + (off)) + gv * anc_vload(u + k + (off)))

/* w[k] = keep w[k] + g u[k], then return sum_k w[k] x[k] (the new w), in one pass. */
static inline float anc_update_dot(float *restrict w, const float *restrict u, float g,
                                   float keep, const float *restrict x, uint32_t n)
{
    anc_v16 acc0 = {0.0f}, acc1 = {0.0f}, acc2 = {0.0f}, acc3 = {0.0f};
    const anc_v16 gv = {g, g, g, g, g, g, g, g, g, g, g, g, g, g, g, g};
    const anc_v16 kv = {keep, keep, keep, keep, keep, keep, keep, keep,
                        keep, keep, keep, keep, keep, keep, keep, keep};
    size_t k = 0;
    if (keep == 1.0f) {
        for (; k + 4u * ANC_VEC <= n; k += 4u * ANC_VEC) {
            ANC_UPDATE_DOT_STEP(acc0, 0u, ANC_W_PLAIN);
            ANC_UPDATE_DOT_STEP(acc1, 16u, ANC_W_PLAIN);
            ANC_UPDATE_DOT_STEP(acc2, 32u, ANC_W_PLAIN);
            ANC_UPDATE_DOT_STEP(acc3, 48u, ANC_W_PLAIN);
        }
    } else {
        for (; k + 4u * ANC_VEC <= n; k += 4u * ANC_VEC) {
            ANC_UPDATE_DOT_STEP(acc0, 0u, ANC_W_LEAKY);
            ANC_UPDATE_DOT_STEP(acc1, 16u, ANC_W_LEAKY);
            ANC_UPDATE_DOT_STEP(acc2, 32u, ANC_W_LEAKY);
            ANC_UPDATE_DOT_STEP(acc3, 48u, ANC_W_LEAKY);
        }
    }
    for (; k + ANC_VEC <= n; k += ANC_VEC) {
        ANC_UPDATE_DOT_STEP(acc0, 0u, ANC_W_LEAKY);
    }
    float s = anc_vhsum((acc0 + acc1) + (acc2 + acc3));
    for (; k < n; ++k) {
        w[k] = keep * w[k] + g * u[k];
        s += w[k] * x[k];
    }
    return s;
}

#else
/* Portable fallback: 16 explicit partial sums, which compilers vectorize without
   reassociating float additions. */
#define ANC_LANES 16

static inline float anc_hsum(float *acc)
{
    for (int width = ANC_LANES / 2; width > 0; width /= 2) {
        for (int j = 0; j < width; ++j) {
            acc[j] += acc[j + width];
        }
    }
    return acc[0];
}

static inline float anc_dot(const float *restrict a, const float *restrict b, uint32_t n)
{
    float acc[ANC_LANES] = {0.0f};
    const size_t blocks = n / ANC_LANES;
    for (size_t blk = 0; blk < blocks; ++blk) {
        const float *restrict ab = a + blk * ANC_LANES;
        const float *restrict bb = b + blk * ANC_LANES;
        for (int j = 0; j < ANC_LANES; ++j) {
            acc[j] += ab[j] * bb[j];
        }
    }
    float s = anc_hsum(acc);
    for (size_t k = blocks * ANC_LANES; k < n; ++k) {
        s += a[k] * b[k];
    }
    return s;
}

static inline float anc_update_dot(float *restrict w, const float *restrict u, float g,
                                   float keep, const float *restrict x, uint32_t n)
{
    float acc[ANC_LANES] = {0.0f};
    const size_t blocks = n / ANC_LANES;
    for (size_t blk = 0; blk < blocks; ++blk) {
        float *restrict wb = w + blk * ANC_LANES;
        const float *restrict ub = u + blk * ANC_LANES;
        const float *restrict xb = x + blk * ANC_LANES;
        for (int j = 0; j < ANC_LANES; ++j) {
            const float wk = keep * wb[j] + g * ub[j];
            wb[j] = wk;
            acc[j] += wk * xb[j];
        }
    }
    float s = anc_hsum(acc);
    for (size_t k = blocks * ANC_LANES; k < n; ++k) {
        w[k] = keep * w[k] + g * u[k];
        s += w[k] * x[k];
    }
    return s;
}
#endif

/* w[k] = keep w[k] + g u[k] */
static inline void anc_axpy(float *restrict w, const float *restrict u, float g, float keep,
                            uint32_t n)
{
    for (uint32_t k = 0; k < n; ++k) {
        w[k] = keep * w[k] + g * u[k];
    }
}

/* Push v into a double-written ring of period n (buffer 2n), newest first from *pos.
   Returns the sample that left the window (the one n samples older than v). */
static inline float anc_ring_push(float *buf, uint32_t n, uint32_t *pos, float v)
{
    uint32_t p = (*pos == 0) ? n - 1 : *pos - 1;
    float old = buf[p];
    buf[p] = v;
    buf[p + n] = v;
    *pos = p;
    return old;
}

/* Store-to-load forwarding fails when a vector load covers a just-written float, which
   stalls the load for the store to retire. Rings that are read by vector loads therefore
   get their samples written ANC_LOOKAHEAD samples before they are first read. */
#define ANC_LOOKAHEAD 8u

/* Ring index of the sample `ahead` samples newer than the one at pos (period n). */
static inline uint32_t anc_ring_ahead(uint32_t pos, uint32_t n, uint32_t ahead)
{
    return (pos + n - ahead % n) % n;
}

static inline void anc_ring_write(float *buf, uint32_t n, uint32_t p, float v)
{
    buf[p] = v;
    buf[p + n] = v;
}

/* The guards treat a reference window below this energy as silence: running sums carry
   rounding residue of that order, and an output of max_weight_norm * 1e-6 is no runaway. */
#define ANC_SILENCE_ENERGY 1e-12f

static inline int anc_all_finite(const float *v, uint32_t n)
{
    for (uint32_t k = 0; k < n; ++k) {
        if (!isfinite(v[k])) {
            return 0;
        }
    }
    return 1;
}

static inline int anc_finite_param(float v)
{
    return isfinite(v);
}

#endif
