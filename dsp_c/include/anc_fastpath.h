/*
 * anc_fastpath.h - the sample-by-sample anti-noise filter with glitch-free commits.
 *
 *   y[n] = W_cur^T x_n                                   (no crossfade running)
 *   y[n] = (1 - a_n) W_cur^T x_n + a_n W_next^T x_n      (during a crossfade)
 * where a_n rises linearly from 1/F to 1 over the F = fade_len samples after a commit;
 * when it reaches 1, W_next becomes W_cur. W[k] multiplies x[n-k].
 *
 * The adaptive algorithm runs on blocks elsewhere and hands its weights over with
 * anc_fastpath_commit_f32 at a block boundary. A commit during a running crossfade first
 * completes that crossfade (its output jumps by at most the remaining blend), so commit
 * at most once per fade_len samples for click-free output.
 * State: anc_fastpath_state_len_f32(L) = 4L floats (two weight sets, 2L history).
 */
#ifndef ANC_FASTPATH_H
#define ANC_FASTPATH_H

#include "anc_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t num_taps;    /* L */
    uint32_t fade_len;    /* F >= 1 */
    float *cur;           /* [L] */
    float *next;          /* [L] */
    float *history;       /* [2L] */
    uint32_t pos;
    uint32_t fade_pos;    /* 0: idle, else samples of the crossfade done + 1 */
    uint32_t commits;
} anc_fastpath_instance_f32;

uint32_t anc_fastpath_state_len_f32(uint32_t num_taps);
anc_status anc_fastpath_init_f32(anc_fastpath_instance_f32 *s, uint32_t num_taps,
                                 uint32_t fade_len, float *state, uint32_t state_len);
void anc_fastpath_reset_f32(anc_fastpath_instance_f32 *s);
void anc_fastpath_commit_f32(anc_fastpath_instance_f32 *s, const float *w);
void anc_fastpath_f32(anc_fastpath_instance_f32 *s, const float *x, float *y,
                      uint32_t block_size);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif
