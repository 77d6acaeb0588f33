"""Headset acoustic model: primary path P, secondary path S and the controller's estimate Ŝ.

Both paths are float32 FIRs at 48 kHz (ARCHITECTURE §1):

* P (reference mic → ear): an acoustic delay of 2 samples (41.7 µs, inside the 30–45 µs a
  feedforward headset has) followed by the ear cup's passive attenuation — a 2nd-order
  low-pass at 1 kHz with 0.8 gain (little attenuation at low frequencies, −12 dB/octave
  above 1 kHz) — plus a small, seeded, decaying reflection tail.
* S (driver → ear): a 1-sample delay (DAC reconstruction and the driver's acoustic delay)
  followed by the driver/cavity response — a resonant 2nd-order low-pass at 4 kHz (Q 1.2,
  the driver-cavity resonance) with 0.7 gain — plus its own small seeded reflection tail.

The I/O latency D (ADC + processing + DAC buffering) is not part of S: the closed loop adds
it, and a device that measures its secondary path end to end sees delay(D) ∗ S. That is the
default Ŝ (:func:`estimate_secondary`), optionally with a gain error, an extra delay and a
phase error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

FS = 48_000
PATH_TAPS = 64
PRIMARY_DELAY = 2
SECONDARY_DELAY = 1


@dataclass(frozen=True)
class HeadsetPlant:
    """The two acoustic paths of one simulated headset (float32 FIRs, tap k multiplies x[n-k])."""

    primary: np.ndarray
    secondary: np.ndarray
    fs: int = FS
    seed: int = 0


def _lowpass_impulse(fc: float, q: float, taps: int, fs: int) -> np.ndarray:
    """Impulse response of a 2nd-order (RBJ cookbook) low-pass, truncated to `taps`."""
    w0 = 2 * np.pi * fc / fs
    alpha = np.sin(w0) / (2 * q)
    cosw = np.cos(w0)
    b = np.array([(1 - cosw) / 2, 1 - cosw, (1 - cosw) / 2])
    a = np.array([1 + alpha, -2 * cosw, 1 - alpha])
    impulse = np.zeros(taps)
    impulse[0] = 1.0
    return signal.lfilter(b / a[0], a / a[0], impulse)


def _reflection_tail(rng: np.random.Generator, taps: int, start: int, level: float) -> np.ndarray:
    """A small decaying random tail: reflections inside the ear cup."""
    n = np.arange(taps)
    tail = level * rng.standard_normal(taps) * np.exp(-(n - start) / 6.0)
    tail[:start] = 0.0
    return tail


def make_plant(seed: int = 0, fs: int = FS, taps: int = PATH_TAPS) -> HeadsetPlant:
    """Build the headset model; `seed` varies only the small reflection tails."""
    if fs <= 0:
        raise ValueError(f"fs must be positive, got {fs}")
    if taps < 16:
        raise ValueError(f"taps must be at least 16, got {taps}")
    rng = np.random.default_rng(seed)
    passive = 0.8 * _lowpass_impulse(1000.0, 0.707, taps, fs)
    primary = np.zeros(taps)
    primary[PRIMARY_DELAY:] = passive[: taps - PRIMARY_DELAY]
    primary += _reflection_tail(rng, taps, start=PRIMARY_DELAY + 6, level=0.02)

    driver = 0.7 * _lowpass_impulse(4000.0, 1.2, taps, fs)
    secondary = np.zeros(taps)
    secondary[SECONDARY_DELAY:] = driver[: taps - SECONDARY_DELAY]
    secondary += _reflection_tail(rng, taps, start=SECONDARY_DELAY + 6, level=0.02)
    return HeadsetPlant(primary.astype(np.float32), secondary.astype(np.float32), fs, seed)


def delayed(h: np.ndarray, delay: int) -> np.ndarray:
    """`h` preceded by `delay` zero taps (the FIR of delay(delay) ∗ h)."""
    if delay < 0:
        raise ValueError(f"delay must be >= 0, got {delay}")
    return np.concatenate([np.zeros(delay, dtype=h.dtype), h])


def end_to_end_secondary(secondary: np.ndarray, latency: int) -> np.ndarray:
    """The secondary path as the device measures it: delay(latency) ∗ S."""
    return delayed(np.asarray(secondary, dtype=np.float32), latency)


def rotate_phase(h: np.ndarray, phase_deg: float, lead: int, tail: int = 512) -> np.ndarray:
    """cos φ·h + sin φ·H{h}, delayed by `lead` samples: every frequency shifted by −φ degrees.

    The Hilbert transform of a short FIR is two-sided with 1/n tails. The result keeps the
    `lead` taps before h's start (so rotating the end-to-end path delay(D) ∗ S keeps the
    non-causal half inside the I/O latency) and `tail` taps after its end; what falls outside
    is dropped, so the realized shift is weakest at D = 0 and low frequencies
    (`realized_phase_error` measures it).
    """
    if lead < 0:
        raise ValueError(f"lead must be >= 0 samples, got {lead}")
    h = np.asarray(h, dtype=np.float64)
    if phase_deg == 0:
        return delayed(h.astype(np.float32), lead)
    phi = np.deg2rad(phase_deg)
    pad = 4 * (len(h) + tail + lead)
    padded = np.concatenate([np.zeros(pad), h, np.zeros(pad)])
    hilbert = np.imag(signal.hilbert(padded))
    rotated = np.cos(phi) * padded + np.sin(phi) * hilbert
    return rotated[pad - lead : pad + len(h) + tail].astype(np.float32)


def estimate_secondary(
    secondary: np.ndarray,
    latency: int,
    gain_error_db: float = 0.0,
    extra_delay: int = 0,
    phase_error_deg: float = 0.0,
) -> np.ndarray:
    """The controller's Ŝ: gain · rotate(S, φ), then delayed by latency + extra_delay.

    With no errors this is exactly the end-to-end path delay(latency) ∗ S. A phase error φ
    makes Ŝ lag S by φ at every frequency (ŝ = cos φ·s + sin φ·H{s}).
    """
    if latency < 0:
        raise ValueError(f"latency must be >= 0 samples, got {latency}")
    if extra_delay < 0:
        raise ValueError(f"extra_delay must be >= 0 samples, got {extra_delay}")
    if not np.isfinite(gain_error_db) or not np.isfinite(phase_error_deg):
        raise ValueError("gain_error_db and phase_error_deg must be finite")
    gain = 10.0 ** (gain_error_db / 20.0)
    rotated = rotate_phase(np.asarray(secondary, dtype=np.float32), phase_error_deg, latency)
    return delayed((gain * rotated).astype(np.float32), extra_delay)


def realized_phase_error(
    secondary: np.ndarray, estimate: np.ndarray, freqs_hz: np.ndarray, fs: int = FS
) -> np.ndarray:
    """Phase of Ŝ relative to S at `freqs_hz`, in degrees (delays included as they are)."""
    _, hs = signal.freqz(secondary, worN=freqs_hz, fs=fs)
    _, he = signal.freqz(estimate, worN=freqs_hz, fs=fs)
    return np.rad2deg(np.angle(he / hs))
