/* Every init validates its arguments and returns the documented anc_status. */
#include "anc_biquad.h"
#include "anc_blocks.h"
#include "anc_fastpath.h"
#include "anc_features.h"
#include "anc_fir.h"
#include "anc_fxlms.h"
#include "anc_limiter.h"
#include "anc_lms.h"
#include "anc_plant.h"
#include "anc_rls.h"
#include "ctest.h"

static float state[1 << 16];

static void lms(void)
{
    anc_lms_instance_f32 s;
    const uint32_t len = anc_lms_state_len_f32(16);
    CHECK(anc_lms_init_f32(NULL, 16, 1, 0.5f, 1e-6f, 0.0f, 1e3f, state, len) == ANC_ERR_NULL);
    CHECK(anc_lms_init_f32(&s, 16, 1, 0.5f, 1e-6f, 0.0f, 1e3f, NULL, len) == ANC_ERR_NULL);
    CHECK(anc_lms_init_f32(&s, 0, 1, 0.5f, 1e-6f, 0.0f, 1e3f, state, len) == ANC_ERR_TAPS);
    CHECK(anc_lms_init_f32(&s, 16, 1, 0.5f, 1e-6f, 0.0f, 1e3f, state, len - 1) ==
          ANC_ERR_STATE_LEN);
    CHECK(anc_lms_init_f32(&s, 16, 1, 0.0f, 1e-6f, 0.0f, 1e3f, state, len) == ANC_ERR_STEP);
    CHECK(anc_lms_init_f32(&s, 16, 1, -1.0f, 1e-6f, 0.0f, 1e3f, state, len) == ANC_ERR_STEP);
    CHECK(anc_lms_init_f32(&s, 16, 1, NAN, 1e-6f, 0.0f, 1e3f, state, len) == ANC_ERR_STEP);
    CHECK(anc_lms_init_f32(&s, 16, 1, 0.5f, -1.0f, 0.0f, 1e3f, state, len) == ANC_ERR_PARAM);
    CHECK(anc_lms_init_f32(&s, 16, 1, 0.5f, INFINITY, 0.0f, 1e3f, state, len) ==
          ANC_ERR_PARAM);
    CHECK(anc_lms_init_f32(&s, 16, 1, 0.5f, 1e-6f, 1.0f, 1e3f, state, len) == ANC_ERR_PARAM);
    CHECK(anc_lms_init_f32(&s, 16, 1, 0.5f, 1e-6f, 0.0f, 0.0f, state, len) == ANC_ERR_PARAM);
    CHECK(anc_lms_init_f32(&s, 16, 1, 0.5f, 1e-6f, 0.0f, 1e3f, state, len) == ANC_OK);
}

static void rls(void)
{
    anc_rls_instance_f32 s;
    const uint32_t len = anc_rls_state_len_f32(8);
    CHECK(anc_rls_init_f32(NULL, 8, 0.999f, 0.01f, 1e3f, state, len) == ANC_ERR_NULL);
    CHECK(anc_rls_init_f32(&s, 0, 0.999f, 0.01f, 1e3f, state, len) == ANC_ERR_TAPS);
    CHECK(anc_rls_init_f32(&s, 5000, 0.999f, 0.01f, 1e3f, state, 1u << 16) == ANC_ERR_TAPS);
    CHECK(anc_rls_init_f32(&s, 8, 0.999f, 0.01f, 1e3f, state, len - 1) == ANC_ERR_STATE_LEN);
    CHECK(anc_rls_init_f32(&s, 8, 0.0f, 0.01f, 1e3f, state, len) == ANC_ERR_PARAM);
    CHECK(anc_rls_init_f32(&s, 8, 1.5f, 0.01f, 1e3f, state, len) == ANC_ERR_PARAM);
    CHECK(anc_rls_init_f32(&s, 8, 0.999f, 0.0f, 1e3f, state, len) == ANC_ERR_PARAM);
    CHECK(anc_rls_init_f32(&s, 8, 0.999f, NAN, 1e3f, state, len) == ANC_ERR_PARAM);
    CHECK(anc_rls_init_f32(&s, 8, 0.999f, 0.01f, 1e3f, state, len) == ANC_OK);
}

