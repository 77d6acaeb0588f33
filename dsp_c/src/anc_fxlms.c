/*
 * Filtered-x LMS / NLMS (B. Widrow, D. Shur, S. Shaffer, "On adaptive inverse control",
 * 1981; S. M. Kuo, D. R. Morgan, "Active Noise Control Systems", 1996) and a hybrid that
 * starts with modified filtered-x RLS (the "modified FxLMS" error reconstruction of
 * E. Bjarnason, 1995, applied to RLS) for fast initial convergence.
 */
#include "anc_fxlms.h"
#include "anc_lsq.h"
#include "anc_rls_core.h"

#define ANC_ENERGY_REFRESH 4096u
/* K: updates are applied K samples late (see anc_lms.c); K + 1 = 4 pending steps */
#define ANC_FX_DELAY 3u

static uint32_t max_u32(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

/* The two-sample pass reads the rings up to 16 + K + 1 samples past the L newest; the
   periods keep that window contiguous and clear of the samples written ahead. */
#define ANC_FX_PAD 20u

static uint32_t x_period(uint32_t num_taps, uint32_t sec_taps)
{
    return max_u32(num_taps, sec_taps) + ANC_FX_PAD + ANC_LOOKAHEAD;
}

static uint32_t r_period(uint32_t num_taps)
{
    return num_taps + ANC_FX_DELAY + 1u + ANC_FX_PAD;
}

static int hybrid_with_lsq(const anc_fxlms_config_f32 *cfg)
{
    return cfg->algorithm == ANC_FX_HYBRID && cfg->lsq_samples > 0u;
}

uint32_t anc_fxlms_state_len_f32(uint32_t num_taps, uint32_t sec_taps,
                                 const anc_fxlms_config_f32 *cfg)
{
    const uint32_t h = cfg != NULL && cfg->algorithm == ANC_FX_HYBRID ? cfg->hybrid_taps : 0u;
    const uint32_t lsq = cfg != NULL && hybrid_with_lsq(cfg) ? anc_lsq_state_len(num_taps) : 0u;
    return ANC_ALIGN_SLACK + num_taps + sec_taps + 2u * x_period(num_taps, sec_taps) +
           2u * r_period(num_taps) + 4u * sec_taps + h * h + h + lsq;
}

void anc_fxlms_default_config_f32(anc_fxlms_config_f32 *cfg)
{
    cfg->algorithm = ANC_FX_NLMS;
    cfg->mu = 0.1f;
    cfg->eps = 1e-6f;
    cfg->leak = 0.0f;
    cfg->max_weight_norm = 1e3f;
    cfg->max_ear_gain = 3.1622777f;
    cfg->hybrid_taps = 64u;
    cfg->hybrid_samples = 0u;
    cfg->lam = 0.999f;
    cfg->delta = 0.01f;
    cfg->lsq_samples = 12000u;
    cfg->lsq_rounds = 4u;
    cfg->lsq_ridge = 1e-8f;
}

static int valid_config(const anc_fxlms_config_f32 *c, uint32_t num_taps)
{
    if (c->algorithm != ANC_FX_LMS && c->algorithm != ANC_FX_NLMS &&
        c->algorithm != ANC_FX_HYBRID) {
        return 0;
    }
    if (!anc_finite_param(c->eps) || c->eps < 0.0f || !anc_finite_param(c->leak) ||
        c->leak < 0.0f || c->leak >= 1.0f || !anc_finite_param(c->max_weight_norm) ||
        c->max_weight_norm <= 0.0f || !anc_finite_param(c->max_ear_gain) ||
        (c->max_ear_gain != 0.0f && c->max_ear_gain < 1.0f)) {
        return 0;
    }
    if (c->algorithm == ANC_FX_HYBRID &&
        (c->hybrid_taps == 0 || c->hybrid_taps > num_taps || c->hybrid_taps > 4096u ||
         !anc_finite_param(c->lam) || c->lam <= 0.0f || c->lam > 1.0f ||
         !anc_finite_param(c->delta) || c->delta <= 0.0f)) {
        return 0;
    }
    /* the factor has L^2 doubles: 4096 taps is 128 MiB already */
    if (hybrid_with_lsq(c) && (num_taps > 4096u || c->lsq_rounds == 0u || c->lsq_rounds > 32u ||
                               !anc_finite_param(c->lsq_ridge) || c->lsq_ridge < 0.0f)) {
        return 0;
    }
    return 1;
}

anc_status anc_fxlms_init_f32(anc_fxlms_instance_f32 *s, uint32_t num_taps,
                              const float *sec_path, uint32_t sec_taps,
                              const anc_fxlms_config_f32 *cfg, float *state,
                              uint32_t state_len)
{
    if (s == NULL || sec_path == NULL || cfg == NULL || state == NULL) {
        return ANC_ERR_NULL;
    }
    if (num_taps == 0 || num_taps > (1u << 20) || sec_taps == 0 || sec_taps > (1u << 20)) {
        return ANC_ERR_TAPS;
    }
    if (!anc_finite_param(cfg->mu) || cfg->mu <= 0.0f) {
        return ANC_ERR_STEP;
    }
    if (!valid_config(cfg, num_taps)) {
        return ANC_ERR_PARAM;
    }
    const uint32_t hybrid_taps = cfg->algorithm == ANC_FX_HYBRID ? cfg->hybrid_taps : 0u;
    if (state_len < anc_fxlms_state_len_f32(num_taps, sec_taps, cfg)) {
        return ANC_ERR_STATE_LEN;
    }
    if (!anc_all_finite(sec_path, sec_taps)) {
        return ANC_ERR_COEFFS;
    }
    s->num_taps = num_taps;
    s->sec_taps = sec_taps;
    s->hist_len = x_period(num_taps, sec_taps);
    s->cfg = *cfg;
    s->cfg.hybrid_taps = hybrid_taps;
    if (!hybrid_with_lsq(cfg)) {
        s->cfg.lsq_samples = 0u;
    }
    s->keep = 1.0f - cfg->leak;
    s->weights = anc_align64(state);
    s->sec_path = s->weights + num_taps;
    s->x_hist = s->sec_path + sec_taps;
    s->r_hist = s->x_hist + 2u * s->hist_len;
    s->u_hist = s->r_hist + 2u * r_period(num_taps);
    s->p = s->u_hist + 2u * sec_taps;
    s->pi = s->p + hybrid_taps * hybrid_taps;
    s->ear_u = s->pi + hybrid_taps;
    memset(&s->lsq, 0, sizeof s->lsq);
    if (s->cfg.lsq_samples > 0u) {
        anc_lsq_bind(&s->lsq, s->ear_u + 2u * sec_taps, num_taps);
    }
    memcpy(s->sec_path, sec_path, sec_taps * sizeof(float));
    /* the emitted ring holds what was physically played: a reset does not clear it */
    memset(s->ear_u, 0, 2u * sec_taps * sizeof(float));
    s->ear_pos = 0;
    s->step_scale = 1.0f;
    s->resets = 0;
    anc_fxlms_reset_f32(s);
    return ANC_OK;
}

void anc_fxlms_reset_f32(anc_fxlms_instance_f32 *s)
{
    const uint32_t h = s->cfg.hybrid_taps;
    memset(s->weights, 0, s->num_taps * sizeof(float));
    memset(s->x_hist, 0, 2u * s->hist_len * sizeof(float));
    memset(s->r_hist, 0, 2u * r_period(s->num_taps) * sizeof(float));
    memset(s->u_hist, 0, 2u * s->sec_taps * sizeof(float));
    if (h > 0) {
        anc_rls_identity(s->p, h, 1.0f / s->cfg.delta);
        memset(s->pi, 0, h * sizeof(float));
    }
    s->x_pos = 0;
    s->r_pos = 0;
    s->u_pos = 0;
    s->r_energy = 0.0;
    s->x_energy = 0.0;
    memset(s->cross, 0, sizeof s->cross);
    memset(s->pending_gain, 0, sizeof s->pending_gain);
    s->since_refresh = 0;
    s->ear_e = 0.0;
    s->ear_d = 0.0;
    s->samples = 0;
    if (s->cfg.lsq_samples > 0u) {
        anc_lsq_reset(&s->lsq, s->num_taps, s->cfg.lsq_samples, s->cfg.lsq_rounds,
                      s->cfg.lsq_ridge);
    }
}

static void guard_trip(anc_fxlms_instance_f32 *s)
{
    anc_fxlms_reset_f32(s);
    s->resets++;
}

/* One step of the modified filtered-x RLS on the first hybrid_taps weights. In this
   phase no LMS steps are pending, so the effective weights are keep^K w. */
static void rls_update(anc_fxlms_instance_f32 *s, float err, const float *rn, float keep_k)
{
    const uint32_t h = s->cfg.hybrid_taps;
    const float *un = s->u_hist + s->u_pos;
    const float d_hat = err - anc_dot(s->sec_path, un, s->sec_taps);
    const float eps_n = d_hat + keep_k * anc_dot(s->weights, rn, s->num_taps);
    if (!anc_rls_step(s->p, s->pi, rn, s->cfg.lam, h, s->pi)) {
        anc_rls_identity(s->p, h, 1.0f / s->cfg.delta);
        return;
    }
    anc_axpy(s->weights, s->pi, -eps_n / keep_k, 1.0f, h);
}

/* Drops the pending steps and returns the factor weights are stored with: with no steps
   pending, anc_fxlms_weights_f32 returns keep^(K+1) w, so weights v are stored as v over
   keep^(K+1). */
static double begin_set_weights(anc_fxlms_instance_f32 *s)
{
    memset(s->pending_gain, 0, sizeof s->pending_gain);
    double scale = 1.0;
    for (unsigned j = 0; j <= ANC_FX_DELAY; ++j) {
        scale /= s->keep;
    }
    return scale;
}

static void set_weights_f64(anc_fxlms_instance_f32 *s, const double *v)
{
    const double scale = begin_set_weights(s);
    for (uint32_t k = 0; k < s->num_taps; ++k) {
        s->weights[k] = (float)(scale * v[k]);
    }
}

static void set_weights(anc_fxlms_instance_f32 *s, const float *v)
{
    const double scale = begin_set_weights(s);
    for (uint32_t k = 0; k < s->num_taps; ++k) {
        s->weights[k] = (float)(scale * v[k]);
    }
}

/* The emitted sample u[n] joins the hybrid's ring. The least-squares start sums sample n
   (r_n, and d_hat[n] = e[n] - S_hat^T u_n) while it is summing, and watches e and x while
   a solution is on trial; returns 1 when that trial failed. */
static inline int take_emitted(anc_fxlms_instance_f32 *s, const float *rn, float en, float un,
                               float xn)
{
    (void)anc_ring_push(s->u_hist, s->sec_taps, &s->u_pos, un);
    if (!anc_lsq_active(&s->lsq)) {
        return 0;
    }
    if (anc_lsq_summing(&s->lsq)) {
        const float d_hat = en - anc_dot(s->sec_path, s->u_hist + s->u_pos, s->sec_taps);
        anc_lsq_take(&s->lsq, rn, d_hat, s->num_taps);
    }
    return anc_lsq_watch(&s->lsq, en, xn);
}

/* After a call: a failed trial restores the weights from before the solution and ends the
   least-squares start; otherwise a factorization in progress advances by about the
   controller's own work per call, and a finished one replaces W and goes on trial. */
static void lsq_step(anc_fxlms_instance_f32 *s, uint32_t block_size, int failed_trial)
{
    anc_lsq_state *q = &s->lsq;
    const uint32_t L = s->num_taps;
    if (failed_trial) {
        set_weights(s, q->prev);
        q->reverts++;
        anc_lsq_stop(q);
        return;
    }
    const uint64_t budget = (uint64_t)block_size * (2u * L + s->sec_taps);
    if (anc_lsq_work(q, L, budget)) {
        anc_fxlms_weights_f32(s, q->prev);
        set_weights_f64(s, q->row);
        anc_lsq_start_trial(q);
    }
}

/* Loop state of run(), kept in locals so the compiler holds it in registers. */
typedef struct {
    uint32_t x_pos;
    uint32_t r_pos;
    uint32_t since_refresh;
    double x_energy;            /* ||x_n||^2, for the output bound of the guard */
    double c[ANC_FX_DELAY + 1]; /* c[0] = ||r_n||^2, c[j] = r_{n-j}^T x_n */
    float g[ANC_FX_DELAY + 1];  /* g[j] = g_{n-1-j}: the steps not yet in W */
} fx_loop;

/* Advance the reference ring to the next sample (its input written ANC_LOOKAHEAD ahead);
   returns x_n. */
static inline const float *advance_x(const anc_fxlms_instance_f32 *s, fx_loop *t,
                                     const float *ref, uint32_t i, uint32_t block_size)
{
    const uint32_t xp = s->hist_len;
    t->x_pos = anc_ring_ahead(t->x_pos, xp, 1u);
    if (i + ANC_LOOKAHEAD < block_size) {
        anc_ring_write(s->x_hist, xp, anc_ring_ahead(t->x_pos, xp, ANC_LOOKAHEAD),
                       ref[i + ANC_LOOKAHEAD]);
    }
    return s->x_hist + t->x_pos;
}

/* Take in sample n: x = x_n, r0 = r[n] = S_hat^T x_n. Pushes r[n], updates the running
   sums (exactly recomputed every ANC_ENERGY_REFRESH samples); returns r_n. */
static inline const float *push(const anc_fxlms_instance_f32 *s, fx_loop *t, const float *x,
                                float r0)
{
    enum { K = ANC_FX_DELAY };
    const uint32_t L = s->num_taps;
    const uint32_t rp = r_period(L);
    t->x_energy += (double)x[0] * x[0] - (double)x[L] * x[L];
    t->r_pos = anc_ring_ahead(t->r_pos, rp, 1u);
    anc_ring_write(s->r_hist, rp, t->r_pos, r0);
    const float *rn = s->r_hist + t->r_pos;
    /* running sums: r[n-L] leaves ||r_n||^2; r[n-j-L] x[n-L] leaves c_j */
    t->c[0] += (double)r0 * r0 - (double)rn[L] * rn[L];
    for (unsigned j = 1; j <= K; ++j) {
        t->c[j] += (double)rn[j] * x[0] - (double)rn[j + L] * x[L];
    }
    if (++t->since_refresh >= ANC_ENERGY_REFRESH) {
        t->x_energy = anc_dot(x, x, L);
        t->c[0] = anc_dot(rn, rn, L);
        for (unsigned j = 1; j <= K; ++j) {
            t->c[j] = anc_dot(rn + j, x, L);
        }
        t->since_refresh = 0;
    }
    if (t->c[0] < 0.0) {
        t->c[0] = 0.0;
    }
    if (t->x_energy < 0.0) {
        t->x_energy = 0.0;
    }
    return rn;
}

/* The guard tripped at sample i: reset, output 0, rewrite the references already written
   ahead (the reset cleared them). */
static void trip(anc_fxlms_instance_f32 *s, fx_loop *t, const float *ref, float *y,
                 uint32_t i, uint32_t block_size)
{
    guard_trip(s);
    memset(t, 0, sizeof *t);
    for (uint32_t m = 1; m <= ANC_LOOKAHEAD && i + m < block_size; ++m) {
        anc_ring_write(s->x_hist, s->hist_len, anc_ring_ahead(0u, s->hist_len, m), ref[i + m]);
    }
    if (y != NULL) {
        y[i] = 0.0f;
    }
}

/* |y| <= ||W|| ||x_n||: a larger output means runaway weights (or NaN/Inf) */
static inline int healthy(float yn, float en, float r_new, float un, float bound2,
                          double x_energy)
{
    return isfinite(en) && isfinite(r_new) && isfinite(un) &&
           yn * yn <= bound2 * ((float)x_energy + ANC_SILENCE_ENERGY);
}

/* ||W||^2 of the weights anc_fxlms_weights_f32 returns (pending steps applied): the
   weights a fast path is given must be within the bound, not only the delayed ones. */
static float effective_norm2(const anc_fxlms_instance_f32 *s)
{
    const float *rn = s->r_hist + s->r_pos;
    float sum = 0.0f;
    for (uint32_t k = 0; k < s->num_taps; ++k) {
        float acc = s->weights[k];
        for (unsigned j = ANC_FX_DELAY + 1u; j-- > 0;) {
            acc = s->keep * acc + s->pending_gain[j] * rn[k + j];
        }
        sum += acc * acc;
    }
    return sum;
}

/* ||W_eff|| <= max_weight_norm, W_eff as above. The triangle inequality
   ||W_eff|| <= ||w|| + sum_j |g_j| ||r_{n-j}|| (keep <= 1) settles it with vector dot
   products; only weights near the bound need the exact sum. */
static int effective_norm_within(const anc_fxlms_instance_f32 *s)
{
    const uint32_t L = s->num_taps;
    const float *rn = s->r_hist + s->r_pos;
    const double bound = s->cfg.max_weight_norm;
    double upper = sqrt((double)anc_dot(s->weights, s->weights, L));
    for (unsigned j = 0; j <= ANC_FX_DELAY; ++j) {
        upper += fabs((double)s->pending_gain[j]) * sqrt((double)anc_dot(rn + j, rn + j, L));
    }
    if (upper <= bound) {
        return 1;
    }
    const float norm2 = effective_norm2(s);
    return norm2 <= s->cfg.max_weight_norm * s->cfg.max_weight_norm;
}

/* The ear-level check over one played block (see anc_fxlms.h); returns 0 when the
   controller makes the ear more than max_ear_gain louder than no ANC. */
static int ear_check(anc_fxlms_instance_f32 *s, const float *err, const float *emitted,
                     uint32_t block_size)
{
    const uint32_t M = s->sec_taps;
    const double forget = 1.0 - 1.0 / (double)ANC_EAR_WINDOW;
    double ee = s->ear_e;
    double ed = s->ear_d;
    for (uint32_t i = 0; i < block_size; ++i) {
        (void)anc_ring_push(s->ear_u, M, &s->ear_pos, isfinite(emitted[i]) ? emitted[i] : 0.0f);
        const double e = isfinite(err[i]) ? err[i] : 0.0;
        const double dh = e - anc_dot(s->sec_path, s->ear_u + s->ear_pos, M);
        ee = forget * ee + e * e;
        ed = forget * ed + dh * dh;
    }
    s->ear_e = ee;
    s->ear_d = ed;
    const double g = s->cfg.max_ear_gain;
    /* the hybrid's RLS phase is not judged: its start-up transient is a few louder
       samples by design, and the phase ends after hybrid_samples */
    const int rls_phase = s->cfg.algorithm == ANC_FX_HYBRID &&
                          s->samples < s->cfg.hybrid_samples;
    return rls_phase || ee <= g * g * ed + 1e-30;
}

/* The shared loop; emitted == NULL means "the anti-noise is what we output". Same
   structure as anc_lms_f32: samples go in pairs (n, n+1) through one pass over W, which
   applies the steps of samples n-1-K and n-K and computes W^T x_n and W^T x_{n+1}; the
   newer steps enter through c[j] = r_{n-j}^T x_n. Single samples (odd block ends, the
   hybrid's RLS phase) take one pass each. */
static void run(anc_fxlms_instance_f32 *s, const float *ref, const float *err, float *y,
                const float *emitted, uint32_t block_size)
{
    enum { K = ANC_FX_DELAY };
    const uint32_t L = s->num_taps;
    const uint32_t M = s->sec_taps;
    const float keep = s->keep;
    float keep_pow[K + 1];
    keep_pow[0] = 1.0f;
    for (unsigned j = 1; j <= K; ++j) {
        keep_pow[j] = keep_pow[j - 1] * keep;
    }
    float *w = s->weights;   /* not restrict: a guard trip resets it through s */
    const int hybrid = s->cfg.algorithm == ANC_FX_HYBRID;
    const int normalized = s->cfg.algorithm != ANC_FX_LMS;
    const double mu = (double)s->cfg.mu * s->step_scale;
    const double eps = s->cfg.eps;
    const float bound2 = s->cfg.max_weight_norm * s->cfg.max_weight_norm;
    fx_loop t;
    t.x_pos = s->x_pos;
    t.r_pos = s->r_pos;
    t.since_refresh = s->since_refresh;
    t.x_energy = s->x_energy;
    t.c[0] = s->r_energy;
    for (unsigned j = 1; j <= K; ++j) {
        t.c[j] = s->cross[j - 1];
    }
    memcpy(t.g, s->pending_gain, sizeof t.g);
    for (uint32_t m = 0; m < ANC_LOOKAHEAD && m < block_size; ++m) {
        anc_ring_write(s->x_hist, s->hist_len, anc_ring_ahead(t.x_pos, s->hist_len, m + 1u),
                       ref[m]);
    }
    int failed_trial = 0;
    uint32_t i = 0;
    while (i < block_size) {
        const float *xn;
        float r0;
        if (i + 1u < block_size && (!hybrid || s->samples >= s->cfg.hybrid_samples)) {
            /* y[n]   = keep^(K-1) a0 + sum_{j=1..K-1} keep^(j-1) g_{n-j} c_j(n)
               y[n+1] = keep^K a1     + sum_{j=1..K}   keep^(j-1) g_{n+1-j} c_j(n+1) */
            (void)advance_x(s, &t, ref, i, block_size);
            const float *x1 = advance_x(s, &t, ref, i + 1u, block_size);
            /* x_n is x_{n+1} shifted by one (the ring is doubled): one pass over S_hat
               gives r[n] and r[n+1] */
            float r1;
            anc_dot2_lag(s->sec_path, x1, M, &r0, &r1);
            (void)push(s, &t, x1 + 1, r0);
            double c0[K + 1];
            memcpy(c0, t.c, sizeof c0);
            const double xe0 = t.x_energy;
            const float *rn1 = push(s, &t, x1, r1);
            const float step0 = normalized ? (float)(-mu / (eps + c0[0])) : (float)-mu;
            const float step1 = normalized ? (float)(-mu / (eps + t.c[0])) : (float)-mu;
            float a0, a1;
            anc_update2_dot2_fx(w, rn1 + K + 1u, x1, t.g[K], t.g[K - 1], keep, L, &a0, &a1);
            float p0 = keep_pow[K - 1] * a0;
            for (unsigned j = 2; j < K; ++j) {
                p0 += keep_pow[j - 1] * t.g[j - 1] * (float)c0[j];
            }
            float p1 = keep_pow[K] * a1;
            for (unsigned j = 2; j <= K; ++j) {
                p1 += keep_pow[j - 1] * t.g[j - 2] * (float)t.c[j];
            }
            const float y0 = p0 + t.g[0] * (float)c0[1];
            const float e0 = err[i];
            const float u0 = emitted != NULL ? emitted[i] : y0;
            if (!healthy(y0, e0, r0, u0, bound2, xe0)) {
                trip(s, &t, ref, y, i, block_size);
                i += 1u;
                continue;
            }
            const float g0 = step0 * e0;
            const float y1 = p1 + g0 * (float)t.c[1];
            const float e1 = err[i + 1u];
            const float u1 = emitted != NULL ? emitted[i + 1u] : y1;
            if (y != NULL) {
                y[i] = y0;
            }
            if (!healthy(y1, e1, r1, u1, bound2, t.x_energy)) {
                trip(s, &t, ref, y, i + 1u, block_size);
                i += 2u;
                continue;
            }
            if (y != NULL) {
                y[i + 1u] = y1;
            }
            if (hybrid) {
                failed_trial |= take_emitted(s, rn1 + 1, e0, u0, x1[1]);
                failed_trial |= take_emitted(s, rn1, e1, u1, x1[0]);
            }
            for (unsigned j = K; j > 1; --j) {
                t.g[j] = t.g[j - 2];
            }
            t.g[1] = g0;
            t.g[0] = step1 * e1;
            s->samples += 2u;
            i += 2u;
            continue;
        }
        /* one sample: the pass applies the step of sample n-1-K, a = W_{n-K}^T x_n */
        xn = advance_x(s, &t, ref, i, block_size);
        r0 = anc_dot(s->sec_path, xn, M);
        const float *rn = push(s, &t, xn, r0);
        const float step = normalized ? (float)(-mu / (eps + t.c[0])) : (float)-mu;
        const float a = anc_update_dot(w, rn + K + 1u, t.g[K], keep, xn, L);
        float partial = keep_pow[K] * a;
        for (unsigned j = 2; j <= K; ++j) {
            partial += keep_pow[j - 1] * t.g[j - 1] * (float)t.c[j];
        }
        const float yn = partial + t.g[0] * (float)t.c[1];
        const float en = err[i];
        const float un = emitted != NULL ? emitted[i] : yn;
        if (!healthy(yn, en, r0, un, bound2, t.x_energy)) {
            trip(s, &t, ref, y, i, block_size);
            i += 1u;
            continue;
        }
        if (y != NULL) {
            y[i] = yn;
        }
        for (unsigned j = K; j > 0; --j) {
            t.g[j] = t.g[j - 1];
        }
        t.g[0] = 0.0f;
        if (hybrid) {
            failed_trial |= take_emitted(s, rn, en, un, xn[0]);
        }
        if (hybrid && s->samples < s->cfg.hybrid_samples) {
            rls_update(s, en, rn, keep_pow[K]);
        } else {
            t.g[0] = step * en;
        }
        s->samples++;
        i += 1u;
    }
    s->x_pos = t.x_pos;
    s->r_pos = t.r_pos;
    s->r_energy = t.c[0];
    s->x_energy = t.x_energy;
    for (unsigned j = 1; j <= K; ++j) {
        s->cross[j - 1] = t.c[j];
    }
    memcpy(s->pending_gain, t.g, sizeof t.g);
    s->since_refresh = t.since_refresh;
    if (hybrid && s->cfg.lsq_samples > 0u) {
        lsq_step(s, block_size, failed_trial);
    }
    if (!effective_norm_within(s)) {
        guard_trip(s);
        if (y != NULL) {
            memset(y, 0, block_size * sizeof(float));
        }
    }
}

void anc_fxlms_f32(anc_fxlms_instance_f32 *s, const float *ref, const float *err, float *y,
                   uint32_t block_size)
{
    run(s, ref, err, y, NULL, block_size);
}

void anc_fxlms_adapt_f32(anc_fxlms_instance_f32 *s, const float *ref, const float *err,
                         const float *emitted, uint32_t block_size)
{
    /* with emitted == NULL the controller's own output stands in for the emitted signal */
    const uint32_t resets = s->resets;
    run(s, ref, err, NULL, emitted, block_size);
    /* the check keeps its ring of emitted samples current even when run() tripped, but a
       call that already reset the controller is not judged twice */
    if (emitted != NULL && s->cfg.max_ear_gain > 0.0f &&
        !ear_check(s, err, emitted, block_size) && s->resets == resets) {
        guard_trip(s);
        if (s->step_scale > ANC_MIN_STEP_SCALE) {
            s->step_scale *= 0.5f;
        }
    }
}

void anc_fxlms_weights_f32(const anc_fxlms_instance_f32 *s, float *out)
{
    /* after sample n: w holds w_{n-K}, pending_gain[j] = g_{n-j}, so
       w_{n+1} = keep^(K+1) w + sum_{j=0..K} keep^j g_{n-j} r_{n-j} */
    const float *rn = s->r_hist + s->r_pos;
    for (uint32_t k = 0; k < s->num_taps; ++k) {
        float acc = s->weights[k];
        for (unsigned j = ANC_FX_DELAY + 1u; j-- > 0;) {
            acc = s->keep * acc + s->pending_gain[j] * rn[k + j];
        }
        out[k] = acc;
    }
}

void anc_fxlms_set_weights_f32(anc_fxlms_instance_f32 *s, const float *w)
{
    set_weights(s, w);
    /* the least-squares start is for starting from zero (its sums do not depend on W) */
    int zero = 1;
    for (uint32_t k = 0; k < s->num_taps && zero; ++k) {
        zero = w[k] == 0.0f;
    }
    if (s->cfg.lsq_samples > 0u && !zero) {
        anc_lsq_stop(&s->lsq);
    }
}
