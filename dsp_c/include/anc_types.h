/*
 * anc_types.h - status codes shared by every module of the ANC DSP core.
 *
 * Conventions of the whole core:
 *   - float32 samples, C99, prefix anc_, type suffix _f32;
 *   - the caller owns every instance struct and every buffer; each algorithm has a
 *     size query anc_<algo>_state_len_f32(...) giving the number of floats its state
 *     buffer must hold;
 *   - anc_<algo>_init_f32 validates its arguments and returns an anc_status;
 *   - process functions never allocate, log or block;
 *   - FIR coefficient order: w[k] multiplies x[n-k] (k = 0 is the newest sample).
 */
#ifndef ANC_TYPES_H
#define ANC_TYPES_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ANC_OK = 0,
    ANC_ERR_NULL = -1,        /* a required pointer is NULL */
    ANC_ERR_TAPS = -2,        /* a length (taps, sections, block) is zero or too large */
    ANC_ERR_STEP = -3,        /* step size mu out of range or not finite */
    ANC_ERR_PARAM = -4,       /* another parameter out of range or not finite */
    ANC_ERR_STATE_LEN = -5,   /* state buffer shorter than the size query asks for */
    ANC_ERR_COEFFS = -6       /* coefficients not finite (or a0 == 0 for a biquad) */
} anc_status;

/* Human-readable text for a status code; never NULL. */
const char *anc_strerror(int status);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif
