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
 *
 * Bound blocks: a real-time caller that reaches C through a binding pays per converted
 * argument on every call (through CFFI a one-pointer call costs about half of a six-argument
 * one). It fills one anc_<algo>_bound_f32 per block once - instance, buffers, block size -
 * and then calls anc_<algo>_run_bound_f32(b), which is exactly
 *     anc_lms_f32(b->s, b->io.x, b->io.d, b->io.y, b->io.e, b->io.block_size)
 * (the same for RLS) or anc_fxlms_f32(b->s, b->ref, b->err, b->y, b->block_size).
 * The struct only points: the instance and the buffers stay the caller's and must outlive it.
 */
#ifndef ANC_BLOCKS_H
#define ANC_BLOCKS_H

#include "anc_types.h"
#include "anc_lms.h"
#include "anc_fxlms.h"
#include "anc_rls.h"

#ifdef __cplusplus
extern "C" {
#endif

anc_status anc_lms_blocks_f32(anc_lms_instance_f32 *s, const float *x, const float *d,
                              float *y, float *e, uint32_t num_samples, uint32_t block_size);
anc_status anc_fxlms_blocks_f32(anc_fxlms_instance_f32 *s, const float *ref, const float *err,
                                float *y, uint32_t num_samples, uint32_t block_size);

/* The buffers of one block of an adaptive FIR (LMS/NLMS, RLS). */
typedef struct {
    const float *x;
    const float *d;
    float *y;                 /* may be NULL, as for anc_lms_f32 / anc_rls_f32 */
    float *e;                 /* may be NULL */
    uint32_t block_size;
} anc_fir_block_io_f32;

typedef struct {
    anc_lms_instance_f32 *s;
    anc_fir_block_io_f32 io;
} anc_lms_bound_f32;

typedef struct {
    anc_rls_instance_f32 *s;
    anc_fir_block_io_f32 io;
} anc_rls_bound_f32;

typedef struct {
    anc_fxlms_instance_f32 *s;
    const float *ref;
    const float *err;
    float *y;
    uint32_t block_size;
} anc_fxlms_bound_f32;

void anc_lms_run_bound_f32(const anc_lms_bound_f32 *b);
void anc_rls_run_bound_f32(const anc_rls_bound_f32 *b);
void anc_fxlms_run_bound_f32(const anc_fxlms_bound_f32 *b);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif
