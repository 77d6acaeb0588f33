/*
 * anc_fir.h - direct-form FIR filter.
 *
 *   y[n] = sum_{k=0}^{L-1} h[k] x[n-k]
 *
 * Coefficient order: h[k] multiplies x[n-k] (scipy.signal.lfilter(h, [1], x) order).
 * The coefficients are referenced, not copied: keep them alive while the instance is used.
 * State: anc_fir_state_len_f32(L) floats (a double-written ring of the last L inputs).
 */
#ifndef ANC_FIR_H
#define ANC_FIR_H

#include "anc_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t num_taps;     /* L */
    const float *coeffs;   /* [L], h[k] multiplies x[n-k] */
    float *state;          /* [2L] double-written history, newest first from state[pos] */
    uint32_t pos;          /* ring index of the newest sample */
} anc_fir_instance_f32;

uint32_t anc_fir_state_len_f32(uint32_t num_taps);
anc_status anc_fir_init_f32(anc_fir_instance_f32 *s, uint32_t num_taps, const float *coeffs,
                            float *state, uint32_t state_len);
void anc_fir_reset_f32(anc_fir_instance_f32 *s);
void anc_fir_f32(anc_fir_instance_f32 *s, const float *x, float *y, uint32_t block_size);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif
