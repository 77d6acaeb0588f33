/*
 * anc_fxlms.h - feedforward ANC controller: FxLMS / FxNLMS, and a hybrid that starts with
 * a least-squares solve (and optionally filtered-x RLS) and hands over to FxNLMS.
 *
 * Signals and sign convention (all at the controller's sample rate):
 *   x[n]  reference microphone
 *   y[n]  anti-noise produced by the controller, y[n] = W^T x_n, W[k] multiplies x[n-k]
 *   e[n]  error microphone: e = d + S * y, where d is the noise at the ear and S the
 *         secondary path as it acts on y (driver, acoustics and any I/O delay). The
 *         anti-noise is ADDED at the ear, so a converged W makes S * y close to -d.
 *   S_hat secondary-path estimate, M taps, S_hat[j] multiplies y[n-j]; it should include
 *         every delay between producing y and measuring e.
 *
 * Update (per sample):
 *   r[n]  = S_hat^T x_n                                     (filtered reference)
 *   FxLMS:  W <- (1 - leak) W - mu e[n] r_n
 *   FxNLMS: W <- (1 - leak) W - mu e[n] r_n / (eps + ||r_n||^2)
 * with r_n = [r[n], ..., r[n-L+1]]. The weight update is fused with the output dot
 * product (2L + M multiply-adds per sample, two samples per pass over W outside the
 * hybrid's RLS phase) and runs 3 samples late,
 * corrected exactly by running cross terms r_{n-j}^T x_n (as in anc_lms.c). The four
 * newest updates are kept pending between calls; anc_fxlms_weights_f32 returns W with
 * them applied.
 *
 * Hybrid (ANC_FX_HYBRID): for the first hybrid_samples samples (default 0: no RLS phase)
 * the first hybrid_taps weights are adapted by modified filtered-x RLS, which is insensitive
 * to the delay in S:
 *   d_hat[n] = e[n] - S_hat^T u_n          (noise at the ear, u = anti-noise emitted)
 *   eps_n    = d_hat[n] + W^T r_n          (error the current W would give)
 *   k = P r_h / (lam + r_h^T P r_h),  W_h <- W_h - k eps_n,  P <- (P - k r_h^T P) / lam
 * (r_h = first hybrid_taps entries of r_n, P(0) = I / delta, P kept exactly symmetric),
 * then FxNLMS continues from those weights.
 *
 * Least-squares start (hybrid, lsq_samples > 0): from the start the controller also sums
 * the normal equations of the same modified filtered-x problem on all L taps,
 *   R = sum_n r_n r_n^T,  p = sum_n r_n d_hat[n]     (r[k] = 0 before the start),
 * and after N = lsq_samples samples solves (R + rho I) W = -p, rho = lsq_ridge trace(R)/L,
 * in double by Cholesky, and replaces W by the solution; FxNLMS continues from there. That
 * is RLS with lam = 1 on all L taps, computed in a numerically safer order: adaptive
 * filters on low-frequency noise at 48 kHz need eigenmodes of R 40-80 dB below the
 * strongest, which FxNLMS takes hours to adapt and single-precision RLS loses. Per
 * sample it costs 2L double multiply-adds (R is Toeplitz up to end terms, so only its
 * first row is summed); the O(L^3/6) factorization is spread over the following calls,
 * at most about the controller's own work per call, so the solution lands a few
 * thousand samples after sample N. With lsq_rounds > 1 the sums go on and the solve
 * repeats at 2N, 4N, ... (lsq_rounds solves in all) on the growing window.
 * Each solution is on trial: the solve trusts S_hat twice (in r and in d_hat), so with a
 * poor S_hat it can be worse than the FxNLMS weights it replaced, which FxNLMS (stable up
 * to 90 degrees of phase error) would have improved. ANC_LSQ_TRIAL samples after a commit
 * the error energy relative to the reference energy (both smoothed over ANC_LSQ_SMOOTH
 * samples) is compared with its value at the commit; more than ANC_LSQ_WORSE times
 * higher restores the previous weights and ends the least-squares start.
 *
 * Divergence guard: non-finite y or e, |y[n]| > max_weight_norm ||x_n|| (impossible for
 * weights within the bound), ||W|| > max_weight_norm (checked per call on the weights
 * anc_fxlms_weights_f32 returns, pending updates included), or, in
 * anc_fxlms_adapt_f32 with `emitted` given, the ear-level check below, reset W and the
 * histories (a hybrid controller restarts its RLS phase), increment `resets`, and output
 * y = 0 for that sample (for the whole call when a per-call check tripped).
 *
 * Ear-level check (max_ear_gain = G > 0; 0 disables it): the noise the ear would hear
 * without ANC is reconstructed from the error and the emitted anti-noise,
 *   d_hat[n] = e[n] - S_hat^T u_n,
 * and both energies are smoothed with a window of ANC_EAR_WINDOW samples
 * (E <- (1 - 1/ANC_EAR_WINDOW) E + v^2, both restarted at a reset). After each call,
 * E_e > G^2 E_d + tiny trips the guard: the controller is making the ear more than
 * 20 log10(G) dB louder than no ANC would. The hybrid's RLS phase is not judged (its
 * start-up transient makes a few samples louder by design; the phase is bounded by
 * hybrid_samples and the output bound). A
 * diverging controller (step size too large for the loop delay) is caught within a few
 * milliseconds of its error starting to grow, long before ||W|| reaches max_weight_norm.
 * Such a trip also halves the step size actually used, mu_eff = mu * step_scale
 * (step_scale starts at 1, stops halving at ANC_MIN_STEP_SCALE, and only init restores
 * it): a step that made the loop diverge once would make it diverge again from W = 0,
 * and FxLMS stays stable for every step below a limit set by the loop delay.
 * With an S_hat far from S (e.g. a 60 degree phase error) d_hat carries (S - S_hat) u, so
 * the check loses sensitivity; the output bound above still applies. It costs M
 * multiply-adds per sample, and only in anc_fxlms_adapt_f32 with `emitted` (the
 * deployment's shape: a fast path plays W, the controller adapts on what was played).
 *
 * State: anc_fxlms_state_len_f32(L, M, &cfg) floats (the hybrid's RLS and least-squares
 * start need more: h^2 + h floats, and about 2 L^2 + 13 L with lsq_samples > 0). W starts
 * at the first 64-byte boundary of the buffer.
 */
