/* Divergence guard: NaN/Inf in the signals reset the filter, are counted, never reach the
   output, and the filter recovers. Limiter: |y| <= peak for any input. */
#include "anc_fxlms.h"
#include "anc_limiter.h"
#include "anc_lms.h"
#include "ctest.h"

static int all_finite(const float *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; ++i) {
        if (!isfinite(v[i])) {
            return 0;
        }
    }
    return 1;
}

static void nlms_guard(void)
{
    enum { TAPS = 32, N = 30000 };
    float h[TAPS], w[TAPS];
    float *x = ctest_floats(N), *d = ctest_floats(N), *y = ctest_floats(N), *e = ctest_floats(N);
    double *ref = ctest_doubles(N);
    ctest_decaying_fir(h, TAPS, 8.0);
    ctest_white(x, N, 1.0);
    ctest_convolve(h, TAPS, x, N, ref);
    for (uint32_t i = 0; i < N; ++i) {
        d[i] = (float)ref[i];
    }
    x[5000] = NAN;
    d[12000] = INFINITY;
    const uint32_t len = anc_lms_state_len_f32(TAPS);
    float *state = ctest_floats(len);
    anc_lms_instance_f32 s;
    CHECK(anc_lms_init_f32(&s, TAPS, 1, 0.5f, 1e-6f, 0.0f, 1e3f, state, len) == ANC_OK);
    anc_lms_f32(&s, x, d, y, e, N);
    CHECK(s.resets == 2);
    CHECK(all_finite(y, N) && all_finite(e, N));
    CHECK(y[5000] == 0.0f && y[12000] == 0.0f);
    anc_lms_weights_f32(&s, w);
    CHECK_LT(ctest_misalignment_db(w, h, TAPS), -40.0);  /* re-converged */
    free(x);
    free(d);
    free(y);
    free(e);
    free(ref);
    free(state);
}

/* FxLMS in a closed loop coded here: e[n] = d[n] + (S * y)[n], S = 0.9 z^-2. */
static void fxlms_guard(void)
{
    enum { TAPS = 16, N = 48000 };
    const float s_hat[3] = {0.0f, 0.0f, 0.9f};
    anc_fxlms_config_f32 cfg;
    anc_fxlms_default_config_f32(&cfg);
    cfg.mu = 0.05f;
    const uint32_t len = anc_fxlms_state_len_f32(TAPS, 3, &cfg);
    float *state = ctest_floats(len);
    anc_fxlms_instance_f32 c;
    CHECK(anc_fxlms_init_f32(&c, TAPS, s_hat, 3, &cfg, state, len) == ANC_OK);
    float *x = ctest_floats(N), *y = ctest_floats(N), *e = ctest_floats(N);
    double *noise = ctest_doubles(N);
    ctest_white(x, N, 1.0);
    /* the noise at the ear: x through a short path with 4 samples of lead */
    const float p[6] = {0.0f, 0.0f, 0.0f, 0.0f, 0.7f, -0.3f};
    ctest_convolve(p, 6, x, N, noise);
    x[9000] = NAN;
    double after = 0.0, d_tail = 0.0;
    /* sample by sample: e[n] is measured while y[n] is being played */
    for (uint32_t i = 0; i < N; ++i) {
        const float y2 = i >= 2 ? y[i - 2] : 0.0f;
        e[i] = (float)(noise[i] + 0.9 * y2);
        anc_fxlms_f32(&c, x + i, e + i, y + i, 1);
    }
    for (uint32_t i = N - 8000; i < N; ++i) {
        after += (double)e[i] * e[i];
        d_tail += noise[i] * noise[i];
    }
    CHECK(c.resets == 1);
    CHECK(y[9000] == 0.0f);
    CHECK(all_finite(y, N) && all_finite(e, N));
    CHECK_LT(10.0 * log10(after / d_tail), -30.0);  /* it cancels again after the reset */
    free(state);
    free(x);
    free(y);
    free(e);
    free(noise);
}

static void limiter(void)
{
    enum { N = 50000 };
    const float peak = 0.25f;
    anc_limiter_instance_f32 s;
    CHECK(anc_limiter_init_f32(&s, peak, 480.0f) == ANC_OK);
    float *x = ctest_floats(N), *y = ctest_floats(N);
    for (uint32_t i = 0; i < N; ++i) {
        const double level = 0.01 + 20.0 * (0.5 + 0.5 * ctest_uniform());
        x[i] = (float)(level * ctest_gauss());
    }
    x[100] = 1e30f;
    x[200] = INFINITY;
    x[300] = NAN;
    anc_limiter_f32(&s, x, y, N);
    float worst = 0.0f;
    for (uint32_t i = 0; i < N; ++i) {
        worst = fmaxf(worst, fabsf(y[i]));
    }
    CHECK(worst <= peak);
    CHECK(all_finite(y, N));
    CHECK(s.blocked == 2);
    CHECK(y[200] == 0.0f && y[300] == 0.0f);

    /* a signal below the peak passes unchanged once the gain has recovered */
    anc_limiter_reset_f32(&s);
    float small[64], out[64];
    for (int i = 0; i < 64; ++i) {
        small[i] = 0.2f * (float)ctest_uniform();
    }
    anc_limiter_f32(&s, small, out, 64);
    CHECK(memcmp(small, out, sizeof small) == 0);
    free(x);
    free(y);
}

int main(void)
{
    ctest_seed(3);
    nlms_guard();
    fxlms_guard();
    limiter();
    return ctest_result("test_guard_limiter");
}
