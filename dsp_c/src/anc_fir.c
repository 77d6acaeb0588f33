/* Direct-form FIR over a double-written ring buffer (contiguous history, no modulo). */
#include "anc_fir.h"
#include "anc_kernels.h"

uint32_t anc_fir_state_len_f32(uint32_t num_taps)
{
    return 2u * num_taps;
}

anc_status anc_fir_init_f32(anc_fir_instance_f32 *s, uint32_t num_taps, const float *coeffs,
                            float *state, uint32_t state_len)
{
    if (s == NULL || coeffs == NULL || state == NULL) {
        return ANC_ERR_NULL;
    }
    if (num_taps == 0 || num_taps > (1u << 24)) {
        return ANC_ERR_TAPS;
    }
    if (state_len < anc_fir_state_len_f32(num_taps)) {
        return ANC_ERR_STATE_LEN;
    }
    if (!anc_all_finite(coeffs, num_taps)) {
        return ANC_ERR_COEFFS;
    }
    s->num_taps = num_taps;
    s->coeffs = coeffs;
    s->state = state;
    anc_fir_reset_f32(s);
    return ANC_OK;
}

void anc_fir_reset_f32(anc_fir_instance_f32 *s)
{
    memset(s->state, 0, 2u * s->num_taps * sizeof(float));
    s->pos = 0;
}

void anc_fir_f32(anc_fir_instance_f32 *s, const float *x, float *y, uint32_t block_size)
{
    const uint32_t n = s->num_taps;
    for (uint32_t i = 0; i < block_size; ++i) {
        (void)anc_ring_push(s->state, n, &s->pos, x[i]);
        y[i] = anc_dot(s->coeffs, s->state + s->pos, n);
    }
}
