/*
 * anc_rls.h - exponentially weighted recursive least squares (RLS) adaptive FIR filter.
 *
 * For every sample n, with x_n = [x[n], ..., x[n-L+1]], w[k] multiplying x[n-k]:
 *   pi     = P x_n
 *   k      = pi / (lam + x_n^T pi)
 *   y[n]   = w^T x_n,   e[n] = d[n] - y[n]          (sign: error = desired - output)
 *   w     <- w + k e[n]
 *   P     <- (P - k pi^T) / lam,   P(0) = I / delta
 *
 * Numerical stability: P is updated as P - u u^T with u = pi / sqrt(lam + x^T pi), so
 * both triangles receive bit-identical values and P stays exactly symmetric; a
 * non-positive or non-finite denominator (P lost definiteness) re-initializes P. This
 * keeps the float32 filter stable for hours of audio where the textbook form drifts
 * indefinite within a second.
 *
 * Divergence guard: non-finite output/error, |y[n]| > max_weight_norm ||x_n||, or
 * ||w|| > max_weight_norm (checked per call) resets w, P and the
 * history, increments `resets`, and writes y = 0 for that sample (whole call for the norm).
 * State: anc_rls_state_len_f32(L) floats = L^2 (P) + 2L (w, pi) + 2L (history).
 */
#ifndef ANC_RLS_H
#define ANC_RLS_H

#include "anc_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t num_taps;        /* L */
    float lam;                /* forgetting factor, 0 < lam <= 1 */
    float delta;              /* regularization, P(0) = I / delta, > 0 */
    float max_weight_norm;
    float *weights;           /* [L] */
    float *p;                 /* [L*L] inverse correlation matrix, row-major, symmetric */
    float *pi;                /* [L] scratch P x */
    float *history;           /* [2L] double-written ring, newest first from pos */
    uint32_t pos;
    uint32_t resets;          /* divergence-guard count (weights reset) */
    uint32_t p_resets;        /* times P was re-initialized after losing definiteness */
} anc_rls_instance_f32;

uint32_t anc_rls_state_len_f32(uint32_t num_taps);
anc_status anc_rls_init_f32(anc_rls_instance_f32 *s, uint32_t num_taps, float lam,
                            float delta, float max_weight_norm, float *state,
                            uint32_t state_len);
void anc_rls_reset_f32(anc_rls_instance_f32 *s);
/* y and e may be NULL when not needed. */
void anc_rls_f32(anc_rls_instance_f32 *s, const float *x, const float *d, float *y, float *e,
                 uint32_t block_size);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif
