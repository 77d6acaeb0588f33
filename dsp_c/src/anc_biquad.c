/* Biquad cascade, transposed direct form II (the form scipy.signal.sosfilt uses). */
#include "anc_biquad.h"
#include "anc_kernels.h"

uint32_t anc_biquad_state_len_f32(uint32_t num_sections)
{
    return 7u * num_sections;
}

anc_status anc_biquad_init_f32(anc_biquad_instance_f32 *s, uint32_t num_sections,
                               const float *sos, float *state, uint32_t state_len)
{
    if (s == NULL || sos == NULL || state == NULL) {
        return ANC_ERR_NULL;
    }
    if (num_sections == 0 || num_sections > (1u << 20)) {
        return ANC_ERR_TAPS;
    }
    if (state_len < anc_biquad_state_len_f32(num_sections)) {
        return ANC_ERR_STATE_LEN;
    }
    if (!anc_all_finite(sos, 6u * num_sections)) {
        return ANC_ERR_COEFFS;
    }
    for (uint32_t i = 0; i < num_sections; ++i) {
        if (sos[6u * i + 3u] == 0.0f) {
            return ANC_ERR_COEFFS;
        }
    }
    s->num_sections = num_sections;
    s->coeffs = state;
    s->delay = state + 5u * num_sections;
    for (uint32_t i = 0; i < num_sections; ++i) {
        const float *row = sos + 6u * i;
        float *c = s->coeffs + 5u * i;
        const float a0 = row[3];
        c[0] = row[0] / a0;
        c[1] = row[1] / a0;
        c[2] = row[2] / a0;
        c[3] = row[4] / a0;
        c[4] = row[5] / a0;
    }
    anc_biquad_reset_f32(s);
    return ANC_OK;
}

void anc_biquad_reset_f32(anc_biquad_instance_f32 *s)
{
    memset(s->delay, 0, 2u * s->num_sections * sizeof(float));
}

void anc_biquad_f32(anc_biquad_instance_f32 *s, const float *x, float *y, uint32_t block_size)
{
    const float *in = x;
    for (uint32_t i = 0; i < s->num_sections; ++i) {
        const float *c = s->coeffs + 5u * i;
        const float b0 = c[0], b1 = c[1], b2 = c[2], a1 = c[3], a2 = c[4];
        float z1 = s->delay[2u * i];
        float z2 = s->delay[2u * i + 1u];
        for (uint32_t n = 0; n < block_size; ++n) {
            const float xn = in[n];
            const float yn = b0 * xn + z1;
            z1 = b1 * xn - a1 * yn + z2;
            z2 = b2 * xn - a2 * yn;
            y[n] = yn;
        }
        s->delay[2u * i] = z1;
        s->delay[2u * i + 1u] = z2;
        in = y;   /* later sections filter in place */
    }
}
