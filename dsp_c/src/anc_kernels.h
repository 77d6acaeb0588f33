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

#if defined(__GNUC__) && !defined(ANC_NO_VECTOR_EXT)
/* GCC/Clang vector extension, as wide as the target's vector registers: 16 floats with
   AVX-512, 8 with AVX, else 4 (SSE2, NEON). A generic vector wider than the registers is
   split by the compiler, and the kernels below (up to 8 accumulators in flight) then spill
   to the stack: on an AVX2-only Zen 3 16-float vectors ran NLMS at a quarter of the speed
   of 8-float ones. aligned(4) makes loads through the type unaligned-safe. */
#if defined(__AVX512F__)
#define ANC_VEC 16u
#elif defined(__AVX__)
#define ANC_VEC 8u
#else
#define ANC_VEC 4u
#endif
typedef float anc_vf __attribute__((vector_size(ANC_VEC * sizeof(float)), aligned(4)));
typedef int32_t anc_vi __attribute__((vector_size(ANC_VEC * sizeof(float))));
#define anc_vload(p) (*(const anc_vf *)(const void *)(p))
#define anc_vstore(p, v) (*(anc_vf *)(void *)(p) = (v))
/* every lane = s (a scalar operand of a vector operation is broadcast) */
#define anc_vsplat(s) ((anc_vf){0.0f} + (float)(s))

/* Tree sum of the lanes in registers: log2(ANC_VEC) dependent shuffle + add steps; lane i
   adds lane i ^ w for w = ANC_VEC / 2, ..., 1. */
