/*
 * ctest.h - the few checks the C unit tests need (no framework).
 *
 * Each test_*.c is one program: CHECK records a failure and carries on, main returns
 * ctest_result() (0 only if every check passed). Signals come from a seeded generator, so
 * every run sees the same numbers.
 */
#ifndef ANC_CTEST_H
#define ANC_CTEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ctest_failures;
static int ctest_checks;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        ctest_checks++;                                                              \
        if (!(cond)) {                                                               \
            ctest_failures++;                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

/* CHECK with the two numbers compared, for bounds on measured values. */
#define CHECK_LT(a, b)                                                                   \
    do {                                                                                 \
        const double ctest_a = (a), ctest_b = (b);                                       \
        ctest_checks++;                                                                  \
        if (!(ctest_a < ctest_b)) {                                                      \
            ctest_failures++;                                                            \
            fprintf(stderr, "%s:%d: check failed: %s < %s (%g vs %g)\n", __FILE__,       \
                    __LINE__, #a, #b, ctest_a, ctest_b);                                 \
        }                                                                                \
    } while (0)

static inline int ctest_result(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, ctest_checks, ctest_failures);
    return ctest_failures == 0 ? 0 : 1;
}

/* xorshift64* uniform in [-1, 1), and a unit-variance Gaussian (Box-Muller). */
static uint64_t ctest_rng_state = 0x9E3779B97F4A7C15ull;

static inline void ctest_seed(uint64_t seed)
{
    ctest_rng_state = seed ? seed : 1u;
}

static inline double ctest_uniform(void)
{
    ctest_rng_state ^= ctest_rng_state >> 12;
    ctest_rng_state ^= ctest_rng_state << 25;
    ctest_rng_state ^= ctest_rng_state >> 27;
    const uint64_t r = ctest_rng_state * 0x2545F4914F6CDD1Dull;
    return (double)(r >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static inline double ctest_gauss(void)
{
    const double two_pi = 6.283185307179586;
    double u = 0.5 * (ctest_uniform() + 1.0);
    if (u < 1e-300) {
        u = 1e-300;
    }
    return sqrt(-2.0 * log(u)) * cos(two_pi * 0.5 * (ctest_uniform() + 1.0));
}

static inline void ctest_white(float *x, uint32_t n, double scale)
{
    for (uint32_t i = 0; i < n; ++i) {
        x[i] = (float)(scale * ctest_gauss());
    }
}

/* A decaying random FIR, like an acoustic path. */
static inline void ctest_decaying_fir(float *h, uint32_t taps, double decay)
{
    for (uint32_t k = 0; k < taps; ++k) {
        h[k] = (float)(ctest_gauss() * exp(-(double)k / decay));
    }
}

/* y = h * x in double (direct convolution, zero initial state). */
static inline void ctest_convolve(const float *h, uint32_t taps, const float *x, uint32_t n, double *y)
{
    for (uint32_t i = 0; i < n; ++i) {
        double acc = 0.0;
        for (uint32_t k = 0; k < taps && k <= i; ++k) {
            acc += (double)h[k] * x[i - k];
        }
        y[i] = acc;
    }
}

/* 10 log10(||w - h||^2 / ||h||^2) */
static inline double ctest_misalignment_db(const float *w, const float *h, uint32_t taps)
{
    double num = 0.0, den = 0.0;
    for (uint32_t k = 0; k < taps; ++k) {
        num += ((double)w[k] - h[k]) * ((double)w[k] - h[k]);
        den += (double)h[k] * h[k];
    }
    return 10.0 * log10(num / den);
}

static inline float *ctest_floats(uint32_t n)
{
    float *p = calloc(n, sizeof(float));
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static inline double *ctest_doubles(uint32_t n)
{
    double *p = calloc(n, sizeof(double));
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

#endif
