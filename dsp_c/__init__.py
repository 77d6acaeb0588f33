"""C DSP core of the ANC platform, bound with CFFI (see dsp_c/README.md).

Adaptive filters (Lms, Nlms, Rls), the ANC controller (FxLms: FxLMS, FxNLMS, hybrid),
fixed filters (Fir, BiquadCascade), the safety Limiter and the ClosedLoop simulator.
Signals are 1-D C-contiguous float32 arrays; bad arguments raise DspValueError, which is
a ValueError naming the argument.
"""

from dsp_c._checks import DspError, DspValueError
from dsp_c.adaptive import Lms, Nlms, Rls
from dsp_c.anc import ClosedLoop, FxLms, measured_secondary_path
from dsp_c.filters import BiquadCascade, Fir, Limiter

__all__ = [
    "BiquadCascade",
    "ClosedLoop",
    "DspError",
    "DspValueError",
    "Fir",
    "FxLms",
    "Limiter",
    "Lms",
    "Nlms",
    "Rls",
    "measured_secondary_path",
]
