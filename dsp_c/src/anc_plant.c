/* Closed-loop feedforward ANC simulator: primary/secondary FIR paths, I/O latency, block
   adaptation with commits to the fast path. */
#include "anc_plant.h"
#include "anc_kernels.h"

uint32_t anc_plant_state_len_f32(uint32_t primary_taps, uint32_t secondary_taps,
                                 uint32_t controller_taps, uint32_t latency, uint32_t block)
{
    return 2u * primary_taps + 2u * secondary_taps + (latency + 1u) + 3u * block +
           controller_taps + anc_fastpath_state_len_f32(controller_taps);
}

anc_status anc_plant_init_f32(anc_plant_instance_f32 *s, const float *primary,
                              uint32_t primary_taps, const float *secondary,
                              uint32_t secondary_taps, uint32_t latency, uint32_t block,
                              anc_fxlms_instance_f32 *controller, float *state,
                              uint32_t state_len)
{
    if (s == NULL || primary == NULL || secondary == NULL || controller == NULL ||
        state == NULL) {
        return ANC_ERR_NULL;
    }
    if (primary_taps == 0 || primary_taps > (1u << 24) || secondary_taps == 0 ||
        secondary_taps > (1u << 24) || block == 0 || block > (1u << 20) ||
        latency > (1u << 20)) {
        return ANC_ERR_TAPS;
    }
    const uint32_t L = controller->num_taps;
    if (state_len < anc_plant_state_len_f32(primary_taps, secondary_taps, L, latency, block)) {
        return ANC_ERR_STATE_LEN;
    }
    if (!anc_all_finite(primary, primary_taps) || !anc_all_finite(secondary, secondary_taps)) {
        return ANC_ERR_COEFFS;
    }
    s->primary_taps = primary_taps;
    s->secondary_taps = secondary_taps;
    s->latency = latency;
    s->block = block;
    s->primary = primary;
    s->secondary = secondary;
    s->controller = controller;
    float *p = state;
    s->x_hist = p;
    p += 2u * primary_taps;
    s->y_hist = p;
    p += 2u * secondary_taps;
    s->u_delay = p;
    p += latency + 1u;
    s->block_x = p;
    p += block;
    s->block_e = p;
    p += block;
    s->block_u = p;
    p += block;
    s->commit_w = p;
    p += L;
    anc_status st = anc_fastpath_init_f32(&s->fast, L, block, p,
                                          anc_fastpath_state_len_f32(L));
    if (st != ANC_OK) {
        return st;
    }
    anc_plant_reset_f32(s);
    return ANC_OK;
}

void anc_plant_reset_f32(anc_plant_instance_f32 *s)
{
    memset(s->x_hist, 0, 2u * s->primary_taps * sizeof(float));
    memset(s->y_hist, 0, 2u * s->secondary_taps * sizeof(float));
    memset(s->u_delay, 0, (s->latency + 1u) * sizeof(float));
    anc_fastpath_reset_f32(&s->fast);
    s->x_pos = 0;
    s->y_pos = 0;
    s->u_pos = 0;
    s->fill = 0;
    s->samples = 0;
}

void anc_plant_run_f32(anc_plant_instance_f32 *s, const float *x, const float *disturbance,
                       float *d, float *e, float *y, uint32_t num_samples)
{
    const uint32_t D = s->latency;
    for (uint32_t i = 0; i < num_samples; ++i) {
        const float xi = x[i];
        (void)anc_ring_push(s->x_hist, s->primary_taps, &s->x_pos, xi);
        float di = anc_dot(s->primary, s->x_hist + s->x_pos, s->primary_taps);
        if (disturbance != NULL) {
            di += disturbance[i];
        }
        float ui;
        anc_fastpath_f32(&s->fast, &xi, &ui, 1u);
        /* u_delay is a ring of D + 1 computed samples; the oldest one is played now */
        s->u_delay[s->u_pos] = ui;
        s->u_pos = (s->u_pos == D) ? 0u : s->u_pos + 1u;
        const float yi = s->u_delay[s->u_pos];
        (void)anc_ring_push(s->y_hist, s->secondary_taps, &s->y_pos, yi);
        const float ei = di + anc_dot(s->secondary, s->y_hist + s->y_pos, s->secondary_taps);
        if (d != NULL) {
            d[i] = di;
        }
        if (e != NULL) {
            e[i] = ei;
        }
        if (y != NULL) {
            y[i] = yi;
        }
        s->block_x[s->fill] = xi;
        s->block_e[s->fill] = ei;
        s->block_u[s->fill] = ui;
        if (++s->fill == s->block) {
            anc_fxlms_adapt_f32(s->controller, s->block_x, s->block_e, s->block_u, s->block);
            anc_fxlms_weights_f32(s->controller, s->commit_w);
            anc_fastpath_commit_f32(&s->fast, s->commit_w);
            s->fill = 0;
        }
        s->samples++;
    }
}
