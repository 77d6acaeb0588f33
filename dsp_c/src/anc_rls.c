/*
 * Exponentially weighted RLS (S. Haykin, "Adaptive Filter Theory", 5th ed., ch. 10),
 * with the inverse correlation matrix updated in an exactly symmetric form
 * (see anc_rls_core.h), which is what keeps float32 RLS stable over long runs.
 */
#include "anc_rls.h"
#include "anc_rls_core.h"

uint32_t anc_rls_state_len_f32(uint32_t num_taps)
{
    return num_taps * num_taps + 4u * num_taps;
}

anc_status anc_rls_init_f32(anc_rls_instance_f32 *s, uint32_t num_taps, float lam,
                            float delta, float max_weight_norm, float *state,
                            uint32_t state_len)
{
    if (s == NULL || state == NULL) {
        return ANC_ERR_NULL;
    }
    if (num_taps == 0 || num_taps > 4096u) {
        return ANC_ERR_TAPS;
    }
    if (state_len < anc_rls_state_len_f32(num_taps)) {
        return ANC_ERR_STATE_LEN;
    }
    if (!anc_finite_param(lam) || lam <= 0.0f || lam > 1.0f || !anc_finite_param(delta) ||
        delta <= 0.0f || !anc_finite_param(max_weight_norm) || max_weight_norm <= 0.0f) {
        return ANC_ERR_PARAM;
    }
    s->num_taps = num_taps;
    s->lam = lam;
    s->delta = delta;
    s->max_weight_norm = max_weight_norm;
    s->p = state;
    s->weights = state + num_taps * num_taps;
    s->pi = s->weights + num_taps;
    s->history = s->pi + num_taps;
    s->resets = 0;
    s->p_resets = 0;
    anc_rls_reset_f32(s);
    return ANC_OK;
}

void anc_rls_reset_f32(anc_rls_instance_f32 *s)
{
    const uint32_t L = s->num_taps;
    anc_rls_identity(s->p, L, 1.0f / s->delta);
    memset(s->weights, 0, L * sizeof(float));
    memset(s->pi, 0, L * sizeof(float));
    memset(s->history, 0, 2u * L * sizeof(float));
    s->pos = 0;
}

static void guard_trip(anc_rls_instance_f32 *s)
{
    anc_rls_reset_f32(s);
    s->resets++;
}

void anc_rls_f32(anc_rls_instance_f32 *s, const float *x, const float *d, float *y, float *e,
                 uint32_t block_size)
{
    const uint32_t L = s->num_taps;
    for (uint32_t i = 0; i < block_size; ++i) {
        (void)anc_ring_push(s->history, L, &s->pos, x[i]);
        const float *xn = s->history + s->pos;
        const float yn = anc_dot(s->weights, xn, L);
        const float en = d[i] - yn;
        /* |y| <= ||w|| ||x_n||: a larger output means runaway weights (or NaN/Inf) */
        const float bound2 = s->max_weight_norm * s->max_weight_norm;
        if (!isfinite(en) || !(yn * yn <= bound2 * (anc_dot(xn, xn, L) + ANC_SILENCE_ENERGY))) {
            guard_trip(s);
            if (y != NULL) {
                y[i] = 0.0f;
            }
            if (e != NULL) {
                e[i] = isfinite(d[i]) ? d[i] : 0.0f;
            }
            continue;
        }
        if (anc_rls_step(s->p, s->pi, xn, s->lam, L, s->pi)) {
            anc_axpy(s->weights, s->pi, en, 1.0f, L);
        } else {
            anc_rls_identity(s->p, L, 1.0f / s->delta);
            s->p_resets++;
        }
        if (y != NULL) {
            y[i] = yn;
        }
        if (e != NULL) {
            e[i] = en;
        }
    }
    const float norm2 = anc_dot(s->weights, s->weights, L);
    if (!(norm2 <= s->max_weight_norm * s->max_weight_norm)) {
        guard_trip(s);
        for (uint32_t i = 0; i < block_size; ++i) {
            if (y != NULL) {
                y[i] = 0.0f;
            }
            if (e != NULL) {
                e[i] = isfinite(d[i]) ? d[i] : 0.0f;
            }
        }
    }
}
