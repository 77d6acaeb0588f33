/*
 * anc_plant.h - closed-loop simulator of a feedforward ANC headset.
 *
 * Signals, for every sample n:
 *   d[n] = (P * x)[n] + v[n]       noise at the ear without ANC; P[k] multiplies x[n-k],
 *                                  v an optional disturbance the reference does not see
 *   u[n] = fast path (W, x)[n]     anti-noise computed from references up to x[n]
 *   y[n] = u[n - D]                anti-noise reaching the driver after the I/O latency D
 *   e[n] = d[n] + (S * y)[n]       ear (error mic) signal with ANC; S[k] multiplies y[n-k]
 * so the anti-noise emitted at time n depends only on x[m], m <= n - D.
 *
 * Adaptation: samples are grouped in blocks of B. When block b is complete, the controller
 * adapts on that block's (x, e, u) - error samples already measured - and its weights are
 * committed to the fast path, which crossfades to them over the next B samples. The
 * controller's S_hat should therefore model delay(D) * S (what a device measures from its
 * own output to its error mic).
 *
 * The simulator keeps its state between calls: a long run can be fed in chunks of any
 * length and gives the same result as one call.
 * State: anc_plant_state_len_f32(Lp, Ls, L, D, B) floats.
 */
#ifndef ANC_PLANT_H
#define ANC_PLANT_H

#include "anc_types.h"
#include "anc_fastpath.h"
#include "anc_fxlms.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t primary_taps;     /* Lp */
    uint32_t secondary_taps;   /* Ls */
    uint32_t latency;          /* D */
    uint32_t block;            /* B */
    const float *primary;      /* [Lp], referenced */
    const float *secondary;    /* [Ls], referenced */
    anc_fxlms_instance_f32 *controller;
    anc_fastpath_instance_f32 fast;
    float *x_hist;             /* [2 Lp] */
    float *y_hist;             /* [2 Ls] */
    float *u_delay;            /* [D + 1] ring of computed anti-noise */
    float *block_x;            /* [B] */
    float *block_e;            /* [B] */
    float *block_u;            /* [B] */
    float *commit_w;           /* [L] */
    uint32_t x_pos;
    uint32_t y_pos;
    uint32_t u_pos;
    uint32_t fill;             /* samples in the current block */
    uint64_t samples;
} anc_plant_instance_f32;

uint32_t anc_plant_state_len_f32(uint32_t primary_taps, uint32_t secondary_taps,
                                 uint32_t controller_taps, uint32_t latency, uint32_t block);
anc_status anc_plant_init_f32(anc_plant_instance_f32 *s, const float *primary,
                              uint32_t primary_taps, const float *secondary,
                              uint32_t secondary_taps, uint32_t latency, uint32_t block,
                              anc_fxlms_instance_f32 *controller, float *state,
                              uint32_t state_len);
void anc_plant_reset_f32(anc_plant_instance_f32 *s);
/* disturbance (v), d, e, y may each be NULL (v = 0; outputs not needed). */
void anc_plant_run_f32(anc_plant_instance_f32 *s, const float *x, const float *disturbance,
                       float *d, float *e, float *y, uint32_t num_samples);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif
