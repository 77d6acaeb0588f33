/*
 * LMS / NLMS (B. Widrow, M. E. Hoff, "Adaptive switching circuits", 1960; NLMS:
 * J. Nagumo, A. Noda, "A learning method for system identification", 1967).
 *
 * One pass over w per sample, with the update applied K = ANC_LMS_DELAY samples late so
 * that consecutive samples do not wait on each other. With g_m the update step of sample
 * m (w_{m+1} = keep w_m + g_m x_m), sample n does
 *   w   <- keep w + g_{n-1-K} x_{n-1-K}                  (now w = w_{n-K})
 *   a    = w^T x_n                                       (same pass as the update)
 *   y[n] = w_n^T x_n = keep^K a + sum_{j=1..K} keep^(j-1) g_{n-j} c_j(n)
 * with c_j(n) = x_{n-j}^T x_n. The c_j and ||x_n||^2 are running sums, recomputed exactly
 * every ANC_ENERGY_REFRESH samples. Only the g_{n-1} term waits for the previous sample's
 * error, so the passes of consecutive samples overlap in the CPU. The history ring has
 * period L+K+1+ANC_LOOKAHEAD so that x_n ... x_{n-1-K} are contiguous views of it while
 * the next ANC_LOOKAHEAD inputs are already written (see anc_kernels.h).
 */
#include "anc_lms.h"
#include "anc_kernels.h"

/* Recompute ||x_n||^2 exactly this often; the running update drifts by rounding. */
#define ANC_ENERGY_REFRESH 4096u
/* K; the instance keeps K + 1 pending steps (anc_lms_instance_f32.pending_gain[4]) */
#define ANC_LMS_DELAY 3u

uint32_t anc_lms_state_len_f32(uint32_t num_taps)
{
    return num_taps + 2u * (num_taps + ANC_LMS_DELAY + 1u + ANC_LOOKAHEAD);
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
    s->weights = state;
    s->history = state + num_taps;
    s->resets = 0;
    anc_lms_reset_f32(s);
    return ANC_OK;
}

void anc_lms_reset_f32(anc_lms_instance_f32 *s)
{
    memset(s->weights, 0, s->num_taps * sizeof(float));
    memset(s->history, 0, 2u * (s->num_taps + ANC_LMS_DELAY + 1u + ANC_LOOKAHEAD) * sizeof(float));
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

void anc_lms_f32(anc_lms_instance_f32 *s, const float *x, const float *d, float *y, float *e,
                 uint32_t block_size)
{
    enum { K = ANC_LMS_DELAY };
    const uint32_t L = s->num_taps;
    const uint32_t period = L + K + 1u + ANC_LOOKAHEAD;
    const float keep = s->keep;
    const float bound2 = s->max_weight_norm * s->max_weight_norm;
    float keep_pow[K + 1];
    keep_pow[0] = 1.0f;
    for (unsigned j = 1; j <= K; ++j) {
        keep_pow[j] = keep_pow[j - 1] * keep;
    }
    float *restrict w = s->weights;
    float *restrict hist = s->history;
    /* the loop state lives in locals so the compiler keeps it in registers;
       g[j] = g_{n-1-j} and c[j] = c_j(n) at sample n (c[0] = ||x_n||^2) */
    uint32_t pos = s->pos;
    double c[K + 1];
    float g[K + 1];
    c[0] = s->energy;
    for (unsigned j = 1; j <= K; ++j) {
        c[j] = s->cross[j - 1];
    }
    memcpy(g, s->pending_gain, sizeof g);
    uint32_t since_refresh = s->since_refresh;
    for (uint32_t m = 0; m < ANC_LOOKAHEAD && m < block_size; ++m) {
        anc_ring_write(hist, period, anc_ring_ahead(pos, period, m + 1u), x[m]);
    }
    for (uint32_t i = 0; i < block_size; ++i) {
        pos = anc_ring_ahead(pos, period, 1u);
        if (i + ANC_LOOKAHEAD < block_size) {
            anc_ring_write(hist, period, anc_ring_ahead(pos, period, ANC_LOOKAHEAD),
                           x[i + ANC_LOOKAHEAD]);
        }
        const float *xn = hist + pos;
        /* x[n-L-j] leaves the L-sample window of x_{n-j}; double running sums, so that
           a quiet passage after a loud one keeps an accurate ||x_n||^2 */
        const double newest = xn[0];
        const double leaving = xn[L];
        for (unsigned j = 0; j <= K; ++j) {
            c[j] += newest * xn[j] - leaving * xn[L + j];
        }
        if (++since_refresh >= ANC_ENERGY_REFRESH) {
            for (unsigned j = 0; j <= K; ++j) {
                c[j] = anc_dot(xn, xn + j, L);
            }
            since_refresh = 0;
        }
        if (c[0] < 0.0) {
            c[0] = 0.0;
        }
        const float step = s->normalized ? (float)(s->mu / (s->eps + c[0])) : s->mu;
        const float a = anc_update_dot(w, xn + K + 1u, g[K], keep, xn, L);
        float partial = keep_pow[K] * a;
        for (unsigned j = 2; j <= K; ++j) {
            partial += keep_pow[j - 1] * g[j - 1] * (float)c[j];
        }
        const float yn = partial + g[0] * (float)c[1];   /* the only term on the chain */
        const float en = d[i] - yn;
        /* |y| <= ||w|| ||x_n||: a larger output means runaway weights (or NaN/Inf) */
        if (!isfinite(en) || !(yn * yn <= bound2 * ((float)c[0] + ANC_SILENCE_ENERGY))) {
            guard_trip(s);
            pos = 0;
            memset(c, 0, sizeof c);
            memset(g, 0, sizeof g);
            since_refresh = 0;
            /* the reset cleared the inputs already written ahead */
            for (uint32_t m = 1; m <= ANC_LOOKAHEAD && i + m < block_size; ++m) {
                anc_ring_write(hist, period, anc_ring_ahead(pos, period, m), x[i + m]);
            }
            if (y != NULL) {
                y[i] = 0.0f;
            }
            if (e != NULL) {
                e[i] = isfinite(d[i]) ? d[i] : 0.0f;
            }
            continue;
        }
        for (unsigned j = K; j > 0; --j) {
            g[j] = g[j - 1];
        }
        g[0] = step * en;
        if (y != NULL) {
            y[i] = yn;
        }
        if (e != NULL) {
            e[i] = en;
        }
    }
    s->pos = pos;
    s->energy = c[0];
    for (unsigned j = 1; j <= K; ++j) {
        s->cross[j - 1] = c[j];
    }
    memcpy(s->pending_gain, g, sizeof g);
    s->since_refresh = since_refresh;
    const float norm2 = anc_dot(s->weights, s->weights, L);
    if (!(norm2 <= s->max_weight_norm * s->max_weight_norm)) {
        guard_trip(s);
        for (uint32_t i = 0; i < block_size; ++i) {
            if (y != NULL) {
                y[i] = 0.0f;
            }
            if (e != NULL) {
                e[i] = isfinite(d[i]) ? d[i] : 0.0f;
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
