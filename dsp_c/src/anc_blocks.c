/* Fixed-size block loops over the adaptive kernels (see anc_blocks.h). */
#include <stddef.h>

#include "anc_blocks.h"

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

anc_status anc_lms_blocks_f32(anc_lms_instance_f32 *s, const float *x, const float *d,
                              float *y, float *e, uint32_t num_samples, uint32_t block_size)
{
    if (block_size == 0) {
        return ANC_ERR_TAPS;
    }
    for (uint32_t k = 0; k < num_samples; k += block_size) {
        const uint32_t n = min_u32(block_size, num_samples - k);
        anc_lms_f32(s, x + k, d + k, y == NULL ? NULL : y + k, e == NULL ? NULL : e + k, n);
        if (n < block_size) {
            break;  /* k + block_size could wrap around */
        }
    }
    return ANC_OK;
}

anc_status anc_fxlms_blocks_f32(anc_fxlms_instance_f32 *s, const float *ref, const float *err,
                                float *y, uint32_t num_samples, uint32_t block_size)
{
    if (block_size == 0) {
        return ANC_ERR_TAPS;
    }
    for (uint32_t k = 0; k < num_samples; k += block_size) {
        const uint32_t n = min_u32(block_size, num_samples - k);
        anc_fxlms_f32(s, ref + k, err + k, y == NULL ? NULL : y + k, n);
        if (n < block_size) {
            break;
        }
    }
    return ANC_OK;
}

void anc_lms_run_bound_f32(const anc_lms_bound_f32 *b)
{
    anc_lms_f32(b->s, b->io.x, b->io.d, b->io.y, b->io.e, b->io.block_size);
}

void anc_rls_run_bound_f32(const anc_rls_bound_f32 *b)
{
    anc_rls_f32(b->s, b->io.x, b->io.d, b->io.y, b->io.e, b->io.block_size);
}

void anc_fxlms_run_bound_f32(const anc_fxlms_bound_f32 *b)
{
    anc_fxlms_f32(b->s, b->ref, b->err, b->y, b->block_size);
}
