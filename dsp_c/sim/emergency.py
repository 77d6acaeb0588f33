"""Synthetic emergency sounds (sirens, alarms, horns), deterministic per seed, for the
emergency-sound detector's tests and benchmarks.

Each generator draws its parameters (pitch, sweep rate, pattern, level, …) from the given
`np.random.Generator` and returns an `EmergencySound` whose signal starts at its onset
(sample 0). `mix_at_snr` places a sound into a noise scene at a chosen onset and SNR.

| class  | kinds | what it is |
|--------|-------|-----------|
| siren  | wail  | slow sinusoidal sweep, low 550–800 Hz to high 1200–1700 Hz, period 2.5–6 s |
|        | yelp  | the same sweep, fast: period 0.25–0.4 s (2.5–4 sweeps/s) |
|        | hilo  | two alternating tones (low 600–800 Hz, ratio 1.25–1.4), 0.35–0.65 s each |
| alarm  | t3    | smoke/fire alarm, 2.9–3.4 kHz beeps in the ISO 8201 temporal-three pattern |
|        | bell  | fire-alarm bell: inharmonic partials from 2.0–2.7 kHz struck 12–22 times/s |
| horn   | car   | one or two horns, fundamentals 380–500 Hz, harmonic stacks, 1–3 honks |
|        | truck | one or two horns, fundamentals 300–380 Hz, brighter stacks, longer honks |

Electronic sirens are square-ish, so sirens carry odd harmonics. Levels are random
(−30..−10 dBFS peak) with a slow swell of up to ±4 dB (a vehicle approaching or turning).
Importing this module also registers the scenes `siren`, `alarm` and `horn` (a random kind,
repeating) with `dsp_c.sim.scenes`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import signal

FS = 48_000
KINDS: dict[str, tuple[str, ...]] = {
    "siren": ("wail", "yelp", "hilo"),
    "alarm": ("t3", "bell"),
    "horn": ("car", "truck"),
}


@dataclass(frozen=True)
class EmergencySound:
    """One synthetic emergency sound, starting at sample 0.

    `on` marks the samples where the sound is sounding (beeps and honks have gaps);
    SNRs are computed over those samples.
    """

    cls: str
    kind: str
    signal: np.ndarray  # float32
    on: np.ndarray  # bool, same length
    fs: int
    params: dict[str, float]


def _check(seconds: float, fs: int) -> int:
    if not np.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"seconds must be a positive number, got {seconds}")
    if fs < 16000:
        raise ValueError(f"fs must be at least 16000 Hz (alarms reach 3.4 kHz+), got {fs}")
    return int(round(seconds * fs))


def _tone_stack(freq: np.ndarray, fs: int, amps: list[float] | np.ndarray,
                harmonic_numbers: list[int] | np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sum of harmonics h·f(t) (phase-continuous), skipping those above 0.45·fs."""
    phase = 2 * np.pi * np.cumsum(freq) / fs
    out = np.zeros(len(freq))
    top = float(np.max(freq))
    for h, a in zip(harmonic_numbers, amps, strict=True):
        if h * top < 0.45 * fs:
            out += a * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    return out


def _ramp_envelope(on: np.ndarray, fs: int, ramp_s: float) -> np.ndarray:
    """Smooth a 0/1 gate with raised-cosine edges of `ramp_s` seconds (no clicks)."""
    n = max(1, int(ramp_s * fs))
    kernel = np.hanning(2 * n + 1)
    kernel /= kernel.sum()
    return np.convolve(on.astype(np.float64), kernel, mode="same")


def _finish(cls: str, kind: str, x: np.ndarray, on: np.ndarray, fs: int,
            rng: np.random.Generator, params: dict[str, float]) -> EmergencySound:
    """Apply a slow level swell and a random peak level; package the result."""
    n = len(x)
    t = np.arange(n) / fs
    swell_db = rng.uniform(0.0, 4.0)
    swell = 10 ** (swell_db * np.sin(2 * np.pi * t / rng.uniform(3.0, 8.0)
                                     + rng.uniform(0, 2 * np.pi)) / 20)
    x = x * swell
    level_dbfs = rng.uniform(-30.0, -10.0)
    peak = np.max(np.abs(x))
    if peak > 0:
        x = x * (10 ** (level_dbfs / 20) / peak)
    params = {**params, "level_dbfs": level_dbfs, "swell_db": swell_db}
    return EmergencySound(cls, kind, x.astype(np.float32), on, fs, params)


# --- sirens ----------------------------------------------------------------------------------

