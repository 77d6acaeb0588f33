/*
 * LMS / NLMS (B. Widrow, M. E. Hoff, "Adaptive switching circuits", 1960; NLMS:
 * J. Nagumo, A. Noda, "A learning method for system identification", 1967).
 *
 * The update is applied K = ANC_LMS_DELAY samples late so that consecutive samples do
 * not wait on each other. With g_m the update step of sample m (w_{m+1} = keep w_m +
 * g_m x_m), one sample n alone would do
 *   w   <- keep w + g_{n-1-K} x_{n-1-K}                  (now w = w_{n-K})
 *   a    = w^T x_n                                       (same pass as the update)
 *   y[n] = w_n^T x_n = keep^K a + sum_{j=1..K} keep^(j-1) g_{n-j} c_j(n)
 * with c_j(n) = x_{n-j}^T x_n. Samples are processed in pairs (n, n+1) sharing one pass
 * over w, which halves the weight traffic: the pass applies g_{n-1-K} and g_{n-K} and
 * computes a0 = w_{n+1-K}^T x_n and a1 = w_{n+1-K}^T x_{n+1}, and the c_j terms supply
 * the steps not yet in w (see anc_lms_f32). The c_j and ||x_n||^2 are running sums,
 * recomputed exactly every ANC_ENERGY_REFRESH samples. Only the g_{n-1} term waits for
 * the previous sample's error, so passes overlap in the CPU. The history ring has period
 * L + ANC_LMS_PAD + ANC_LOOKAHEAD so that the L + 5 newest inputs are one contiguous view
 * of it while the next ANC_LOOKAHEAD inputs are already written (see anc_kernels.h).
 */
#include "anc_lms.h"
#include "anc_kernels.h"

/* Recompute ||x_n||^2 exactly this often; the running update drifts by rounding. */
#define ANC_ENERGY_REFRESH 4096u
/* K; the instance keeps K + 1 pending steps (anc_lms_instance_f32.pending_gain[4]) */
#define ANC_LMS_DELAY 3u
/* history kept beyond the L newest samples: the two-sample pass reads h[0 .. L+4] (the pad
   leaves room for a wider window without changing the state length) */
#define ANC_LMS_PAD 20u

uint32_t anc_lms_state_len_f32(uint32_t num_taps)
{
    return ANC_ALIGN_SLACK + num_taps + 2u * (num_taps + ANC_LMS_PAD + ANC_LOOKAHEAD);
}

anc_status anc_lms_init_f32(anc_lms_instance_f32 *s, uint32_t num_taps, int normalized,
                            float mu, float eps, float leak, float max_weight_norm,
                            float *state, uint32_t state_len)
{
    if (s == NULL || state == NULL) {
        return ANC_ERR_NULL;
    }
    if (num_taps == 0 || num_taps > (1u << 24)) {
        return ANC_ERR_TAPS;
    }
    if (state_len < anc_lms_state_len_f32(num_taps)) {
        return ANC_ERR_STATE_LEN;
    }
    if (!anc_finite_param(mu) || mu <= 0.0f) {
        return ANC_ERR_STEP;
    }
    if (!anc_finite_param(eps) || eps < 0.0f || !anc_finite_param(leak) || leak < 0.0f ||
        leak >= 1.0f || !anc_finite_param(max_weight_norm) || max_weight_norm <= 0.0f) {
        return ANC_ERR_PARAM;
    }
    s->num_taps = num_taps;
    s->normalized = normalized ? 1 : 0;
    s->mu = mu;
    s->eps = eps;
    s->keep = 1.0f - leak;
    s->max_weight_norm = max_weight_norm;
    s->weights = anc_align64(state);
    s->history = s->weights + num_taps;
    s->resets = 0;
    anc_lms_reset_f32(s);
    return ANC_OK;
}

void anc_lms_reset_f32(anc_lms_instance_f32 *s)
{
    memset(s->weights, 0, s->num_taps * sizeof(float));
    memset(s->history, 0, 2u * (s->num_taps + ANC_LMS_PAD + ANC_LOOKAHEAD) * sizeof(float));
    s->pos = 0;
    s->energy = 0.0;
    memset(s->cross, 0, sizeof s->cross);
    memset(s->pending_gain, 0, sizeof s->pending_gain);
    s->since_refresh = 0;
}

static void guard_trip(anc_lms_instance_f32 *s)
{
    anc_lms_reset_f32(s);
    s->resets++;
}

/* Loop state of anc_lms_f32, kept in locals so the compiler holds it in registers. */
typedef struct {
    uint32_t pos;             /* ring index of the newest sample */
    uint32_t since_refresh;
    double c[ANC_LMS_DELAY + 1];   /* c[0] = ||x_n||^2, c[j] = x_{n-j}^T x_n */
    float g[ANC_LMS_DELAY + 1];    /* g[j] = g_{n-1-j}: the steps not yet in w */
} lms_loop;

/* Advance to the next sample: ring position, the input written ANC_LOOKAHEAD ahead, the
   running sums. Returns x_n (newest first). */
static inline const float *advance(lms_loop *t, float *hist, uint32_t period,
                                   uint32_t L, const float *x, uint32_t i, uint32_t block_size)
{
    enum { K = ANC_LMS_DELAY };
    t->pos = anc_ring_ahead(t->pos, period, 1u);
    if (i + ANC_LOOKAHEAD < block_size) {
        anc_ring_write(hist, period, anc_ring_ahead(t->pos, period, ANC_LOOKAHEAD),
                       x[i + ANC_LOOKAHEAD]);
    }
    const float *xn = hist + t->pos;
    /* x[n-L-j] leaves the L-sample window of x_{n-j}; double running sums, so that a quiet
       passage after a loud one keeps an accurate ||x_n||^2 */
    const double newest = xn[0];
    const double leaving = xn[L];
    for (unsigned j = 0; j <= K; ++j) {
        t->c[j] += newest * xn[j] - leaving * xn[L + j];
    }
    if (++t->since_refresh >= ANC_ENERGY_REFRESH) {
        for (unsigned j = 0; j <= K; ++j) {
            t->c[j] = anc_dot(xn, xn + j, L);
        }
        t->since_refresh = 0;
    }
    if (t->c[0] < 0.0) {
        t->c[0] = 0.0;
    }
    return xn;
}

/* The guard tripped at sample i: reset, output 0, and rewrite the inputs already written
   ahead (the reset cleared them). */
static void trip(anc_lms_instance_f32 *s, lms_loop *t, uint32_t period, const float *x,
                 const float *d, float *y, float *e, uint32_t i, uint32_t block_size)
{
    guard_trip(s);
    memset(t, 0, sizeof *t);
    for (uint32_t m = 1; m <= ANC_LOOKAHEAD && i + m < block_size; ++m) {
        anc_ring_write(s->history, period, anc_ring_ahead(0u, period, m), x[i + m]);
    }
    if (y != NULL) {
        y[i] = 0.0f;
    }
    if (e != NULL) {
        e[i] = isfinite(d[i]) ? d[i] : 0.0f;
    }
}