static void fxlms(void)
{
    anc_fxlms_instance_f32 s;
    anc_fxlms_config_f32 cfg;
    const float sec[3] = {0.0f, 0.5f, 0.25f};
    const float bad_sec[2] = {0.0f, NAN};
    anc_fxlms_default_config_f32(&cfg);
    const uint32_t len = anc_fxlms_state_len_f32(16, 3, NULL);
    CHECK(anc_fxlms_init_f32(&s, 16, NULL, 3, &cfg, state, len) == ANC_ERR_NULL);
    CHECK(anc_fxlms_init_f32(&s, 16, sec, 3, NULL, state, len) == ANC_ERR_NULL);
    CHECK(anc_fxlms_init_f32(&s, 0, sec, 3, &cfg, state, len) == ANC_ERR_TAPS);
    CHECK(anc_fxlms_init_f32(&s, 16, sec, 0, &cfg, state, len) == ANC_ERR_TAPS);
    CHECK(anc_fxlms_init_f32(&s, 16, sec, 3, &cfg, state, len - 1) == ANC_ERR_STATE_LEN);
    CHECK(anc_fxlms_init_f32(&s, 16, bad_sec, 2, &cfg, state, len) == ANC_ERR_COEFFS);
    cfg.mu = 0.0f;
    CHECK(anc_fxlms_init_f32(&s, 16, sec, 3, &cfg, state, len) == ANC_ERR_STEP);
    anc_fxlms_default_config_f32(&cfg);
    cfg.leak = 1.0f;
    CHECK(anc_fxlms_init_f32(&s, 16, sec, 3, &cfg, state, len) == ANC_ERR_PARAM);
    anc_fxlms_default_config_f32(&cfg);
    cfg.max_ear_gain = 0.5f;  /* a guard that trips while ANC makes the ear quieter */
    CHECK(anc_fxlms_init_f32(&s, 16, sec, 3, &cfg, state, len) == ANC_ERR_PARAM);
    cfg.max_ear_gain = NAN;
    CHECK(anc_fxlms_init_f32(&s, 16, sec, 3, &cfg, state, len) == ANC_ERR_PARAM);
    cfg.max_ear_gain = 0.0f;  /* off */
    CHECK(anc_fxlms_init_f32(&s, 16, sec, 3, &cfg, state, len) == ANC_OK);
    anc_fxlms_default_config_f32(&cfg);
    cfg.algorithm = (anc_fx_algorithm)7;
    CHECK(anc_fxlms_init_f32(&s, 16, sec, 3, &cfg, state, len) == ANC_ERR_PARAM);
    anc_fxlms_default_config_f32(&cfg);
    cfg.algorithm = ANC_FX_HYBRID;
    cfg.hybrid_taps = 17;  /* more than the controller has */
    CHECK(anc_fxlms_init_f32(&s, 16, sec, 3, &cfg, state, 1u << 16) == ANC_ERR_PARAM);
    cfg.hybrid_taps = 8;
    CHECK(anc_fxlms_init_f32(&s, 16, sec, 3, &cfg, state, len) == ANC_ERR_STATE_LEN);
    CHECK(anc_fxlms_init_f32(&s, 16, sec, 3, &cfg, state, anc_fxlms_state_len_f32(16, 3, &cfg)) ==
          ANC_OK);
    /* the least-squares start: its sums and factor need state, its settings are checked */
    const uint32_t with_lsq = anc_fxlms_state_len_f32(16, 3, &cfg);
    cfg.lsq_samples = 0;
    CHECK(anc_fxlms_state_len_f32(16, 3, &cfg) < with_lsq);
    CHECK(anc_fxlms_init_f32(&s, 16, sec, 3, &cfg, state, anc_fxlms_state_len_f32(16, 3, &cfg)) ==
          ANC_OK);
    cfg.lsq_samples = 100;
    CHECK(anc_fxlms_init_f32(&s, 16, sec, 3, &cfg, state, with_lsq - 1) == ANC_ERR_STATE_LEN);
    cfg.lsq_rounds = 0;
    CHECK(anc_fxlms_init_f32(&s, 16, sec, 3, &cfg, state, with_lsq) == ANC_ERR_PARAM);
    cfg.lsq_rounds = 33;
    CHECK(anc_fxlms_init_f32(&s, 16, sec, 3, &cfg, state, with_lsq) == ANC_ERR_PARAM);
    cfg.lsq_rounds = 2;
    cfg.lsq_ridge = -1e-3f;
    CHECK(anc_fxlms_init_f32(&s, 16, sec, 3, &cfg, state, with_lsq) == ANC_ERR_PARAM);
    cfg.lsq_ridge = NAN;
    CHECK(anc_fxlms_init_f32(&s, 16, sec, 3, &cfg, state, with_lsq) == ANC_ERR_PARAM);
    cfg.lsq_ridge = 0.0f;
    CHECK(anc_fxlms_init_f32(&s, 16, sec, 3, &cfg, state, with_lsq) == ANC_OK);
    anc_fxlms_default_config_f32(&cfg);
    CHECK(anc_fxlms_init_f32(&s, 16, sec, 3, &cfg, state, len) == ANC_OK);
}

static void fixed_filters(void)
{
    anc_fir_instance_f32 fir;
    const float h[3] = {1.0f, 0.5f, 0.25f};
    const float bad_h[2] = {1.0f, INFINITY};
    CHECK(anc_fir_init_f32(&fir, 3, NULL, state, 6) == ANC_ERR_NULL);
    CHECK(anc_fir_init_f32(&fir, 0, h, state, 6) == ANC_ERR_TAPS);
    CHECK(anc_fir_init_f32(&fir, 3, h, state, 5) == ANC_ERR_STATE_LEN);
    CHECK(anc_fir_init_f32(&fir, 2, bad_h, state, 6) == ANC_ERR_COEFFS);
    CHECK(anc_fir_init_f32(&fir, 3, h, state, anc_fir_state_len_f32(3)) == ANC_OK);

    anc_biquad_instance_f32 bq;
    const float sos[6] = {1.0f, 0.0f, 0.0f, 1.0f, -0.5f, 0.0f};
    const float zero_a0[6] = {1.0f, 0.0f, 0.0f, 0.0f, -0.5f, 0.0f};
    const float nan_b[6] = {NAN, 0.0f, 0.0f, 1.0f, -0.5f, 0.0f};
    const uint32_t len = anc_biquad_state_len_f32(1);
    CHECK(anc_biquad_init_f32(&bq, 1, NULL, state, len) == ANC_ERR_NULL);
    CHECK(anc_biquad_init_f32(&bq, 0, sos, state, len) == ANC_ERR_TAPS);
    CHECK(anc_biquad_init_f32(&bq, 1, sos, state, len - 1) == ANC_ERR_STATE_LEN);
    CHECK(anc_biquad_init_f32(&bq, 1, zero_a0, state, len) == ANC_ERR_COEFFS);
    CHECK(anc_biquad_init_f32(&bq, 1, nan_b, state, len) == ANC_ERR_COEFFS);
    CHECK(anc_biquad_init_f32(&bq, 1, sos, state, len) == ANC_OK);

    anc_limiter_instance_f32 lim;
    CHECK(anc_limiter_init_f32(NULL, 1.0f, 480.0f) == ANC_ERR_NULL);
    CHECK(anc_limiter_init_f32(&lim, 0.0f, 480.0f) == ANC_ERR_PARAM);
    CHECK(anc_limiter_init_f32(&lim, NAN, 480.0f) == ANC_ERR_PARAM);
    CHECK(anc_limiter_init_f32(&lim, 1.0f, 0.5f) == ANC_ERR_PARAM);
    CHECK(anc_limiter_init_f32(&lim, 1.0f, 480.0f) == ANC_OK);

    anc_fastpath_instance_f32 fp;
    CHECK(anc_fastpath_init_f32(&fp, 0, 32, state, 64) == ANC_ERR_TAPS);
    CHECK(anc_fastpath_init_f32(&fp, 16, 32, state, anc_fastpath_state_len_f32(16) - 1) ==
          ANC_ERR_STATE_LEN);
    CHECK(anc_fastpath_init_f32(&fp, 16, 32, state, anc_fastpath_state_len_f32(16)) == ANC_OK);

    anc_features_instance_f32 ft;
    const uint32_t flen = anc_features_state_len_f32(8192);
    CHECK(anc_features_init_f32(NULL, 48000.0f, 8192, 4800, 50.0f, 16000.0f, state, flen) ==
          ANC_ERR_NULL);
    CHECK(anc_features_init_f32(&ft, 48000.0f, 8000, 4800, 50.0f, 16000.0f, state, flen) !=
          ANC_OK);  /* not a power of two */
    CHECK(anc_features_init_f32(&ft, 48000.0f, 1024, 512, 50.0f, 16000.0f, state, flen) ==
          ANC_ERR_PARAM);  /* the 63 Hz band holds no bin at 46.9 Hz resolution */
    CHECK(anc_features_init_f32(&ft, 48000.0f, 8192, 4800, 50.0f, 16000.0f, state, flen - 1) ==
          ANC_ERR_STATE_LEN);
    CHECK(anc_features_init_f32(&ft, 48000.0f, 8192, 4800, 50.0f, 16000.0f, state, flen) ==
          ANC_OK);
}