def siren(seconds: float, fs: int = FS, rng: np.random.Generator | None = None,
          kind: str | None = None) -> EmergencySound:
    """A wail, yelp or hi-lo siren sounding for the whole duration."""
    rng = rng if rng is not None else np.random.default_rng(0)
    kind = kind or str(rng.choice(KINDS["siren"]))
    n = _check(seconds, fs)
    t = np.arange(n) / fs
    if kind in ("wail", "yelp"):
        lo, hi = rng.uniform(550, 800), rng.uniform(1200, 1700)
        period = rng.uniform(2.5, 6.0) if kind == "wail" else rng.uniform(0.25, 0.4)
        phi = rng.uniform(0, 2 * np.pi)
        freq = lo + (hi - lo) * (0.5 - 0.5 * np.cos(2 * np.pi * t / period + phi))
        params = {"low_hz": lo, "high_hz": hi, "period_s": period}
    elif kind == "hilo":
        lo = rng.uniform(600, 800)
        hi = lo * rng.uniform(1.25, 1.4)
        half = rng.uniform(0.35, 0.65)
        high_first = rng.integers(2)
        step = ((t // half).astype(np.int64) + high_first) % 2
        # 10 ms glide between the tones, as the oscillator slews.
        glide = _ramp_envelope(step.astype(bool), fs, 0.005)
        freq = lo + (hi - lo) * glide
        params = {"low_hz": lo, "high_hz": hi, "period_s": 2 * half}
    else:
        raise ValueError(f"unknown siren kind {kind!r}; expected one of {KINDS['siren']}")
    x = _tone_stack(freq, fs, [1.0, rng.uniform(0.15, 0.35), rng.uniform(0.05, 0.15)],
                    [1, 3, 5], rng)
    on = np.ones(n, dtype=bool)
    x *= _ramp_envelope(np.r_[np.zeros(1, bool), on[1:]], fs, rng.uniform(0.01, 0.05))
    return _finish("siren", kind, x, on, fs, rng, params)


# --- alarms ----------------------------------------------------------------------------------

def alarm(seconds: float, fs: int = FS, rng: np.random.Generator | None = None,
          kind: str | None = None) -> EmergencySound:
    """A T3 smoke/fire-alarm beep pattern (starting with a beep) or a ringing fire bell."""
    rng = rng if rng is not None else np.random.default_rng(0)
    kind = kind or str(rng.choice(KINDS["alarm"]))
    n = _check(seconds, fs)
    t = np.arange(n) / fs
    if kind == "t3":
        f = rng.uniform(2900, 3400)
        beep = rng.uniform(0.45, 0.55)
        pause = rng.uniform(1.4, 1.6)
        cycle = 3 * 2 * beep - beep + pause  # three beeps with two gaps, then the pause
        pos = t % cycle
        on = (pos < 5 * beep) & ((pos // beep) % 2 == 0)
        freq = np.full(n, f) * (1 + 0.002 * np.sin(2 * np.pi * 0.7 * t))
        x = _tone_stack(freq, fs, [1.0, 0.3], [1, 2], rng) * _ramp_envelope(on, fs, 0.003)
        params = {"freq_hz": f, "beep_s": beep, "pause_s": pause}
    elif kind == "bell":
        f1 = rng.uniform(2000, 2700)
        ratios = [1.0, rng.uniform(1.45, 1.6), rng.uniform(2.2, 2.4)]
        rate = rng.uniform(12, 22)
        tau = rng.uniform(0.03, 0.08)
        strikes = np.zeros(n)
        strikes[(np.arange(0, seconds, 1 / rate) * fs).astype(np.int64)] = 1.0
        ring = signal.lfilter([1.0], [1.0, -np.exp(-1.0 / (tau * fs))], strikes)
        x = np.zeros(n)
        for r, a in zip(ratios, [1.0, 0.6, 0.35], strict=True):
            x += _tone_stack(np.full(n, f1 * r), fs, [a], [1], rng)
        x *= ring
        on = np.ones(n, dtype=bool)
        params = {"freq_hz": f1, "strike_hz": rate, "decay_s": tau}
    else:
        raise ValueError(f"unknown alarm kind {kind!r}; expected one of {KINDS['alarm']}")
    return _finish("alarm", kind, x, on, fs, rng, params)


# --- horns -----------------------------------------------------------------------------------

def horn(seconds: float, fs: int = FS, rng: np.random.Generator | None = None,
         kind: str | None = None) -> EmergencySound:
    """One to three honks of a car or truck horn (one or two horns, harmonic stacks)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    kind = kind or str(rng.choice(KINDS["horn"]))
    n = _check(seconds, fs)
    if kind == "car":
        f0, rolloff, honk_range = rng.uniform(380, 500), 0.8, (0.3, 1.2)
    elif kind == "truck":
        f0, rolloff, honk_range = rng.uniform(300, 380), 0.5, (0.8, 2.0)
    else:
        raise ValueError(f"unknown horn kind {kind!r}; expected one of {KINDS['horn']}")
    # Honk pattern: the first honk starts at 0; honks repeat after short gaps.
    on = np.zeros(n, dtype=bool)
    start = 0
    for _ in range(int(rng.integers(1, 4))):
        length = int(rng.uniform(*honk_range) * fs)
        on[start:start + length] = True
        start += length + int(rng.uniform(0.15, 0.4) * fs)
        if start >= n:
            break
    f0s = [f0] + ([f0 * rng.uniform(1.18, 1.3)] if rng.uniform() < 0.6 else [])
    x = np.zeros(n)
    for fh in f0s:
        harmonics = np.arange(1, 16)
        amps = harmonics ** -rolloff * 10 ** (rng.uniform(-3, 3, len(harmonics)) / 20)
        freq = np.full(n, fh) * (1 + 0.003 * np.sin(2 * np.pi * rng.uniform(3, 7) * np.arange(n)
                                                     / fs))
        x += _tone_stack(freq, fs, amps, harmonics, rng)
    x *= _ramp_envelope(on, fs, rng.uniform(0.01, 0.03))
    return _finish("horn", kind, x, on, fs, rng,
                   {"f0_hz": f0, "horns": float(len(f0s))})


GENERATORS: dict[str, Callable[..., EmergencySound]] = {
    "siren": siren, "alarm": alarm, "horn": horn,
}


def emergency_sound(cls: str, seconds: float, fs: int = FS, seed: int = 0,
                    kind: str | None = None) -> EmergencySound:
    """`seconds` of emergency class `cls` (protocol.taxonomy.EMERGENCY_CLASSES)."""
    if cls not in GENERATORS:
        raise ValueError(f"unknown emergency class {cls!r}; expected one of {tuple(GENERATORS)}")
    if kind is not None and kind not in KINDS[cls]:
        raise ValueError(f"unknown {cls} kind {kind!r}; expected one of {KINDS[cls]}")
    return GENERATORS[cls](seconds, fs, np.random.default_rng(seed), kind)


def mix_at_snr(scene: np.ndarray, sound: EmergencySound, snr_db: float,
               onset_s: float) -> np.ndarray:
    """`scene` with `sound` added from `onset_s` on, scaled so that its RMS over the samples
    where it sounds is `snr_db` above the scene's RMS. Returns float32, same length as scene."""
    start = int(round(onset_s * sound.fs))
    if not 0 <= start < len(scene):
        raise ValueError(f"onset_s={onset_s} is outside the scene ({len(scene) / sound.fs} s)")
    part = sound.signal[: len(scene) - start].astype(np.float64)
    on = sound.on[: len(part)]
    if not on.any():
        raise ValueError("the sound does not sound within the scene")
    sound_rms = np.sqrt(np.mean(part[on] ** 2))
    scene_rms = np.sqrt(np.mean(np.asarray(scene, dtype=np.float64) ** 2))
    gain = scene_rms * 10 ** (snr_db / 20) / sound_rms
    out = np.asarray(scene, dtype=np.float64).copy()
    out[start:start + len(part)] += gain * part
    return out.astype(np.float32)


def _register_scenes() -> None:
    """Offer each class as a scene of `dsp_c.sim.scenes` (a random kind, sounding throughout)."""
    try:
        from dsp_c.sim import scenes
    except ImportError:  # the scene registry is optional for these generators
        return
    for cls, gen in GENERATORS.items():
        if cls in scenes.SCENES:
            continue

        def make(n: int, fs: int, rng: np.random.Generator,
                 gen: Callable[..., EmergencySound] = gen) -> np.ndarray:
            return gen(n / fs, fs, rng).signal

        scenes.register(cls, f"Synthetic {cls} ({', '.join(KINDS[cls])}), random kind; "
                             "see dsp_c.sim.emergency.")(make)


_register_scenes()

__all__ = ["FS", "GENERATORS", "KINDS", "EmergencySound", "alarm", "emergency_sound", "horn",
           "mix_at_snr", "siren"]
