/*
 * anc_lms.h - LMS and normalized LMS (NLMS) adaptive FIR filters with optional leakage.
 *
 * For every sample n, with x_n = [x[n], x[n-1], ..., x[n-L+1]] and weights w (w[k]
 * multiplies x[n-k]):
 *   y[n]    = w_n^T x_n                      (a-priori output)
 *   e[n]    = d[n] - y[n]                    (sign: error = desired - output)
 *   LMS:  w_{n+1} = (1 - leak) w_n + mu e[n] x_n
 *   NLMS: w_{n+1} = (1 - leak) w_n + mu e[n] x_n / (eps + ||x_n||^2)
 *
 * Implementation: the weight update is fused with the output dot product (2L
 * multiply-adds per sample, two samples per pass over w) and runs 3 samples late,
 * corrected exactly by running cross terms (see anc_lms.c). The four newest updates are
 * kept pending between calls; anc_lms_weights_f32 returns the weights with them applied.
 *
 * Divergence guard: a non-finite output or error (NaN/Inf in x, d or the state), an
 * output |y[n]| > max_weight_norm ||x_n|| (impossible for weights within the bound), or
 * ||w|| > max_weight_norm (checked once per call), resets weights and history,
 * increments `resets`, and writes y = 0 for that sample (for the whole call when the norm
 * bound tripped). e is then d (0 where d is not finite).
 *
 * State: anc_lms_state_len_f32(L) floats = L weights + 2(L+36) history + 15 (the weights
 * start at the first 64-byte boundary of the buffer).
 */
#ifndef ANC_LMS_H
#define ANC_LMS_H

#include "anc_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t num_taps;        /* L */
    int normalized;           /* 0: LMS, 1: NLMS */
    float mu;                 /* step size, > 0 (NLMS: 0 < mu < 2 for stability) */
    float eps;                /* NLMS regularization, >= 0 */
    float keep;               /* 1 - leak */
    float max_weight_norm;    /* divergence bound on ||w||_2 */
    float *weights;           /* [L] */
    float *history;           /* [2(L+36)] double-written ring, newest first from pos */
    uint32_t pos;
    double energy;            /* ||x_n||^2 over the last L samples */
    double cross[3];          /* x_{n-j}^T x_n, j = 1..3 */
    float pending_gain[4];    /* update steps g_n .. g_{n-3} not yet applied to weights */
    uint32_t since_refresh;   /* samples since energy was recomputed exactly */
    uint32_t resets;          /* divergence-guard count */
} anc_lms_instance_f32;

uint32_t anc_lms_state_len_f32(uint32_t num_taps);
/* normalized: 0 LMS, 1 NLMS; leak in [0, 1); max_weight_norm > 0. */
anc_status anc_lms_init_f32(anc_lms_instance_f32 *s, uint32_t num_taps, int normalized,
                            float mu, float eps, float leak, float max_weight_norm,
                            float *state, uint32_t state_len);
void anc_lms_reset_f32(anc_lms_instance_f32 *s);
/* y and e may be NULL when not needed. */
void anc_lms_f32(anc_lms_instance_f32 *s, const float *x, const float *d, float *y, float *e,
                 uint32_t block_size);
/* Current weights (pending update applied) into out[L]. */
void anc_lms_weights_f32(const anc_lms_instance_f32 *s, float *out);
/* Replace the weights (w[L]); clears the pending update. */
void anc_lms_set_weights_f32(anc_lms_instance_f32 *s, const float *w);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif
