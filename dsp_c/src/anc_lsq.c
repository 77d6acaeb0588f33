/*
 * Least-squares start of the hybrid controller: summed normal equations, solved by a
 * row-oriented (Cholesky-Banachiewicz) factorization spread over calls. See anc_lsq.h.
 */
#include "anc_lsq.h"
#include "anc_kernels.h"

uint32_t anc_lsq_state_len(uint32_t num_taps)
{
    /* 5 vectors and the L x L factor in doubles, tail and prev in floats, 8-byte alignment */
    return 2u * (num_taps * num_taps + 5u * num_taps) + 2u * num_taps + 2u;
}

void anc_lsq_bind(anc_lsq_state *q, float *mem, uint32_t num_taps)
{
    const uintptr_t a = (uintptr_t)mem;
    double *d = (double *)(void *)(mem + ((a & 7u) != 0u ? 1u : 0u));
    q->lag = d;
    q->cross = d + num_taps;
    q->lag_at = d + 2u * num_taps;
    q->cross_at = d + 3u * num_taps;
    q->row = d + 4u * num_taps;
    q->chol = d + 5u * num_taps;
    q->tail = (float *)(void *)(q->chol + (size_t)num_taps * num_taps);
    q->prev = q->tail + num_taps;
}

void anc_lsq_reset(anc_lsq_state *q, uint32_t num_taps, uint32_t window, uint32_t rounds,
                   float ridge)
{
    q->ridge_rel = ridge;
    q->count = 0;
    q->solve_at = window;
    q->ridge = 0.0;
    q->rows = 0;
    q->trial_left = 0;
    q->ear_e = 0.0;
    q->ear_x = 0.0;
    q->rounds_left = window > 0u ? rounds : 0u;
    q->phase = q->rounds_left > 0u ? ANC_LSQ_SUMMING : ANC_LSQ_OFF;
    if (q->phase != ANC_LSQ_OFF) {
        memset(q->lag, 0, num_taps * sizeof(double));
        memset(q->cross, 0, num_taps * sizeof(double));
    }
}

void anc_lsq_stop(anc_lsq_state *q)
{
    q->phase = ANC_LSQ_OFF;
    q->rounds_left = 0;
    q->trial_left = 0;
}

/* The snapshot the factorization works on; the sums go on for later rounds. */
static void start_solve(anc_lsq_state *q, const float *rn, uint32_t num_taps)
{
    memcpy(q->lag_at, q->lag, num_taps * sizeof(double));
    memcpy(q->cross_at, q->cross, num_taps * sizeof(double));
    memcpy(q->tail, rn, num_taps * sizeof(float));
    /* trace(R) = sum_i R[i][i], R[i][i] = lag[0] - sum_{k<i} r[N-1-k]^2 */
    double diag = q->lag[0];
    double trace = 0.0;
    for (uint32_t i = 0; i < num_taps; ++i) {
        trace += diag;
        diag -= (double)rn[i] * rn[i];
    }
    q->ridge = (double)q->ridge_rel * trace / num_taps;
    q->rows = 0;
    q->phase = ANC_LSQ_FACTORING;
    q->rounds_left--;
}

void anc_lsq_take(anc_lsq_state *q, const float *rn, float d_hat, uint32_t num_taps)
{
    const double r0 = rn[0];
    const double dh = d_hat;
    double *restrict lag = q->lag;
    double *restrict cross = q->cross;
    for (uint32_t j = 0; j < num_taps; ++j) {
        lag[j] += r0 * rn[j];
        cross[j] += dh * rn[j];
    }
    q->count++;
    if (q->count < q->solve_at) {
        return;
    }
    /* the next round's window is twice this one; a solve still running skips a point */
    q->solve_at = 2u * q->count;
    if (q->phase == ANC_LSQ_SUMMING) {
        start_solve(q, rn, num_taps);
    }
}

