/* FIR against direct convolution and the biquad cascade against its difference equation,
   both evaluated in double, with float32 SNR floors; chunked calls equal one call. */
#include "anc_biquad.h"
#include "anc_fir.h"
#include "ctest.h"

#define N 8000u
#define TAPS 63u

static double snr_db(const double *ref, const float *y, uint32_t n)
{
    double sig = 0.0, err = 0.0;
    for (uint32_t i = 0; i < n; ++i) {
        sig += ref[i] * ref[i];
        err += (y[i] - ref[i]) * (y[i] - ref[i]);
    }
    return 10.0 * log10(sig / (err > 1e-300 ? err : 1e-300));
}

static void fir(void)
{
    float h[TAPS];
    float *x = ctest_floats(N), *y = ctest_floats(N), *y2 = ctest_floats(N);
    double *ref = ctest_doubles(N);
    ctest_decaying_fir(h, TAPS, 15.0);
    ctest_white(x, N, 1.0);
    ctest_convolve(h, TAPS, x, N, ref);

    float state[2 * TAPS];
    anc_fir_instance_f32 s;
    CHECK(anc_fir_init_f32(&s, TAPS, h, state, 2 * TAPS) == ANC_OK);
    anc_fir_f32(&s, x, y, N);
    CHECK_LT(110.0, snr_db(ref, y, N));

    /* the same signal in uneven chunks gives bit-identical output */
    anc_fir_reset_f32(&s);
    const uint32_t cuts[] = {0, 1, 2, 64, 65, 1000, N};
    for (unsigned c = 0; c + 1 < sizeof cuts / sizeof cuts[0]; ++c) {
        anc_fir_f32(&s, x + cuts[c], y2 + cuts[c], cuts[c + 1] - cuts[c]);
    }
    CHECK(memcmp(y, y2, N * sizeof(float)) == 0);
    free(x);
    free(y);
    free(y2);
    free(ref);
}

/* Direct form I in double: y = (b0 x + b1 x1 + b2 x2 - a1 y1 - a2 y2) / a0 per section. */
static void biquad_reference(const float *sos, uint32_t sections, const float *x, uint32_t n,
                             double *out)
{
    double st[8][4] = {{0.0}};
    for (uint32_t i = 0; i < n; ++i) {
        double v = x[i];
        for (uint32_t k = 0; k < sections; ++k) {
            const float *c = sos + 6u * k;
            const double y = (c[0] * v + c[1] * st[k][0] + c[2] * st[k][1] - c[4] * st[k][2] -
                              c[5] * st[k][3]) / c[3];
            st[k][1] = st[k][0];
            st[k][0] = v;
            st[k][3] = st[k][2];
            st[k][2] = y;
            v = y;
        }
        out[i] = v;
    }
}

static void biquad(void)
{
    /* 4th-order Butterworth low-pass at 0.1 fs/2 (scipy.signal.butter(4, 0.1, output="sos")),
       the second section scaled by 3 to check the normalization by a0 */
    const float sos[12] = {
        4.16599204e-04f, 8.33198409e-04f, 4.16599204e-04f, 1.0f, -1.47967422e+00f,
        5.55821543e-01f,
        3.0f, 6.0f, 3.0f, 3.0f, -5.10289300e+00f, 2.36549922e+00f,
    };
    float *x = ctest_floats(N), *y = ctest_floats(N), *y2 = ctest_floats(N);
    double *ref = ctest_doubles(N);
    ctest_white(x, N, 1.0);
    biquad_reference(sos, 2, x, N, ref);

    float state[14];
    anc_biquad_instance_f32 s;
    CHECK(anc_biquad_state_len_f32(2) == 14u);
    CHECK(anc_biquad_init_f32(&s, 2, sos, state, 14) == ANC_OK);
    anc_biquad_f32(&s, x, y, N);
    CHECK_LT(80.0, snr_db(ref, y, N));

    anc_biquad_reset_f32(&s);
    anc_biquad_f32(&s, x, y2, 777);
    anc_biquad_f32(&s, x + 777, y2 + 777, N - 777);
    CHECK(memcmp(y, y2, N * sizeof(float)) == 0);
    free(x);
    free(y);
    free(y2);
    free(ref);
}

int main(void)
{
    ctest_seed(1);
    fir();
    biquad();
    return ctest_result("test_fixed_filters");
}
