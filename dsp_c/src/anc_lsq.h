/*
 * anc_lsq.h - private: the least-squares start of the hybrid controller (anc_fxlms.h).
 *
 * Sums the normal equations of min_W sum_n (d_hat[n] + W^T r_n)^2 over a growing window
 * that starts with zero history (pre-windowed), and solves them by Cholesky in steps of
 * bounded work. Only the first row of R is summed: with r[k] = 0 before the start,
 *   R[i][j] = R[i-1][j-1] - r[N-i] r[N-j]   (i, j >= 1, N samples summed),
 * so each row of R follows from the one before and the newest L values of r.
 */
#ifndef ANC_LSQ_H
#define ANC_LSQ_H

#include "anc_fxlms.h"

/* anc_lsq_state.phase: not running; summing; summing while a factorization is in progress */
enum { ANC_LSQ_OFF = 0u, ANC_LSQ_SUMMING = 1u, ANC_LSQ_FACTORING = 2u };

/* Floats of state for L taps (alignment slack included). */
uint32_t anc_lsq_state_len(uint32_t num_taps);
/* Points q's arrays into mem (anc_lsq_state_len floats). */
void anc_lsq_bind(anc_lsq_state *q, float *mem, uint32_t num_taps);
/* Clears the sums; summing starts when window > 0. ridge: relative to trace(R)/L. */
void anc_lsq_reset(anc_lsq_state *q, uint32_t num_taps, uint32_t window, uint32_t rounds,
                   float ridge);
/* Ends the least-squares start: no more sums, solves or trial. */
void anc_lsq_stop(anc_lsq_state *q);
/* Adds sample n (r_n: the L newest filtered-reference values, d_hat: the noise at the ear
   reconstructed for that sample). At the solve point it takes the snapshot the
   factorization works on. */
void anc_lsq_take(anc_lsq_state *q, const float *rn, float d_hat, uint32_t num_taps);
/* Advances a factorization in progress by about `budget` multiply-adds (at least one row).
   When it completes with a finite solution, leaves it in q->row (doubles) and returns 1. */
int anc_lsq_work(anc_lsq_state *q, uint32_t num_taps, uint64_t budget);
/* A solution was committed: its trial starts from the smoothed energies of now. */
void anc_lsq_start_trial(anc_lsq_state *q);
/* Smooths e^2 and x^2 of one sample; returns 1 when a trial ends with the verdict that
   the solution made the ear louder relative to the reference (then undo it). */
int anc_lsq_watch(anc_lsq_state *q, float e, float x);

/* summing, factoring or judging a solution: the per-sample hooks have work to do */
static inline int anc_lsq_active(const anc_lsq_state *q)
{
    return q->phase != ANC_LSQ_OFF || q->trial_left != 0u;
}

/* the sums are needed for a solve still to come */
static inline int anc_lsq_summing(const anc_lsq_state *q)
{
    return q->phase == ANC_LSQ_SUMMING ||
           (q->phase == ANC_LSQ_FACTORING && q->rounds_left > 0u);
}

#endif