#ifndef ANC_FXLMS_H
#define ANC_FXLMS_H

#include "anc_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ANC_FX_LMS = 0,
    ANC_FX_NLMS = 1,
    ANC_FX_HYBRID = 2
} anc_fx_algorithm;

typedef struct {
    anc_fx_algorithm algorithm;
    float mu;                  /* > 0 */
    float eps;                 /* >= 0, FxNLMS regularization */
    float leak;                /* [0, 1) */
    float max_weight_norm;     /* > 0 */
    uint32_t hybrid_taps;      /* hybrid only: 1..L taps adapted by RLS */
    uint32_t hybrid_samples;   /* hybrid only: length of the RLS phase */
    float lam;                 /* hybrid only: RLS forgetting factor (0, 1] */
    float delta;               /* hybrid only: RLS regularization > 0 */
    float max_ear_gain;        /* ear-level guard G (amplitude ratio) >= 1, or 0: off */
    uint32_t lsq_samples;      /* hybrid only: window of the first least-squares solve, 0: off */
    uint32_t lsq_rounds;       /* hybrid only: solves, on windows N, 2N, 4N, ... (>= 1) */
    float lsq_ridge;           /* hybrid only: ridge relative to trace(R)/L, >= 0 */
} anc_fxlms_config_f32;

/* State of the least-squares start (internal; see above). */
typedef struct {
    double *lag;               /* [L] first row of R: sum_n r[n] r[n-j] */
    double *cross;             /* [L] p */
    double *lag_at;            /* [L] lag at the solve point */
    double *cross_at;          /* [L] p at the solve point */
    double *row;               /* [L] row of R being factored; scratch of the solve */
    double *chol;              /* [L*L] Cholesky factor, lower triangle, row-major */
    float *tail;               /* [L] r_n at the solve point */
    float *prev;               /* [L] W before the last solution, kept for its trial */
    double ear_e;              /* smoothed e^2 and x^2 of the trial */
    double ear_x;
    double ratio_before;       /* ear_e / ear_x when the last solution was committed */
    uint32_t trial_left;       /* samples until the trial verdict, 0: none running */
    uint32_t reverts;          /* solutions that failed their trial and were undone */
    uint64_t count;            /* samples summed */
    uint64_t solve_at;         /* count at which the next solve starts */
    float ridge_rel;           /* lsq_ridge */
    double ridge;              /* absolute ridge of the solve in progress */
    uint32_t phase;            /* ANC_LSQ_OFF, ANC_LSQ_SUMMING or ANC_LSQ_FACTORING */
    uint32_t rows;             /* rows of the factor done */
    uint32_t rounds_left;      /* solves still to start */
    uint32_t solves;           /* solutions committed since init */
    uint32_t failures;         /* solves abandoned (R + rho I not positive definite) */
} anc_lsq_state;