static void block_loops(void)
{
    anc_lms_instance_f32 s;
    float x[4] = {0}, y[4];
    CHECK(anc_lms_init_f32(&s, 4, 1, 0.5f, 1e-6f, 0.0f, 1e3f, state, anc_lms_state_len_f32(4)) ==
          ANC_OK);
    CHECK(anc_lms_blocks_f32(&s, x, x, y, y, 4, 0) == ANC_ERR_TAPS);
    CHECK(anc_lms_blocks_f32(&s, x, x, y, NULL, 4, 3) == ANC_OK);

    /* a bound block is the same call: equal outputs from two equal instances */
    float *state2 = state + 4096;
    anc_lms_instance_f32 s2;
    const float xs[4] = {1.0f, -0.5f, 0.25f, 2.0f}, ds[4] = {0.5f, 1.0f, -1.0f, 0.0f};
    float y2[4], e1[4], e2[4];
    CHECK(anc_lms_init_f32(&s, 4, 1, 0.5f, 1e-6f, 0.0f, 1e3f, state, anc_lms_state_len_f32(4)) ==
          ANC_OK);
    CHECK(anc_lms_state_len_f32(4) <= 4096);
    CHECK(anc_lms_init_f32(&s2, 4, 1, 0.5f, 1e-6f, 0.0f, 1e3f, state2,
                           anc_lms_state_len_f32(4)) == ANC_OK);
    const anc_lms_bound_f32 b = {&s2, {xs, ds, y2, e2, 4}};
    for (int pass = 0; pass < 3; ++pass) {
        anc_lms_f32(&s, xs, ds, y, e1, 4);
        anc_lms_run_bound_f32(&b);
        CHECK(memcmp(y, y2, sizeof y) == 0 && memcmp(e1, e2, sizeof e1) == 0);
    }
    CHECK(e1[3] != ds[3]);  /* it adapted: the last pass predicted something */
}

static void strerror_texts(void)
{
    const int codes[] = {ANC_OK, ANC_ERR_NULL, ANC_ERR_TAPS, ANC_ERR_STEP, ANC_ERR_PARAM,
                         ANC_ERR_STATE_LEN, ANC_ERR_COEFFS};
    const int n = (int)(sizeof codes / sizeof codes[0]);
    for (int i = 0; i < n; ++i) {
        CHECK(anc_strerror(codes[i]) != NULL);
        for (int j = 0; j < i; ++j) {
            CHECK(strcmp(anc_strerror(codes[i]), anc_strerror(codes[j])) != 0);
        }
    }
    CHECK(strcmp(anc_strerror(-99), "unknown status") == 0);
}

int main(void)
{
    lms();
    rls();
    fxlms();
    fixed_filters();
    block_loops();
    strerror_texts();
    return ctest_result("test_init");
}
