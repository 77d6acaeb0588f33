"""Streaming noise features for the cloud classifier (C core: dsp_c/include/anc_features.h).

`FeatureExtractor` wraps the C extractor: push audio in blocks of any length, get one
feature vector per hop (100 ms at 48 kHz). The vector layout is fixed by
protocol/features.json (`feature_definition()` produces it; a test keeps them equal).
`reference_features` is the same computation in NumPy (float64), for tests and offline use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dsp_c._anc_cffi import ffi, lib
from dsp_c._checks import (
    DspValueError,
    FloatArray,
    check_status,
    float_ptr,
    new_state,
    positive_int,
    real,
    signal_in,
)

DEFINITION_PATH = Path(__file__).resolve().parent.parent / "protocol" / "features.json"
DESCRIPTORS: tuple[tuple[str, str, str], ...] = (
    ("level_dbfs", "dB re full-scale mean square", "RMS level of the frame"),
    ("crest_factor_db", "dB", "peak-to-RMS ratio of the frame"),
    ("zero_crossing_rate", "crossings per sample", "sign changes between adjacent samples"),
    ("spectral_centroid_hz", "Hz", "power-weighted mean frequency"),
    ("spectral_flatness", "ratio 0..1", "geometric over arithmetic mean power (1 = white)"),
)
# IEC 61260 nominal mid-band frequencies per decade, for band names
_NOMINAL_MANTISSA = (1.0, 1.25, 1.6, 2.0, 2.5, 3.15, 4.0, 5.0, 6.3, 8.0)


def nominal_centre_hz(exact_hz: float) -> float:
    """Nominal 1/3-octave label (50, 63, 80, …) of an exact base-10 centre frequency."""
    m = int(round(10 * np.log10(exact_hz / 1000.0)))
    return _NOMINAL_MANTISSA[m % 10] * 10.0 ** (3 + m // 10)


def band_name(exact_hz: float) -> str:
    nominal = nominal_centre_hz(exact_hz)
    label = f"{nominal / 1000:g}k" if nominal >= 1000 else f"{nominal:g}"
    return f"band_{label.replace('.', 'p')}hz_db"


class FeatureExtractor:
    """Streaming 1/3-octave band levels + spectral descriptors (C, float32)."""

    def __init__(self, fs: float = 48_000, fft_size: int = 8192, hop: int = 4800,
                 f_lo_hz: float = 50.0, f_hi_hz: float = 16_000.0) -> None:
        self.fs = real("fs", fs, low=0.0, low_open=True)
        self.fft_size = positive_int("fft_size", fft_size, limit=int(lib.ANC_FEATURES_MAX_FFT))
        if self.fft_size & (self.fft_size - 1) or self.fft_size < lib.ANC_FEATURES_MIN_FFT:
            raise DspValueError(
                f"fft_size must be a power of two >= {lib.ANC_FEATURES_MIN_FFT}, got {fft_size}")
        self.hop = positive_int("hop", hop, limit=self.fft_size)
        self.f_lo_hz = real("f_lo_hz", f_lo_hz, low=0.0, low_open=True)
        self.f_hi_hz = real("f_hi_hz", f_hi_hz, low=self.f_lo_hz)
        self._inst = ffi.new("anc_features_instance_f32 *")
        self._state, ptr = new_state(lib.anc_features_state_len_f32(self.fft_size))
        status = lib.anc_features_init_f32(self._inst, self.fs, self.fft_size, self.hop,
                                           self.f_lo_hz, self.f_hi_hz, ptr, self._state.size)
        if status == lib.ANC_ERR_PARAM:
            raise DspValueError(
                f"no usable 1/3-octave bands for f_lo_hz={f_lo_hz}, f_hi_hz={f_hi_hz} at "
                f"fs={fs} with fft_size={fft_size} (a band is narrower than one FFT bin, or "
                f"more than {lib.ANC_FEATURES_MAX_BANDS} bands)")
        check_status(status, "FeatureExtractor")
        nb = int(self._inst.num_bands)
        self.band_centres_hz = np.array([self._inst.band_centre_hz[i] for i in range(nb)])
        self.names: tuple[str, ...] = tuple(band_name(f) for f in self.band_centres_hz) + tuple(
            d[0] for d in DESCRIPTORS)

    @property
    def num_features(self) -> int:
        return len(self.names)

    def process(self, x: FloatArray) -> FloatArray:
        """Push samples; returns the frames they complete, shape (frames, num_features)."""
        signal_in("x", x)
        frames = int(lib.anc_features_frames_for_f32(self._inst, x.size))
        out = np.empty((frames, self.num_features), dtype=np.float32)
        written = ffi.new("uint32_t *")
        check_status(lib.anc_features_f32(self._inst, float_ptr(x), x.size,
                                          ffi.from_buffer("float[]", out), frames, written),
                     "FeatureExtractor.process")
        return out[: written[0]]

    def reset(self) -> None:
        lib.anc_features_reset_f32(self._inst)

    def definition(self) -> dict[str, Any]:
        """Machine-readable layout of the feature vector (the content of features.json)."""
        edge = 10 ** (1 / 20)
        bands = [
            {"name": band_name(fc), "nominal_hz": nominal_centre_hz(fc),
             "centre_hz": round(float(fc), 3), "low_hz": round(float(fc) / edge, 3),
             "high_hz": round(float(fc) * edge, 3)}
            for fc in self.band_centres_hz
        ]
        features = [{"index": i, "name": b["name"], "unit": "dB re full-scale mean square",
                     "description":
                         f"power in the 1/3-octave band centred at {b['nominal_hz']:g} Hz"}
                    for i, b in enumerate(bands)]
        features += [{"index": len(bands) + i, "name": n, "unit": u, "description": text}
                     for i, (n, u, text) in enumerate(DESCRIPTORS)]
        return {
            "version": 1,
            "sample_rate_hz": self.fs,
            "fft_size": self.fft_size,
            "hop_samples": self.hop,
            "frame_period_s": self.hop / self.fs,
            "analysis_window": "periodic Hann over the last fft_size samples",
            "bands": bands,
            "features": features,
        }


def feature_definition() -> dict[str, Any]:
    """The protocol's feature layout (48 kHz defaults)."""
    return FeatureExtractor().definition()