void anc_lms_f32(anc_lms_instance_f32 *s, const float *x, const float *d, float *y, float *e,
                 uint32_t block_size)
{
    enum { K = ANC_LMS_DELAY };
    const uint32_t L = s->num_taps;
    const uint32_t period = L + ANC_LMS_PAD + ANC_LOOKAHEAD;
    const float keep = s->keep;
    const float bound2 = s->max_weight_norm * s->max_weight_norm;
    const int normalized = s->normalized;
    const float mu = s->mu;
    const double eps = s->eps;
    float keep_pow[K + 1];
    keep_pow[0] = 1.0f;
    for (unsigned j = 1; j <= K; ++j) {
        keep_pow[j] = keep_pow[j - 1] * keep;
    }
    float *w = s->weights;   /* not restrict: a guard trip resets it through s */
    float *hist = s->history;
    lms_loop t;
    t.pos = s->pos;
    t.since_refresh = s->since_refresh;
    t.c[0] = s->energy;
    for (unsigned j = 1; j <= K; ++j) {
        t.c[j] = s->cross[j - 1];
    }
    memcpy(t.g, s->pending_gain, sizeof t.g);
    for (uint32_t m = 0; m < ANC_LOOKAHEAD && m < block_size; ++m) {
        anc_ring_write(hist, period, anc_ring_ahead(t.pos, period, m + 1u), x[m]);
    }
    uint32_t i = 0;
    while (i + 1u < block_size) {
        /* two samples n = i, i + 1 per pass over w: the pass applies g_{n-1-K} and g_{n-K}
           (w becomes w_{n+1-K}) and computes a0 = w^T x_n, a1 = w^T x_{n+1}; then
           y[n]   = keep^(K-1) a0 + sum_{j=1..K-1} keep^(j-1) g_{n-j} c_j(n)
           y[n+1] = keep^K a1     + sum_{j=1..K}   keep^(j-1) g_{n+1-j} c_j(n+1) */
        (void)advance(&t, hist, period, L, x, i, block_size);
        double c0[K + 1];
        memcpy(c0, t.c, sizeof c0);
        /* x_{n+1}; x_n is the same view shifted by one (the ring is doubled) */
        const float *x1 = advance(&t, hist, period, L, x, i + 1u, block_size);
        const float step0 = normalized ? (float)(mu / (eps + c0[0])) : mu;
        const float step1 = normalized ? (float)(mu / (eps + t.c[0])) : mu;
        float a0, a1;
        anc_update2_dot2_lag(w, x1, t.g[K], t.g[K - 1], keep, L, &a0, &a1);
        float p0 = keep_pow[K - 1] * a0;
        for (unsigned j = 2; j < K; ++j) {
            p0 += keep_pow[j - 1] * t.g[j - 1] * (float)c0[j];
        }
        float p1 = keep_pow[K] * a1;
        for (unsigned j = 2; j <= K; ++j) {
            p1 += keep_pow[j - 1] * t.g[j - 2] * (float)t.c[j];
        }
        const float y0 = p0 + t.g[0] * (float)c0[1];
        const float e0 = d[i] - y0;
        /* |y| <= ||w|| ||x_n||: a larger output means runaway weights (or NaN/Inf) */
        if (!isfinite(e0) || !(y0 * y0 <= bound2 * ((float)c0[0] + ANC_SILENCE_ENERGY))) {
            trip(s, &t, period, x, d, y, e, i, block_size);
            i += 1u;
            continue;
        }
        const float g0 = step0 * e0;
        const float y1 = p1 + g0 * (float)t.c[1];
        const float e1 = d[i + 1u] - y1;
        if (y != NULL) {
            y[i] = y0;
        }
        if (e != NULL) {
            e[i] = e0;
        }
        if (!isfinite(e1) || !(y1 * y1 <= bound2 * ((float)t.c[0] + ANC_SILENCE_ENERGY))) {
            trip(s, &t, period, x, d, y, e, i + 1u, block_size);
            i += 2u;
            continue;
        }
        for (unsigned j = K; j > 1; --j) {
            t.g[j] = t.g[j - 2];
        }
        t.g[1] = g0;
        t.g[0] = step1 * e1;
        if (y != NULL) {
            y[i + 1u] = y1;
        }
        if (e != NULL) {
            e[i + 1u] = e1;
        }
        i += 2u;
    }
    if (i < block_size) {
        /* the last sample of an odd block: one sample per pass, the update of sample
           n-1-K applied, a = w_{n-K}^T x_n */
        const float *xn = advance(&t, hist, period, L, x, i, block_size);
        const float step = normalized ? (float)(mu / (eps + t.c[0])) : mu;
        const float a = anc_update_dot(w, xn + K + 1u, t.g[K], keep, xn, L);
        float partial = keep_pow[K] * a;
        for (unsigned j = 2; j <= K; ++j) {
            partial += keep_pow[j - 1] * t.g[j - 1] * (float)t.c[j];
        }
        const float yn = partial + t.g[0] * (float)t.c[1];
        const float en = d[i] - yn;
        if (!isfinite(en) || !(yn * yn <= bound2 * ((float)t.c[0] + ANC_SILENCE_ENERGY))) {
            trip(s, &t, period, x, d, y, e, i, block_size);
        } else {
            for (unsigned j = K; j > 0; --j) {
                t.g[j] = t.g[j - 1];
            }
            t.g[0] = step * en;
            if (y != NULL) {
                y[i] = yn;
            }
            if (e != NULL) {
                e[i] = en;
            }
        }
    }
    s->pos = t.pos;
    s->energy = t.c[0];
    for (unsigned j = 1; j <= K; ++j) {
        s->cross[j - 1] = t.c[j];
    }
    memcpy(s->pending_gain, t.g, sizeof t.g);
    s->since_refresh = t.since_refresh;
    const float norm2 = anc_dot(s->weights, s->weights, L);
    if (!(norm2 <= s->max_weight_norm * s->max_weight_norm)) {
        guard_trip(s);
        for (uint32_t k = 0; k < block_size; ++k) {
            if (y != NULL) {
                y[k] = 0.0f;
            }
            if (e != NULL) {
                e[k] = isfinite(d[k]) ? d[k] : 0.0f;
            }
        }
    }
}

void anc_lms_weights_f32(const anc_lms_instance_f32 *s, float *out)
{
    /* after sample n: w holds w_{n-K}, pending_gain[j] = g_{n-j}, so
       w_{n+1} = keep^(K+1) w + sum_{j=0..K} keep^j g_{n-j} x_{n-j} */
    const float *xn = s->history + s->pos;
    for (uint32_t k = 0; k < s->num_taps; ++k) {
        float acc = s->weights[k];
        for (unsigned j = ANC_LMS_DELAY + 1u; j-- > 0;) {
            acc = s->keep * acc + s->pending_gain[j] * xn[k + j];
        }
        out[k] = acc;
    }
}

void anc_lms_set_weights_f32(anc_lms_instance_f32 *s, const float *w)
{
    /* the array holds w_{n-K}; the next K + 1 passes scale it by keep^(K+1) */
    float scale = 1.0f;
    for (unsigned j = 0; j <= ANC_LMS_DELAY; ++j) {
        scale *= s->keep;
    }
    for (uint32_t k = 0; k < s->num_taps; ++k) {
        s->weights[k] = w[k] / scale;
    }
    memset(s->pending_gain, 0, sizeof s->pending_gain);
}
