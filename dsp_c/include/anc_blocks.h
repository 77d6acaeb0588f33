/*
 * anc_blocks.h - drive the adaptive kernels over a long signal in fixed-size blocks.
 *
 * anc_<algo>_blocks_f32(s, ..., num_samples, block_size) is exactly
 *     for (k = 0; k < num_samples; k += block_size)
 *         anc_<algo>_f32(s, x + k, ..., min(block_size, num_samples - k));
 * so its outputs equal those of the block loop a real-time caller runs, and so does its
 * cost with no caller code between the blocks. bench/dsp_bench.py uses it as the pure C
 * time of the real-time path; offline callers use it to reproduce a device's block size.
 * Returns ANC_ERR_TAPS when block_size is 0 (nothing is processed).
 */
#ifndef ANC_BLOCKS_H
#define ANC_BLOCKS_H

#include "anc_types.h"
#include "anc_lms.h"
#include "anc_fxlms.h"

#ifdef __cplusplus
extern "C" {
#endif

anc_status anc_lms_blocks_f32(anc_lms_instance_f32 *s, const float *x, const float *d,
                              float *y, float *e, uint32_t num_samples, uint32_t block_size);
anc_status anc_fxlms_blocks_f32(anc_fxlms_instance_f32 *s, const float *ref, const float *err,
                                float *y, uint32_t num_samples, uint32_t block_size);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif
