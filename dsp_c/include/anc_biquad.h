/*
 * anc_biquad.h - cascade of second-order sections, transposed direct form II.
 *
 * Section i, with coefficients normalized by a0 at init:
 *   y[n]  = b0 x[n] + z1
 *   z1   <- b1 x[n] - a1 y[n] + z2
 *   z2   <- b2 x[n] - a2 y[n]
 * i.e. H(z) = (b0 + b1 z^-1 + b2 z^-2) / (1 + a1 z^-1 + a2 z^-2): the sign convention of
 * scipy.signal (denominator coefficients enter with a minus sign in the recursion).
 *
 * Coefficient order: `sos` holds num_sections rows of 6 floats [b0 b1 b2 a0 a1 a2],
 * exactly scipy.signal's sos layout. init copies them, normalized, into the state.
 * State: anc_biquad_state_len_f32(num_sections) = 7 floats per section
 * (5 normalized coefficients b0 b1 b2 a1 a2, then z1 z2).
 */
#ifndef ANC_BIQUAD_H
#define ANC_BIQUAD_H

#include "anc_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t num_sections;
    float *coeffs;         /* [5 * num_sections] b0 b1 b2 a1 a2 per section, a0 == 1 */
    float *delay;          /* [2 * num_sections] z1 z2 per section */
} anc_biquad_instance_f32;

uint32_t anc_biquad_state_len_f32(uint32_t num_sections);
anc_status anc_biquad_init_f32(anc_biquad_instance_f32 *s, uint32_t num_sections,
                               const float *sos, float *state, uint32_t state_len);
void anc_biquad_reset_f32(anc_biquad_instance_f32 *s);
void anc_biquad_f32(anc_biquad_instance_f32 *s, const float *x, float *y, uint32_t block_size);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif
