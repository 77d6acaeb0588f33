/* Peak limiter with instant attack and exponential release (no lookahead). */
#include "anc_limiter.h"
#include "anc_kernels.h"

anc_status anc_limiter_init_f32(anc_limiter_instance_f32 *s, float peak,
                                float release_samples)
{
    if (s == NULL) {
        return ANC_ERR_NULL;
    }
    if (!anc_finite_param(peak) || peak <= 0.0f || !anc_finite_param(release_samples) ||
        release_samples < 1.0f) {
        return ANC_ERR_PARAM;
    }
    s->peak = peak;
    s->release = expf(-1.0f / release_samples);
    s->blocked = 0;
    anc_limiter_reset_f32(s);
    return ANC_OK;
}

void anc_limiter_reset_f32(anc_limiter_instance_f32 *s)
{
    s->env = 0.0f;
    s->gain = 1.0f;
}

void anc_limiter_f32(anc_limiter_instance_f32 *s, const float *x, float *y,
                     uint32_t block_size)
{
    float env = s->env;
    float gain = s->gain;
    for (uint32_t i = 0; i < block_size; ++i) {
        const float xi = x[i];
        if (!isfinite(xi)) {
            y[i] = 0.0f;
            s->blocked++;
            continue;
        }
        const float mag = fabsf(xi);
        env *= s->release;
        if (mag > env) {
            env = mag;
        }
        gain = env > s->peak ? s->peak / env : 1.0f;
        float yi = gain * xi;
        /* peak / env * |x| can round one ulp above peak */
        if (yi > s->peak) {
            yi = s->peak;
        } else if (yi < -s->peak) {
            yi = -s->peak;
        }
        y[i] = yi;
    }
    s->env = env;
    s->gain = gain;
}