/* trial of a least-squares solution: smoothing, length and the ratio that undoes it */
#define ANC_LSQ_SMOOTH 2048u
#define ANC_LSQ_TRIAL 6144u
#define ANC_LSQ_WORSE 2.0

/* smoothing window of the ear-level check, samples */
#define ANC_EAR_WINDOW 512u
/* smallest step_scale the ear-level check backs off to (2^-10) */
#define ANC_MIN_STEP_SCALE 0.0009765625f

typedef struct {
    uint32_t num_taps;         /* L */
    uint32_t sec_taps;         /* M */
    uint32_t hist_len;         /* ring period of the reference history: max(L, M) + 36 */
    anc_fxlms_config_f32 cfg;
    float keep;                /* 1 - leak */
    float *weights;            /* [L] W */
    float *sec_path;           /* [M] copy of S_hat */
    float *x_hist;             /* [2 hist_len] reference ring, newest first from x_pos */
    float *r_hist;             /* [2(L+24)] filtered-reference ring, newest first from r_pos */
    float *u_hist;             /* [2M] emitted anti-noise ring (hybrid), newest first */
    float *p;                  /* [hybrid_taps^2] RLS inverse correlation (hybrid) */
    float *pi;                 /* [hybrid_taps] scratch (hybrid) */
    uint32_t x_pos;
    uint32_t r_pos;
    uint32_t u_pos;
    double r_energy;           /* ||r_n||^2 */
    double x_energy;           /* ||x_n||^2, for the output bound of the guard */
    double cross[3];           /* r_{n-j}^T x_n, j = 1..3 */
    float pending_gain[4];     /* update steps g_n .. g_{n-3} (g = -mu e / (eps + ||r||^2)
                                  for FxNLMS) not yet applied to weights */
    uint32_t since_refresh;
    float *ear_u;              /* [2M] emitted anti-noise ring of the ear-level check */
    uint32_t ear_pos;
    double ear_e;              /* smoothed e^2 */
    double ear_d;              /* smoothed d_hat^2 */
    float step_scale;          /* mu_eff / mu, halved by each ear-level trip */
    uint64_t samples;          /* samples adapted since init/reset */
    uint32_t resets;           /* divergence-guard count */
    anc_lsq_state lsq;         /* least-squares start (hybrid with lsq_samples > 0) */
} anc_fxlms_instance_f32;

/* Floats of state for this configuration (cfg NULL: FxNLMS). */
uint32_t anc_fxlms_state_len_f32(uint32_t num_taps, uint32_t sec_taps,
                                 const anc_fxlms_config_f32 *cfg);
/* Fills cfg with defaults: FxNLMS, mu 0.1, eps 1e-6, no leak, max_weight_norm 1e3,
   hybrid: least-squares start over 12000 samples, 4 rounds, ridge 1e-8; RLS phase off
   (64 taps, 0 samples, lam 0.999, delta 0.01); max_ear_gain 3.162 (10 dB). With the RLS
   phase on as well, its large early anti-noise enters d_hat, and with a poor S_hat
   (60 degrees) that spoils the least-squares sums. */
void anc_fxlms_default_config_f32(anc_fxlms_config_f32 *cfg);
anc_status anc_fxlms_init_f32(anc_fxlms_instance_f32 *s, uint32_t num_taps,
                              const float *sec_path, uint32_t sec_taps,
                              const anc_fxlms_config_f32 *cfg, float *state,
                              uint32_t state_len);
void anc_fxlms_reset_f32(anc_fxlms_instance_f32 *s);
/* Anti-noise y[n] = W x_n for every sample, adapting with err[n] after producing y[n]. */
void anc_fxlms_f32(anc_fxlms_instance_f32 *s, const float *ref, const float *err, float *y,
                   uint32_t block_size);
/* Adaptation only, for a block already played: ref and err as measured, emitted = the
   anti-noise that was actually produced for those samples (used by the hybrid phase). */
void anc_fxlms_adapt_f32(anc_fxlms_instance_f32 *s, const float *ref, const float *err,
                         const float *emitted, uint32_t block_size);
/* Current weights (pending update applied) into out[L]. */
void anc_fxlms_weights_f32(const anc_fxlms_instance_f32 *s, float *out);
/* W <- w[L] (pending updates dropped): the controller continues from these weights. A
   hybrid's least-squares start ends unless w is all zero, since it is for starting from
   zero; a guard reset starts it again. */
void anc_fxlms_set_weights_f32(anc_fxlms_instance_f32 *s, const float *w);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif
