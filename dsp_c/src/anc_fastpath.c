/* Sample-by-sample anti-noise FIR with a linear output crossfade on every commit. */
#include "anc_fastpath.h"
#include "anc_kernels.h"

uint32_t anc_fastpath_state_len_f32(uint32_t num_taps)
{
    return 4u * num_taps;
}

anc_status anc_fastpath_init_f32(anc_fastpath_instance_f32 *s, uint32_t num_taps,
                                 uint32_t fade_len, float *state, uint32_t state_len)
{
    if (s == NULL || state == NULL) {
        return ANC_ERR_NULL;
    }
    if (num_taps == 0 || num_taps > (1u << 24) || fade_len == 0) {
        return ANC_ERR_TAPS;
    }
    if (state_len < anc_fastpath_state_len_f32(num_taps)) {
        return ANC_ERR_STATE_LEN;
    }
    s->num_taps = num_taps;
    s->fade_len = fade_len;
    s->cur = state;
    s->next = state + num_taps;
    s->history = state + 2u * num_taps;
    anc_fastpath_reset_f32(s);
    return ANC_OK;
}

void anc_fastpath_reset_f32(anc_fastpath_instance_f32 *s)
{
    memset(s->cur, 0, 4u * s->num_taps * sizeof(float));
    s->pos = 0;
    s->fade_pos = 0;
    s->commits = 0;
}

static void finish_fade(anc_fastpath_instance_f32 *s)
{
    float *t = s->cur;
    s->cur = s->next;
    s->next = t;
    s->fade_pos = 0;
}

void anc_fastpath_commit_f32(anc_fastpath_instance_f32 *s, const float *w)
{
    if (s->fade_pos != 0) {
        finish_fade(s);
    }
    memcpy(s->next, w, s->num_taps * sizeof(float));
    s->fade_pos = 1;
    s->commits++;
}

void anc_fastpath_f32(anc_fastpath_instance_f32 *s, const float *x, float *y,
                      uint32_t block_size)
{
    const uint32_t L = s->num_taps;
    const float step = 1.0f / (float)s->fade_len;
    for (uint32_t i = 0; i < block_size; ++i) {
        (void)anc_ring_push(s->history, L, &s->pos, x[i]);
        const float *xn = s->history + s->pos;
        float yn = anc_dot(s->cur, xn, L);
        if (s->fade_pos != 0) {
            const float a = (float)s->fade_pos * step;
            yn += a * (anc_dot(s->next, xn, L) - yn);
            if (++s->fade_pos > s->fade_len) {
                finish_fade(s);
            }
        }
        if (!isfinite(yn)) {
            /* a non-finite reference must not reach the driver: drop the history */
            memset(s->history, 0, 2u * L * sizeof(float));
            yn = 0.0f;
        }
        y[i] = yn;
    }
}
