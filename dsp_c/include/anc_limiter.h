/*
 * anc_limiter.h - safety limiter for the anti-noise: |y[n]| <= peak for every n.
 *
 *   env[n] = max(|x[n]|, env[n-1] * r),  r = exp(-1 / release_samples)
 *   g[n]   = min(1, peak / env[n]),      y[n] = g[n] x[n]
 * Since env[n] >= |x[n]|, |y[n]| <= peak always holds. The gain drops at once when a
 * sample would exceed the peak (no lookahead: the anti-noise path cannot afford delay)
 * and recovers smoothly with the release time constant, so the gain is continuous except
 * at the onset of an overload. Non-finite input samples give y = 0 and count in `blocked`.
 * State: none beyond the instance.
 */
#ifndef ANC_LIMITER_H
#define ANC_LIMITER_H

#include "anc_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    float peak;          /* > 0 */
    float release;       /* r in (0, 1) */
    float env;
    float gain;          /* g of the last sample, for metering */
    uint32_t blocked;    /* non-finite input samples replaced by 0 */
} anc_limiter_instance_f32;

anc_status anc_limiter_init_f32(anc_limiter_instance_f32 *s, float peak,
                                float release_samples);
void anc_limiter_reset_f32(anc_limiter_instance_f32 *s);
void anc_limiter_f32(anc_limiter_instance_f32 *s, const float *x, float *y,
                     uint32_t block_size);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif
