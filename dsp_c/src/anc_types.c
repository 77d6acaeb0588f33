#include "anc_types.h"

const char *anc_strerror(int status)
{
    switch (status) {
    case ANC_OK: return "ok";
    case ANC_ERR_NULL: return "a required pointer is NULL";
    case ANC_ERR_TAPS: return "a length (taps, sections or block) is zero or too large";
    case ANC_ERR_STEP: return "step size mu is out of range or not finite";
    case ANC_ERR_PARAM: return "a parameter is out of range or not finite";
    case ANC_ERR_STATE_LEN: return "state buffer is shorter than the size query requires";
    case ANC_ERR_COEFFS: return "coefficients are not finite (or a0 is zero)";
    default: return "unknown status";
    }
}
