"""Synthetic noise scenes at the reference microphone, deterministic per seed.

`scene(name, seconds, fs=48000, seed=0)` returns a float32 array normalised to −20 dBFS RMS
(0.1). Each scene is a function registered with `@register(name, description)`; other
modules (for example the emergency sounds) add scenes the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import signal

SceneFn = Callable[[int, int, np.random.Generator], np.ndarray]
LEVEL_RMS = 0.1  # −20 dBFS


@dataclass(frozen=True)
class SceneInfo:
    name: str
    description: str
    make: SceneFn


SCENES: dict[str, SceneInfo] = {}


def register(name: str, description: str) -> Callable[[SceneFn], SceneFn]:
    """Decorator adding `fn(n_samples, fs, rng) -> array` to the registry under `name`."""

    def add(fn: SceneFn) -> SceneFn:
        if name in SCENES:
            raise ValueError(f"scene {name!r} is already registered")
        SCENES[name] = SceneInfo(name, description, fn)
        return fn

    return add


def scene_names() -> list[str]:
    return list(SCENES)


def describe(name: str) -> str:
    return _lookup(name).description


def _lookup(name: str) -> SceneInfo:
    try:
        return SCENES[name]
    except KeyError:
        raise ValueError(f"unknown scene {name!r}; known scenes: {', '.join(SCENES)}") from None


def scene(name: str, seconds: float, fs: int = 48_000, seed: int = 0) -> np.ndarray:
    """`seconds` of scene `name` at `fs`, float32, RMS 0.1; the same seed gives the same array."""
    info = _lookup(name)
    if not np.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"seconds must be a positive number, got {seconds}")
    if fs < 8000:
        raise ValueError(f"fs must be at least 8000 Hz, got {fs}")
    n = int(round(seconds * fs))
    if n < 1:
        raise ValueError(f"seconds={seconds} gives no samples at fs={fs}")
    x = np.asarray(info.make(n, fs, np.random.default_rng(seed)), dtype=np.float64)
    rms = np.sqrt(np.mean(x**2))
    return (x * (LEVEL_RMS / rms)).astype(np.float32) if rms > 0 else x.astype(np.float32)


# --- building blocks -------------------------------------------------------------------------

def _smooth_noise(n: int, fs: int, rng: np.random.Generator, cutoff_hz: float) -> np.ndarray:
    """Unit-variance random signal varying no faster than `cutoff_hz` (for jitter, envelopes)."""
    sos = signal.butter(2, cutoff_hz, fs=fs, output="sos")
    pad = int(4 * fs / cutoff_hz)
    v = signal.sosfilt(sos, rng.standard_normal(n + pad))[pad:]
    return v / (np.std(v) + 1e-300)


def _colored(n: int, fs: int, rng: np.random.Generator, slope_db_per_octave: float) -> np.ndarray:
    """Gaussian noise with a power spectrum ∝ f^(slope/3.01) above 10 Hz, shaped in frequency."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / fs)
    exponent = slope_db_per_octave / (20 * np.log10(2))  # amplitude exponent
    shape = np.maximum(f, 10.0) ** exponent
    shape[0] = 0.0
    return np.fft.irfft(spec * shape, n)


