/* NLMS, LMS and RLS identify a known FIR; RLS keeps P exactly symmetric. */
#include "anc_lms.h"
#include "anc_rls.h"
#include "anc_rls_core.h"
#include "ctest.h"

static void identify_nlms(uint32_t taps, int normalized, float mu, uint32_t n, double bar_db)
{
    float *h = ctest_floats(taps), *x = ctest_floats(n), *d = ctest_floats(n);
    float *y = ctest_floats(n), *e = ctest_floats(n), *w = ctest_floats(taps);
    double *ref = ctest_doubles(n);
    ctest_decaying_fir(h, taps, taps / 4.0);
    ctest_white(x, n, 1.0);
    ctest_convolve(h, taps, x, n, ref);
    for (uint32_t i = 0; i < n; ++i) {
        d[i] = (float)(ref[i] + 1e-3 * ctest_gauss());
    }
    const uint32_t len = anc_lms_state_len_f32(taps);
    float *state = ctest_floats(len);
    anc_lms_instance_f32 s;
    CHECK(anc_lms_init_f32(&s, taps, normalized, mu, 1e-6f, 0.0f, 1e3f, state, len) == ANC_OK);
    /* blocks of 32, as the real-time path runs it */
    for (uint32_t k = 0; k < n; k += 32) {
        anc_lms_f32(&s, x + k, d + k, y + k, e + k, n - k < 32 ? n - k : 32);
    }
    anc_lms_weights_f32(&s, w);
    CHECK_LT(ctest_misalignment_db(w, h, taps), bar_db);
    int e_ok = 1;
    for (uint32_t i = 0; i < n; ++i) {
        e_ok &= fabsf(e[i] - (d[i] - y[i])) <= 1e-6f * (1.0f + fabsf(d[i]));
    }
    CHECK(e_ok);
    CHECK(s.resets == 0);
    free(h);
    free(x);
    free(d);
    free(y);
    free(e);
    free(w);
    free(ref);
    free(state);
}

static void identify_rls(void)
{
    enum { TAPS = 64, N = 20000 };
    float h[TAPS];
    float *x = ctest_floats(N), *d = ctest_floats(N);
    double *ref = ctest_doubles(N);
    ctest_decaying_fir(h, TAPS, 16.0);
    ctest_white(x, N, 1.0);
    ctest_convolve(h, TAPS, x, N, ref);
    for (uint32_t i = 0; i < N; ++i) {
        d[i] = (float)(ref[i] + 1e-3 * ctest_gauss());
    }
    const uint32_t len = anc_rls_state_len_f32(TAPS);
    float *state = ctest_floats(len);
    anc_rls_instance_f32 s;
    CHECK(anc_rls_init_f32(&s, TAPS, 0.999f, 0.01f, 1e3f, state, len) == ANC_OK);
    anc_rls_f32(&s, x, d, NULL, NULL, N);
    CHECK_LT(ctest_misalignment_db(s.weights, h, TAPS), -40.0);
    int symmetric = 1;
    for (uint32_t i = 0; i < TAPS; ++i) {
        for (uint32_t j = 0; j < i; ++j) {
            symmetric &= s.p[i * TAPS + j] == s.p[j * TAPS + i];
        }
    }
    CHECK(symmetric);
    CHECK(s.resets == 0 && s.p_resets == 0);
    free(x);
    free(d);
    free(ref);
    free(state);
}

/* The shared symmetric step refuses a non-positive denominator and leaves P alone. */
static void rls_step_rejects_indefinite_p(void)
{
    float p[4] = {-1.0f, 0.0f, 0.0f, -1.0f};
    float pi[2], v[2] = {1.0f, 1.0f};
    CHECK(anc_rls_step(p, pi, v, 0.5f, 2, pi) == 0);
    CHECK(p[0] == -1.0f && p[1] == 0.0f && p[3] == -1.0f);
}

int main(void)
{
    ctest_seed(2);
    identify_nlms(256, 1, 0.5f, 48000, -40.0);
    identify_nlms(64, 0, 0.005f, 48000, -40.0);
    identify_rls();
    rls_step_rejects_indefinite_p();
    return ctest_result("test_adaptive");
}
