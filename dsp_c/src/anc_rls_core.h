/*
 * anc_rls_core.h - private: the symmetric RLS step shared by RLS and the hybrid FxRLS.
 *
 * Given P (n x n, symmetric) and a regressor v, computes the gain k = P v / (lam + v^T P v)
 * into k and updates P <- (P - k v^T P) / lam as P <- (P - u u^T) / lam with
 * u = P v / sqrt(lam + v^T P v). Every P[i][j] and P[j][i] is computed by the same
 * operations on the same operands, so P stays bit-exactly symmetric.
 * Returns 0 when the denominator is not positive and finite (P is then left unchanged).
 */
#ifndef ANC_RLS_CORE_H
#define ANC_RLS_CORE_H

#include "anc_kernels.h"

static inline void anc_rls_identity(float *p, uint32_t n, float diag)
{
    memset(p, 0, (size_t)n * n * sizeof(float));
    for (uint32_t i = 0; i < n; ++i) {
        p[(size_t)i * n + i] = diag;
    }
}

/* pi (scratch, n) receives P v; k (n) receives the gain. k may alias pi. */
static inline int anc_rls_step(float *restrict p, float *pi, const float *restrict v,
                               float lam, uint32_t n, float *k)
{
    anc_symv(p, v, n, pi);
    const float denom = lam + anc_dot(v, pi, n);
    if (!(denom > 0.0f) || !isfinite(denom)) {
        return 0;
    }
    const float root = sqrtf(denom);
    for (uint32_t i = 0; i < n; ++i) {
        pi[i] /= root;   /* pi now holds u */
    }
    anc_rank1_scale(p, pi, n, 1.0f / lam);
    for (uint32_t i = 0; i < n; ++i) {
        k[i] = pi[i] / root;
    }
    return 1;
}

#endif