def _band(n: int, fs: int, rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    sos = signal.butter(8, [lo, hi], btype="bandpass", fs=fs, output="sos")
    pad = fs // 10
    return signal.sosfilt(sos, rng.standard_normal(n + pad))[pad:]


def _harmonics(
    n: int, fs: int, rng: np.random.Generator, f0: float, amps: np.ndarray, jitter: float,
    jitter_hz: float,
) -> np.ndarray:
    """Sum of harmonics k·f0(t); f0 wanders by `jitter` (relative std) at up to `jitter_hz`."""
    f0_t = f0 * (1 + jitter * _smooth_noise(n, fs, rng, jitter_hz))
    phase = 2 * np.pi * np.cumsum(f0_t) / fs
    out = np.zeros(n)
    for k, a in enumerate(amps, start=1):
        out += a * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    return out


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


def _mix(*parts: tuple[np.ndarray, float]) -> np.ndarray:
    """Sum of parts, each scaled to the given RMS."""
    return sum((p * (level / (_rms(p) + 1e-300)) for p, level in parts), np.zeros(len(parts[0][0])))


# --- scenes ----------------------------------------------------------------------------------

@register("engine", "Engine hum: 45 Hz firing frequency and 10 harmonics (−2 dB each), "
          "f0 jitter 0.2 % below 0.5 Hz, with low-frequency rumble 40 dB down.")
def _engine(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    amps = 10 ** (-2 * np.arange(10) / 20)
    hum = _harmonics(n, fs, rng, 45.0, amps, jitter=0.002, jitter_hz=0.5)
    rumble = _colored(n, fs, rng, -6.0)
    return _mix((hum, 1.0), (rumble, 0.01))


@register("aircraft", "Aircraft cabin: broadband boundary-layer noise peaking near 150 Hz and "
          "falling 9 dB/octave above it, with engine fan tones at 118 Hz and 236 Hz.")
def _aircraft(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    broadband = _colored(n, fs, rng, -9.0)
    broadband = signal.sosfilt(signal.butter(2, 150, "highpass", fs=fs, output="sos"), broadband)
    tones = _harmonics(n, fs, rng, 118.0, np.array([1.0, 0.6]), jitter=0.0005, jitter_hz=0.2)
    return _mix((broadband, 1.0), (tones, 0.8))


@register("traffic", "Road traffic: brown-noise rumble with vehicles passing every few seconds "
          "(±6 dB swells) and tyre noise around 1 kHz.")
def _traffic(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    rumble = _colored(n, fs, rng, -6.0)
    rumble = signal.sosfilt(signal.butter(2, 30, "highpass", fs=fs, output="sos"), rumble)
    tyres = _band(n, fs, rng, 700.0, 1400.0)
    swell = 10 ** (6 * np.tanh(_smooth_noise(n, fs, rng, 0.4)) / 20)
    return _mix((rumble, 1.0), (tyres, 0.25)) * swell


@register("babble", "Multi-talker babble: six synthetic talkers (glottal pulses at 95–230 Hz "
          "with vibrato, formants changing every 120–250 ms, syllabic envelopes near 4 Hz).")
def _babble(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    vowels = [(730, 1090), (270, 2290), (300, 870), (530, 1840), (660, 1720), (440, 1020)]
    for _ in range(6):
        f0 = rng.uniform(95, 230)
        f0_t = f0 * (1 + 0.03 * _smooth_noise(n, fs, rng, 5.0))
        phase = np.cumsum(f0_t) / fs
        pulses = np.diff(np.floor(phase), prepend=0.0)  # one impulse per glottal period
        voice = signal.lfilter([1.0], [1.0, -0.95], pulses)  # glottal roll-off
        talker = np.zeros(n)
        start = 0
        while start < n:
            length = int(rng.uniform(0.12, 0.25) * fs)
            f1, f2 = vowels[rng.integers(len(vowels))]
            seg = voice[start : start + length]
            for fc, bw in ((f1, 90.0), (f2, 120.0)):
                b, a = signal.iirpeak(fc, fc / bw, fs=fs)
                seg = signal.lfilter(b, a, seg)
            talker[start : start + length] = seg * np.hanning(len(seg))
            start += length
        envelope = np.clip(0.6 + 0.6 * _smooth_noise(n, fs, rng, 4.0), 0.0, None)
        out += talker * envelope / (_rms(talker) + 1e-300)
    return signal.sosfilt(signal.butter(2, [80, 5000], "bandpass", fs=fs, output="sos"), out)


@register("fan", "Fan/HVAC: broadband air noise (pink, 40 Hz–4 kHz) with a 140 Hz blade-pass "
          "tone and its first two harmonics.")
def _fan(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    air = _colored(n, fs, rng, -3.0)
    air = signal.sosfilt(signal.butter(2, [40, 4000], "bandpass", fs=fs, output="sos"), air)
    blades = _harmonics(n, fs, rng, 140.0, np.array([1.0, 0.5, 0.25]), jitter=0.001,
                        jitter_hz=0.3)
    return _mix((air, 1.0), (blades, 0.7))


@register("white", "White noise: flat power spectrum up to 24 kHz.")
def _white(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(n)


@register("pink", "Pink noise: power falls 3 dB per octave (above 10 Hz).")
def _pink(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    return _colored(n, fs, rng, -3.0)


@register("brown", "Brown noise: power falls 6 dB per octave (above 10 Hz).")
def _brown(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    return _colored(n, fs, rng, -6.0)


@register("band", "Band-limited broadband noise: white noise through an 8th-order "
          "Butterworth band-pass, 50–1500 Hz.")
def _band_noise(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    return _band(n, fs, rng, 50.0, 1500.0)
