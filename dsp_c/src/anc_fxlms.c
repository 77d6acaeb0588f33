/*
 * Filtered-x LMS / NLMS (B. Widrow, D. Shur, S. Shaffer, "On adaptive inverse control",
 * 1981; S. M. Kuo, D. R. Morgan, "Active Noise Control Systems", 1996) and a hybrid that
 * starts with modified filtered-x RLS (the "modified FxLMS" error reconstruction of
 * E. Bjarnason, 1995, applied to RLS) for fast initial convergence.
 */
#include "anc_fxlms.h"
#include "anc_rls_core.h"

#define ANC_ENERGY_REFRESH 4096u
/* K: updates are applied K samples late (see anc_lms.c); K + 1 = 4 pending steps */
#define ANC_FX_DELAY 3u

static uint32_t max_u32(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

static uint32_t x_period(uint32_t num_taps, uint32_t sec_taps)
{
    return max_u32(num_taps, sec_taps) + ANC_FX_DELAY + 1u + ANC_LOOKAHEAD;
}

static uint32_t r_period(uint32_t num_taps)
{
    return num_taps + ANC_FX_DELAY + 1u;
}

uint32_t anc_fxlms_state_len_f32(uint32_t num_taps, uint32_t sec_taps, uint32_t hybrid_taps)
{
    return num_taps + sec_taps + 2u * x_period(num_taps, sec_taps) + 2u * r_period(num_taps) +
           2u * sec_taps + hybrid_taps * hybrid_taps + hybrid_taps;
}

void anc_fxlms_default_config_f32(anc_fxlms_config_f32 *cfg)
{
    cfg->algorithm = ANC_FX_NLMS;
    cfg->mu = 0.1f;
    cfg->eps = 1e-6f;
    cfg->leak = 0.0f;
    cfg->max_weight_norm = 1e3f;
    cfg->hybrid_taps = 64u;
    cfg->hybrid_samples = 4800u;
    cfg->lam = 0.999f;
    cfg->delta = 0.01f;
}

static int valid_config(const anc_fxlms_config_f32 *c, uint32_t num_taps)
{
    if (c->algorithm != ANC_FX_LMS && c->algorithm != ANC_FX_NLMS &&
        c->algorithm != ANC_FX_HYBRID) {
        return 0;
    }
    if (!anc_finite_param(c->eps) || c->eps < 0.0f || !anc_finite_param(c->leak) ||
        c->leak < 0.0f || c->leak >= 1.0f || !anc_finite_param(c->max_weight_norm) ||
        c->max_weight_norm <= 0.0f) {
        return 0;
    }
    if (c->algorithm == ANC_FX_HYBRID &&
        (c->hybrid_taps == 0 || c->hybrid_taps > num_taps || c->hybrid_taps > 4096u ||
         !anc_finite_param(c->lam) || c->lam <= 0.0f || c->lam > 1.0f ||
         !anc_finite_param(c->delta) || c->delta <= 0.0f)) {
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
    if (state_len < anc_fxlms_state_len_f32(num_taps, sec_taps, hybrid_taps)) {
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
    s->keep = 1.0f - cfg->leak;
    s->weights = state;
    s->sec_path = s->weights + num_taps;
    s->x_hist = s->sec_path + sec_taps;
    s->r_hist = s->x_hist + 2u * s->hist_len;
    s->u_hist = s->r_hist + 2u * r_period(num_taps);
    s->p = s->u_hist + 2u * sec_taps;
    s->pi = s->p + hybrid_taps * hybrid_taps;
    memcpy(s->sec_path, sec_path, sec_taps * sizeof(float));
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
    s->samples = 0;
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

/* The shared per-sample loop; emitted == NULL means "the anti-noise is what we output".
   Same structure as anc_lms_f32: the pass over W applies the step of sample n-1-K and
   computes W^T x_n; the K newer steps enter through c[j] = r_{n-j}^T x_n. */
static void run(anc_fxlms_instance_f32 *s, const float *ref, const float *err, float *y,
                const float *emitted, uint32_t block_size)
{
    enum { K = ANC_FX_DELAY };
    const uint32_t L = s->num_taps;
    const uint32_t M = s->sec_taps;
    const uint32_t xp = s->hist_len;
    const uint32_t rp = r_period(L);
    const float keep = s->keep;
    float keep_pow[K + 1];
    keep_pow[0] = 1.0f;
    for (unsigned j = 1; j <= K; ++j) {
        keep_pow[j] = keep_pow[j - 1] * keep;
    }
    float *restrict w = s->weights;
    float *restrict xh = s->x_hist;
    float *restrict rh = s->r_hist;
    const float *restrict shat = s->sec_path;
    const int hybrid = s->cfg.algorithm == ANC_FX_HYBRID;
    const int normalized = s->cfg.algorithm != ANC_FX_LMS;
    const float mu = s->cfg.mu;
    const float eps = s->cfg.eps;
    uint32_t x_pos = s->x_pos;
    uint32_t r_pos = s->r_pos;
    double c[K + 1];
    float g[K + 1];
    c[0] = s->r_energy;
    for (unsigned j = 1; j <= K; ++j) {
        c[j] = s->cross[j - 1];
    }
    memcpy(g, s->pending_gain, sizeof g);
    uint32_t since_refresh = s->since_refresh;
    double x_energy = s->x_energy;
    const float bound2 = s->cfg.max_weight_norm * s->cfg.max_weight_norm;
    for (uint32_t m = 0; m < ANC_LOOKAHEAD && m < block_size; ++m) {
        anc_ring_write(xh, xp, anc_ring_ahead(x_pos, xp, m + 1u), ref[m]);
    }
    for (uint32_t i = 0; i < block_size; ++i) {
        x_pos = anc_ring_ahead(x_pos, xp, 1u);
        if (i + ANC_LOOKAHEAD < block_size) {
            anc_ring_write(xh, xp, anc_ring_ahead(x_pos, xp, ANC_LOOKAHEAD),
                           ref[i + ANC_LOOKAHEAD]);
        }
        const float *xn = xh + x_pos;
        x_energy += (double)xn[0] * xn[0] - (double)xn[L] * xn[L];
        const float r_new = anc_dot(shat, xn, M);
        r_pos = anc_ring_ahead(r_pos, rp, 1u);
        anc_ring_write(rh, rp, r_pos, r_new);
        const float *rn = rh + r_pos;
        /* running sums: r[n-L] leaves ||r_n||^2; r[n-j-L] x[n-L] leaves c_j */
        c[0] += (double)r_new * r_new - (double)rn[L] * rn[L];
        for (unsigned j = 1; j <= K; ++j) {
            c[j] += (double)rn[j] * xn[0] - (double)rn[j + L] * xn[L];
        }
        if (++since_refresh >= ANC_ENERGY_REFRESH) {
            x_energy = anc_dot(xn, xn, L);
            c[0] = anc_dot(rn, rn, L);
            for (unsigned j = 1; j <= K; ++j) {
                c[j] = anc_dot(rn + j, xn, L);
            }
            since_refresh = 0;
        }
        if (c[0] < 0.0) {
            c[0] = 0.0;
        }
        if (x_energy < 0.0) {
            x_energy = 0.0;
        }
        const float step = normalized ? (float)(-mu / (eps + c[0])) : -mu;
        const float a = anc_update_dot(w, rn + K + 1u, g[K], keep, xn, L);
        float partial = keep_pow[K] * a;
        for (unsigned j = 2; j <= K; ++j) {
            partial += keep_pow[j - 1] * g[j - 1] * (float)c[j];
        }
        const float yn = partial + g[0] * (float)c[1];
        const float en = err[i];
        const float un = emitted != NULL ? emitted[i] : yn;
        /* |y| <= ||W|| ||x_n||: a larger output means runaway weights (or NaN/Inf) */
        if (!isfinite(en) || !isfinite(r_new) || !isfinite(un) ||
            !(yn * yn <= bound2 * ((float)x_energy + ANC_SILENCE_ENERGY))) {
            guard_trip(s);
            x_pos = 0;
            r_pos = 0;
            memset(c, 0, sizeof c);
            memset(g, 0, sizeof g);
            since_refresh = 0;
            x_energy = 0.0;
            /* the reset cleared the references already written ahead */
            for (uint32_t m = 1; m <= ANC_LOOKAHEAD && i + m < block_size; ++m) {
                anc_ring_write(xh, xp, anc_ring_ahead(x_pos, xp, m), ref[i + m]);
            }
            if (y != NULL) {
                y[i] = 0.0f;
            }
            continue;
        }
        if (y != NULL) {
            y[i] = yn;
        }
        for (unsigned j = K; j > 0; --j) {
            g[j] = g[j - 1];
        }
        g[0] = 0.0f;
        if (hybrid) {
            (void)anc_ring_push(s->u_hist, M, &s->u_pos, un);
        }
        if (hybrid && s->samples < s->cfg.hybrid_samples) {
            rls_update(s, en, rn, keep_pow[K]);
        } else {
            g[0] = step * en;
        }
        s->samples++;
    }
    s->x_pos = x_pos;
    s->r_pos = r_pos;
    s->r_energy = c[0];
    s->x_energy = x_energy;
    for (unsigned j = 1; j <= K; ++j) {
        s->cross[j - 1] = c[j];
    }
    memcpy(s->pending_gain, g, sizeof g);
    s->since_refresh = since_refresh;
    const float norm2 = anc_dot(w, w, L);
    if (!(norm2 <= s->cfg.max_weight_norm * s->cfg.max_weight_norm)) {
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
    run(s, ref, err, NULL, emitted, block_size);
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