/* Row i of R (lower part, j <= i) in q->row, from row i - 1 already there. */
static void next_row(anc_lsq_state *q, uint32_t i)
{
    double *restrict row = q->row;
    if (i == 0u) {
        row[0] = q->lag_at[0];
        return;
    }
    const double t = q->tail[i - 1u];
    /* descending, so row[j - 1] still holds R[i-1][j-1] */
    for (uint32_t j = i; j >= 1u; --j) {
        row[j] = row[j - 1u] - t * q->tail[j - 1u];
    }
    row[0] = q->lag_at[i];
}

/* Factor row i: chol[i][j] for j <= i. Returns 0 when R + rho I is not positive definite
   (to working precision). */
static int factor_row(anc_lsq_state *q, uint32_t i, uint32_t num_taps)
{
    double *restrict li = q->chol + (size_t)i * num_taps;
    const double *row = q->row;
    for (uint32_t j = 0; j < i; ++j) {
        const double *lj = q->chol + (size_t)j * num_taps;
        double s = row[j];
        for (uint32_t k = 0; k < j; ++k) {
            s -= li[k] * lj[k];
        }
        li[j] = s / lj[j];
    }
    double s = row[i] + q->ridge;
    for (uint32_t k = 0; k < i; ++k) {
        s -= li[k] * li[k];
    }
    if (!(s > 0.0) || !isfinite(s)) {
        return 0;
    }
    li[i] = sqrt(s);
    return 1;
}

/* (R + rho I) W = -p through the factor: L z = -p, then L^T W = z (W left in q->row). */
static int solve(anc_lsq_state *q, uint32_t num_taps)
{
    const uint32_t n = num_taps;
    double *z = q->row;
    for (uint32_t i = 0; i < n; ++i) {
        const double *li = q->chol + (size_t)i * n;
        double s = -q->cross_at[i];
        for (uint32_t k = 0; k < i; ++k) {
            s -= li[k] * z[k];
        }
        z[i] = s / li[i];
    }
    for (uint32_t i = n; i-- > 0;) {
        double s = z[i];
        for (uint32_t k = i + 1u; k < n; ++k) {
            s -= q->chol[(size_t)k * n + i] * z[k];
        }
        z[i] = s / q->chol[(size_t)i * n + i];
    }
    for (uint32_t i = 0; i < n; ++i) {
        if (!isfinite(z[i]) || fabs(z[i]) > 3.0e38) {
            return 0;
        }
    }
    return 1;
}

int anc_lsq_work(anc_lsq_state *q, uint32_t num_taps, uint64_t budget)
{
    if (q->phase != ANC_LSQ_FACTORING) {
        return 0;
    }
    uint64_t spent = 0;
    while (q->rows < num_taps && (spent == 0u || spent < budget)) {
        const uint32_t i = q->rows;
        next_row(q, i);
        if (!factor_row(q, i, num_taps)) {
            q->failures++;
            q->phase = q->rounds_left > 0u ? ANC_LSQ_SUMMING : ANC_LSQ_OFF;
            return 0;
        }
        spent += (uint64_t)i * i / 2u + 2u * i + 1u;
        q->rows++;
    }
    if (q->rows < num_taps) {
        return 0;
    }
    q->phase = q->rounds_left > 0u ? ANC_LSQ_SUMMING : ANC_LSQ_OFF;
    if (!solve(q, num_taps)) {
        q->failures++;
        return 0;
    }
    q->solves++;
    return 1;
}

void anc_lsq_start_trial(anc_lsq_state *q)
{
    q->ratio_before = q->ear_e / (q->ear_x + 1e-30);
    q->trial_left = ANC_LSQ_TRIAL;
}

int anc_lsq_watch(anc_lsq_state *q, float e, float x)
{
    const double forget = 1.0 - 1.0 / (double)ANC_LSQ_SMOOTH;
    q->ear_e = forget * q->ear_e + (double)e * e;
    q->ear_x = forget * q->ear_x + (double)x * x;
    if (q->trial_left == 0u || --q->trial_left > 0u) {
        return 0;
    }
    return q->ear_e / (q->ear_x + 1e-30) > ANC_LSQ_WORSE * q->ratio_before;
}