def load_definition(path: Path = DEFINITION_PATH) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def reference_features(x: npt.ArrayLike, fs: float = 48_000, fft_size: int = 8192,
                       hop: int = 4800, f_lo_hz: float = 50.0, f_hi_hz: float = 16_000.0
                       ) -> npt.NDArray[np.float64]:
    """NumPy (float64) computation of the same frames as FeatureExtractor.process(x)."""
    x64 = np.asarray(x, dtype=np.float64)
    n = fft_size
    edge = 10 ** (1 / 20)
    bands = []
    for m in range(-30, 31):
        fc = 1000 * 10 ** (m / 10)
        if not (f_lo_hz * (1 - 1e-6) <= fc <= f_hi_hz * (1 + 1e-6)):
            continue
        if fc * edge >= fs / 2:
            break
        bands.append((int(np.ceil(fc / edge * n / fs)), int(np.ceil(fc * edge * n / fs))))
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
    scale = 1.0 / (n * np.sum(window.astype(np.float32).astype(np.float64) ** 2))
    padded = np.concatenate([np.zeros(n), x64])
    freqs = np.arange(n // 2 + 1) * fs / n
    rows = []
    for k in range(1, len(x64) // hop + 1):
        frame = padded[k * hop : k * hop + n]
        p = np.abs(np.fft.rfft(frame * window)) ** 2 * scale
        p[1:-1] *= 2
        levels = [10 * np.log10(p[a:b].sum() + 1e-12) for a, b in bands]
        mean_sq = np.mean(frame**2)
        crest = 10 * np.log10(np.max(frame**2) / mean_sq) if mean_sq > 0 else 0.0
        positive = frame >= 0
        zcr = np.count_nonzero(positive[1:] != positive[:-1]) / (n - 1)
        total = p[1:].sum()
        centroid = (freqs[1:] @ p[1:]) / total if total > 0 else 0.0
        flat_bins = p[bands[0][0] : bands[-1][1]]
        flatness = np.exp(np.mean(np.log(flat_bins + 1e-20))) / (np.mean(flat_bins) + 1e-20)
        rows.append(levels + [10 * np.log10(mean_sq + 1e-12), crest, zcr, centroid, flatness])
    return np.array(rows, dtype=np.float64).reshape(-1, len(bands) + len(DESCRIPTORS))