#if defined(__clang__)
#define ANC_SHUFFLE(v, ...) __builtin_shufflevector(v, v, __VA_ARGS__)
#else
#define ANC_SHUFFLE(v, ...) __builtin_shuffle(v, (anc_vi){__VA_ARGS__})
#endif
static inline float anc_vhsum(const anc_vf *pv)
{
    anc_vf v = *pv;
#if ANC_VEC == 16
    v += ANC_SHUFFLE(v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
    v += ANC_SHUFFLE(v, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11);
    v += ANC_SHUFFLE(v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    v += ANC_SHUFFLE(v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
#elif ANC_VEC == 8
    v += ANC_SHUFFLE(v, 4, 5, 6, 7, 0, 1, 2, 3);
    v += ANC_SHUFFLE(v, 2, 3, 0, 1, 6, 7, 4, 5);
    v += ANC_SHUFFLE(v, 1, 0, 3, 2, 5, 4, 7, 6);
#else
    v += ANC_SHUFFLE(v, 2, 3, 0, 1);
    v += ANC_SHUFFLE(v, 1, 0, 3, 2);
#endif
    return v[0];
}
#undef ANC_SHUFFLE

/* sum_k a[k] b[k]; four independent accumulators hide the multiply-add latency */
static inline float anc_dot(const float *restrict a, const float *restrict b, uint32_t n)
{
    anc_vf acc0 = {0.0f}, acc1 = {0.0f}, acc2 = {0.0f}, acc3 = {0.0f};
    size_t k = 0;
    for (; k + 4u * ANC_VEC <= n; k += 4u * ANC_VEC) {
        acc0 += anc_vload(a + k) * anc_vload(b + k);
        acc1 += anc_vload(a + k + ANC_VEC) * anc_vload(b + k + ANC_VEC);
        acc2 += anc_vload(a + k + 2u * ANC_VEC) * anc_vload(b + k + 2u * ANC_VEC);
        acc3 += anc_vload(a + k + 3u * ANC_VEC) * anc_vload(b + k + 3u * ANC_VEC);
    }
    for (; k + ANC_VEC <= n; k += ANC_VEC) {
        acc0 += anc_vload(a + k) * anc_vload(b + k);
    }
    const anc_vf total = (acc0 + acc1) + (acc2 + acc3);
    float s = anc_vhsum(&total);
    for (; k < n; ++k) {
        s += a[k] * b[k];
    }
    return s;
}

#define ANC_UPDATE_DOT_STEP(acc, off, NEW_W)                        \
    do {                                                           \
        const anc_vf wv = NEW_W(off);                              \
        anc_vstore(w + k + (off), wv);                             \
        (acc) += wv * anc_vload(x + k + (off));                    \
    } while (0)
#define ANC_W_PLAIN(off) (anc_vload(w + k + (off)) + gv * anc_vload(u + k + (off)))
#define ANC_W_LEAKY(off) (kv * anc_vload(w + k + (off)) + gv * anc_vload(u + k + (off)))

/* w[k] = keep w[k] + g u[k], then return sum_k w[k] x[k] (the new w), in one pass. */
static inline float anc_update_dot(float *restrict w, const float *restrict u, float g,
                                   float keep, const float *restrict x, uint32_t n)
{
    anc_vf acc0 = {0.0f}, acc1 = {0.0f}, acc2 = {0.0f}, acc3 = {0.0f};
    const anc_vf gv = anc_vsplat(g);
    const anc_vf kv = anc_vsplat(keep);
    size_t k = 0;
    if (keep == 1.0f) {
        for (; k + 4u * ANC_VEC <= n; k += 4u * ANC_VEC) {
            ANC_UPDATE_DOT_STEP(acc0, 0u, ANC_W_PLAIN);
            ANC_UPDATE_DOT_STEP(acc1, ANC_VEC, ANC_W_PLAIN);
            ANC_UPDATE_DOT_STEP(acc2, 2u * ANC_VEC, ANC_W_PLAIN);
            ANC_UPDATE_DOT_STEP(acc3, 3u * ANC_VEC, ANC_W_PLAIN);
        }
    } else {
        for (; k + 4u * ANC_VEC <= n; k += 4u * ANC_VEC) {
            ANC_UPDATE_DOT_STEP(acc0, 0u, ANC_W_LEAKY);
            ANC_UPDATE_DOT_STEP(acc1, ANC_VEC, ANC_W_LEAKY);
            ANC_UPDATE_DOT_STEP(acc2, 2u * ANC_VEC, ANC_W_LEAKY);
            ANC_UPDATE_DOT_STEP(acc3, 3u * ANC_VEC, ANC_W_LEAKY);
        }
    }
    for (; k + ANC_VEC <= n; k += ANC_VEC) {
        ANC_UPDATE_DOT_STEP(acc0, 0u, ANC_W_LEAKY);
    }
    const anc_vf total = (acc0 + acc1) + (acc2 + acc3);
    float s = anc_vhsum(&total);
    for (; k < n; ++k) {
        w[k] = keep * w[k] + g * u[k];
        s += w[k] * x[k];
    }
    return s;
}

/* Two samples per pass over w: with update vectors ub = r, ua = r + 1 (r_{n-K} and
   r_{n-1-K} of the filtered reference ring) and outputs x_{n+1} = x, x_n = x + 1,
     w[k] = keep (keep w[k] + ga ua[k]) + gb ub[k]
   then *a0 = sum_k w[k] x_n[k], *a1 = sum_k w[k] x_{n+1}[k] with the new w. All four
   windows are plain (unaligned) loads: measured faster than building the shifted ones from
   shared loads by lane shuffles, which compete with the FMAs for execution ports (L=256 on
   an AVX-512 Zen 4: NLMS 36.8% -> 43.6%, FxLMS 29.2% -> 34.0% of the compute limit).
   Reads r[0 .. n] and x[0 .. n]. */
static inline void anc_update2_dot2_fx(float *restrict w, const float *r, const float *x,
                                       float ga, float gb, float keep, uint32_t n, float *a0,
                                       float *a1)
{
    anc_vf p0 = {0.0f}, p1 = {0.0f}, p2 = {0.0f}, p3 = {0.0f};
    anc_vf q0 = {0.0f}, q1 = {0.0f}, q2 = {0.0f}, q3 = {0.0f};
    const float kga = keep * ga;
    const float k2 = keep * keep;
    const anc_vf gav = anc_vsplat(kga);
    const anc_vf gbv = anc_vsplat(gb);
    const anc_vf kv = anc_vsplat(k2);
    size_t k = 0;
#define ANC_FX2_STEP(p, q, off, LEAKY)                                                  \
    do {                                                                            \
        const anc_vf wold = anc_vload(w + k + (off));                              \
        const anc_vf wv = (LEAKY ? kv * wold : wold) + gav * anc_vload(r + k + (off) + 1u) + \
                           gbv * anc_vload(r + k + (off));                          \
        anc_vstore(w + k + (off), wv);                                              \
        (p) += wv * anc_vload(x + k + (off) + 1u);                                  \
        (q) += wv * anc_vload(x + k + (off));                                       \
    } while (0)
    if (keep == 1.0f) {
        for (; k + 4u * ANC_VEC <= n; k += 4u * ANC_VEC) {
            ANC_FX2_STEP(p0, q0, 0u, 0);
            ANC_FX2_STEP(p1, q1, ANC_VEC, 0);
            ANC_FX2_STEP(p2, q2, 2u * ANC_VEC, 0);
            ANC_FX2_STEP(p3, q3, 3u * ANC_VEC, 0);
        }
    } else {
        for (; k + 4u * ANC_VEC <= n; k += 4u * ANC_VEC) {
            ANC_FX2_STEP(p0, q0, 0u, 1);
            ANC_FX2_STEP(p1, q1, ANC_VEC, 1);
            ANC_FX2_STEP(p2, q2, 2u * ANC_VEC, 1);
            ANC_FX2_STEP(p3, q3, 3u * ANC_VEC, 1);
        }
    }
    for (; k + ANC_VEC <= n; k += ANC_VEC) {
        ANC_FX2_STEP(p0, q0, 0u, 1);
    }
#undef ANC_FX2_STEP
    const anc_vf tp = (p0 + p1) + (p2 + p3);
    const anc_vf tq = (q0 + q1) + (q2 + q3);
    float s0 = anc_vhsum(&tp);
    float s1 = anc_vhsum(&tq);
    for (; k < n; ++k) {
        w[k] = keep * (keep * w[k] + ga * r[k + 1u]) + gb * r[k];
        s0 += w[k] * x[k + 1u];
        s1 += w[k] * x[k];
    }
    *a0 = s0;
    *a1 = s1;
}

/* The NLMS form, on one history window h (newest first): x_{n+1} = h, x_n = h + 1, update
   vectors ub = h + 4 (x_{n-3}) and ua = h + 5, i.e. anc_update2_dot2_fx with r = h + 4 and
   x = h. Reads h[0 .. n+4]. */
static inline void anc_update2_dot2_lag(float *restrict w, const float *h, float ga, float gb,
                                        float keep, uint32_t n, float *a0, float *a1)
{
    anc_update2_dot2_fx(w, h + 4, h, ga, gb, keep, n, a0, a1);
}

/* *s0 = sum_k a[k] h[k+1], *s1 = sum_k a[k] h[k]: two neighbouring windows of one
   history in one pass over a, both as (unaligned) loads. Reads h[0 .. n]. */
static inline void anc_dot2_lag(const float *restrict a, const float *h, uint32_t n,
                                float *s0, float *s1)
{
    anc_vf p0 = {0.0f}, p1 = {0.0f}, q0 = {0.0f}, q1 = {0.0f};
    size_t k = 0;
    for (; k + 2u * ANC_VEC <= n; k += 2u * ANC_VEC) {
        const anc_vf a0 = anc_vload(a + k);
        const anc_vf a1 = anc_vload(a + k + ANC_VEC);
        p0 += a0 * anc_vload(h + k + 1u);
        q0 += a0 * anc_vload(h + k);
        p1 += a1 * anc_vload(h + k + ANC_VEC + 1u);
        q1 += a1 * anc_vload(h + k + ANC_VEC);
    }
    for (; k + ANC_VEC <= n; k += ANC_VEC) {
        const anc_vf a0 = anc_vload(a + k);
        p0 += a0 * anc_vload(h + k + 1u);
        q0 += a0 * anc_vload(h + k);
    }
    const anc_vf tp = p0 + p1;
    const anc_vf tq = q0 + q1;
    float r0 = anc_vhsum(&tp);
    float r1 = anc_vhsum(&tq);
    for (; k < n; ++k) {
        r0 += a[k] * h[k + 1u];
        r1 += a[k] * h[k];
    }
    *s0 = r0;
    *s1 = r1;
}

/* out = P v for a symmetric n x n row-major P, as sum_j v[j] P[j][:] (rows are contiguous,
   so no horizontal sums), 4 ANC_VEC outputs at a time held in registers. */
static inline void anc_symv(const float *restrict p, const float *restrict v, uint32_t n,
                            float *restrict out)
{
    size_t c = 0;
    for (; c + 4u * ANC_VEC <= n; c += 4u * ANC_VEC) {
        anc_vf a0 = {0.0f}, a1 = {0.0f}, a2 = {0.0f}, a3 = {0.0f};
        for (size_t j = 0; j < n; ++j) {
            const float *row = p + j * n + c;
            const float vj = v[j];
            const anc_vf b = anc_vsplat(vj);
            a0 += b * anc_vload(row);
            a1 += b * anc_vload(row + ANC_VEC);
            a2 += b * anc_vload(row + 2u * ANC_VEC);
            a3 += b * anc_vload(row + 3u * ANC_VEC);
        }
        anc_vstore(out + c, a0);
        anc_vstore(out + c + ANC_VEC, a1);
        anc_vstore(out + c + 2u * ANC_VEC, a2);
        anc_vstore(out + c + 3u * ANC_VEC, a3);
    }
    for (; c + ANC_VEC <= n; c += ANC_VEC) {
        anc_vf a0 = {0.0f};
        for (size_t j = 0; j < n; ++j) {
            const float vj = v[j];
            const anc_vf b = anc_vsplat(vj);
            a0 += b * anc_vload(p + j * n + c);
        }
        anc_vstore(out + c, a0);
    }
    for (; c < n; ++c) {
        float acc = 0.0f;
        for (size_t j = 0; j < n; ++j) {
            acc += v[j] * p[j * n + c];
        }
        out[c] = acc;
    }
}

/* P[i][j] <- (P[i][j] - u[i] u[j]) s for all i, j. Every element is computed by the same
   operations on the same operands as its transpose, so a symmetric P stays exactly
   symmetric. */
static inline void anc_rank1_scale(float *restrict p, const float *restrict u, uint32_t n,
                                   float scale)
{
    const anc_vf sv = anc_vsplat(scale);
    for (size_t i = 0; i < n; ++i) {
        float *row = p + i * n;
        const float ui = u[i];
        const anc_vf uv = anc_vsplat(ui);
        size_t j = 0;
        for (; j + ANC_VEC <= n; j += ANC_VEC) {
            anc_vstore(row + j, (anc_vload(row + j) - uv * anc_vload(u + j)) * sv);
        }
        for (; j < n; ++j) {
            row[j] = (row[j] - ui * u[j]) * scale;
        }
    }
}

#else
/* Portable fallback (any C99 compiler, or -DANC_NO_VECTOR_EXT): 16 explicit partial
   sums, which compilers vectorize without reassociating float additions. */
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

/* Two samples per pass over w (see the vector version above). */
static inline void anc_update2_dot2_fx(float *restrict w, const float *r, const float *x,
                                       float ga, float gb, float keep, uint32_t n, float *a0,
                                       float *a1)
{
    float p[ANC_LANES] = {0.0f}, q[ANC_LANES] = {0.0f};
    const size_t blocks = n / ANC_LANES;
    for (size_t blk = 0; blk < blocks; ++blk) {
        const size_t o = blk * ANC_LANES;
        for (int j = 0; j < ANC_LANES; ++j) {
            const float wk = keep * (keep * w[o + j] + ga * r[o + j + 1]) + gb * r[o + j];
            w[o + j] = wk;
            p[j] += wk * x[o + j + 1];
            q[j] += wk * x[o + j];
        }
    }
    float s0 = anc_hsum(p);
    float s1 = anc_hsum(q);
    for (size_t k = blocks * ANC_LANES; k < n; ++k) {
        w[k] = keep * (keep * w[k] + ga * r[k + 1u]) + gb * r[k];
        s0 += w[k] * x[k + 1u];
        s1 += w[k] * x[k];
    }
    *a0 = s0;
    *a1 = s1;
}

/* The NLMS form (see the vector version above). */
static inline void anc_update2_dot2_lag(float *restrict w, const float *h, float ga, float gb,
                                        float keep, uint32_t n, float *a0, float *a1)
{
    anc_update2_dot2_fx(w, h + 4, h, ga, gb, keep, n, a0, a1);
}

/* *s0 = sum_k a[k] h[k+1], *s1 = sum_k a[k] h[k] (see the vector version above). */
static inline void anc_dot2_lag(const float *restrict a, const float *h, uint32_t n,
                                float *s0, float *s1)
{
    *s0 = anc_dot(a, h + 1, n);
    *s1 = anc_dot(a, h, n);
}

/* out = P v for a symmetric row-major P (see the vector version above). */
static inline void anc_symv(const float *restrict p, const float *restrict v, uint32_t n,
                            float *restrict out)
{
    memset(out, 0, n * sizeof(float));
    for (size_t j = 0; j < n; ++j) {
        const float vj = v[j];
        for (size_t c = 0; c < n; ++c) {
            out[c] += vj * p[j * n + c];
        }
    }
}

/* P[i][j] <- (P[i][j] - u[i] u[j]) s (see the vector version above). */
static inline void anc_rank1_scale(float *restrict p, const float *restrict u, uint32_t n,
                                   float scale)
{
    for (size_t i = 0; i < n; ++i) {
        for (size_t j = 0; j < n; ++j) {
            p[i * n + j] = (p[i * n + j] - u[i] * u[j]) * scale;
        }
    }
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
   get their samples written ANC_LOOKAHEAD samples before they are first read (16 measured
   faster than 8 once the ring index costs no division). */
#define ANC_LOOKAHEAD 16u

/* Ring index of the sample `ahead` samples newer than the one at pos (period n). */
static inline uint32_t anc_ring_ahead(uint32_t pos, uint32_t n, uint32_t ahead)
{
    if (ahead >= n) {
        ahead %= n;
    }
    return pos >= ahead ? pos - ahead : pos + n - ahead;
}

static inline void anc_ring_write(float *buf, uint32_t n, uint32_t p, float v)
{
    buf[p] = v;
    buf[p + n] = v;
}

/* The first 64-byte aligned float at or after p (p float-aligned): at most
   ANC_ALIGN_SLACK floats further. Weight vectors start there, so their vector loads and
   stores never straddle a cache line; size queries add the slack. */
#define ANC_ALIGN_SLACK 15u
static inline float *anc_align64(float *p)
{
    const uintptr_t a = (uintptr_t)p;
    return (float *)(void *)(p + (((64u - (a & 63u)) & 63u) / sizeof(float)));
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
