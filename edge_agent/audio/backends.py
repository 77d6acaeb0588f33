"""Where the loop's audio comes from and goes to: the plant simulator or a recording.

A backend fills the chain's `x` (reference mic) in `capture()`, emits its `y`
(anti-noise) and fills `e` (error mic) in `play()`. `sec_path` is the secondary-path
estimate Ŝ the controller uses (end to end, I/O latency included).

- `SimBackend`: a noise scene (dsp_c.sim) through the simulated headset. The fast path's
  I/O latency is `latency` samples (1 sample by default: a codec's low-latency filter
  path, ARCHITECTURE §1). Emergency sounds can be mixed into the scene (`inject`).
- `WavBackend`: a recording made with ANC off, channel 0 the reference mic, channel 1 the
  error mic. The ear with ANC is modelled as e = error + S ∗ y with the simulator's
  secondary path; anti-noise and modelled error can be written to an output WAV.
- ALSA hardware: `edge_agent.audio.alsa`.
"""

from __future__ import annotations

import struct
import warnings
import wave
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import scipy.io.wavfile
from dsp_c._anc_cffi import lib

from dsp_c._checks import FloatArray, bound_call, float_ptr
from dsp_c.filters import Fir
from dsp_c.sim import emergency as emergency_sounds
from dsp_c.sim.plant import end_to_end_secondary, estimate_secondary, make_plant
from dsp_c.sim.scenes import LEVEL_RMS, SCENES, scene
from edge_agent.audio.api import InjectSound
from edge_agent.audio.chain import DspChain

DEFAULT_LATENCY = 1
SCENE_SECONDS = 10.0  # the sim scene is generated once and looped
# Taxonomy names (protocol/taxonomy.py) played by a simulator scene of that character.
SCENE_ALIASES = {"vehicle": "engine", "machinery": "fan", "office": "fan"}


class WavError(ValueError):
    """A WAV file that cannot be used: unreadable, corrupt or of the wrong shape."""


class Backend(ABC):
    fs: int
    sec_path: FloatArray
    name: str

    def attach(self, chain: DspChain) -> None:
        self.chain = chain

    def wait(self) -> None:  # noqa: B027 - optional hook, most backends need no wait
        """Block until the next block of audio is due (hardware backends only)."""

    @abstractmethod
    def capture(self) -> bool:
        """Fill chain.x; False when the input has ended."""

    @abstractmethod
    def play(self) -> None:
        """Emit chain.y and fill chain.e."""

    def inject(self, change: InjectSound, now_sample: int) -> None:
        raise ValueError(f"InjectSound needs the sim backend, not {self.name}")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files and devices."""


def resolve_scene(name: str) -> str:
    target = SCENE_ALIASES.get(name, name)
    if target not in SCENES:
        known = ", ".join(sorted(set(SCENES) | set(SCENE_ALIASES)))
        raise ValueError(f"[audio.sim] scene: unknown scene {name!r} (known: {known})")
    return target


class SimBackend(Backend):
    """A looping noise scene through the simulated headset (primary and secondary path)."""

    name = "sim"

    def __init__(self, scene_name: str, seed: int, fs: int, block: int,
                 latency: int = DEFAULT_LATENCY, seconds: float = SCENE_SECONDS) -> None:
        self.fs, self.block = fs, block
        n = int(round(seconds * fs)) // block * block
        self.source = scene(resolve_scene(scene_name), n / fs, fs, seed)[:n]
        self._views = [self.source[i:i + block] for i in range(0, n, block)]
        self._k = 0
        plant = make_plant(seed, fs)
        self.latency = latency
        self.sec_path = estimate_secondary(plant.secondary, latency)
        self._p = Fir(plant.primary)
        self._s = Fir(end_to_end_secondary(plant.secondary, latency))
        self.d = np.zeros(block, np.float32)
        self.s = np.zeros(block, np.float32)
        self.sample = 0  # stream position of the next block
        self._inject: list[tuple[int, np.ndarray]] = []

    def attach(self, chain: DspChain) -> None:
        super().attach(chain)
        n = self.block
        self._run_p = bound_call(self._p, lib.anc_fir_f32, self._p._inst, float_ptr(chain.x),
                            float_ptr(self.d), n, buffers=(chain.x, self.d))
        self._run_s = bound_call(self._s, lib.anc_fir_f32, self._s._inst, float_ptr(chain.y),
                            float_ptr(self.s), n, buffers=(chain.y, self.s))

    def inject(self, change: InjectSound, now_sample: int) -> None:
        sound = emergency_sounds.emergency_sound(change.cls, change.seconds, self.fs,
                                                 change.seed, change.kind)
        on = sound.signal[sound.on].astype(np.float64)
        gain = LEVEL_RMS * 10 ** (change.snr_db / 20) / float(np.sqrt(np.mean(on**2)))
        start = now_sample if change.at_s is None else int(round(change.at_s * self.fs))
        self._inject.append((max(start, now_sample), (gain * sound.signal).astype(np.float32)))

    def capture(self) -> bool:
        x = self.chain.x
        np.copyto(x, self._views[self._k])
        self._k += 1
        if self._k == len(self._views):
            self._k = 0
        if self._inject:
            self._mix(x)
        self.sample += self.block
        self._run_p()
        return True

    def _mix(self, x: FloatArray) -> None:
        lo, hi = self.sample, self.sample + self.block
        keep = []
        for start, sig in self._inject:
            a, b = max(lo, start), min(hi, start + len(sig))
            if a < b:
                x[a - lo:b - lo] += sig[a - start:b - start]
            if start + len(sig) > hi:
                keep.append((start, sig))
        self._inject = keep

    def play(self) -> None:
        self._run_s()
        np.add(self.d, self.s, out=self.chain.e)


def read_wav(path: Path, fs: int, min_channels: int = 1) -> np.ndarray:
    """(samples, channels) float32 in ±1 from a PCM or float WAV, with clear errors."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", scipy.io.wavfile.WavFileWarning)
            rate, data = scipy.io.wavfile.read(path, mmap=False)
    except FileNotFoundError:
        raise WavError(f"{path}: no such file") from None
    except UnboundLocalError:  # scipy: the RIFF chunk ends before its 'fmt ' or 'data' chunk
        raise WavError(f"{path}: truncated WAV header: the RIFF chunk ends before its "
                       "'fmt ' or 'data' chunk") from None
    except (EOFError, struct.error) as exc:
        raise WavError(f"{path}: truncated WAV header ({exc})") from None
    except (ValueError, OSError, wave.Error, IndexError) as exc:
        if "end of file" in str(exc):
            raise WavError(f"{path}: truncated WAV header ({exc})") from None
        raise WavError(f"{path}: not a usable WAV file ({exc})") from None
    for w in caught:  # unknown chunks are skipped (not our concern); a short file is an error
        if "EOF prematurely" in str(w.message):
            raise WavError(f"{path}: truncated sample data ({w.message})")
    if rate != fs:
        raise WavError(f"{path}: sample rate {rate} Hz, expected {fs} Hz")
    if data.ndim == 1:
        data = data[:, None]
    if data.shape[1] < min_channels:
        raise WavError(f"{path}: {data.shape[1]} channel(s), expected at least {min_channels} "
                       "(0: reference mic, 1: error mic)")
    if data.shape[0] == 0:
        raise WavError(f"{path}: no samples")
    kind = data.dtype
    if kind == np.uint8:
        out = (data.astype(np.float32) - 128.0) / 128.0
    elif kind.kind == "i":
        out = data.astype(np.float32) / float(np.iinfo(kind).max + 1)
    elif kind.kind == "f":
        out = data.astype(np.float32)
    else:
        raise WavError(f"{path}: unsupported sample type {kind}")
    if not np.all(np.isfinite(out)):
        bad = int(np.count_nonzero(~np.isfinite(out)))
        raise WavError(f"{path}: {bad} sample(s) are NaN or Inf")
    return out


class WavBackend(Backend):
    """Reference and error mic from a recording (ANC off); anti-noise to an output WAV."""

    name = "wav"

    def __init__(self, path: Path, fs: int, block: int, output: Path | None = None,
                 loop: bool = False, latency: int = DEFAULT_LATENCY) -> None:
        data = read_wav(path, fs, min_channels=2)
        n = data.shape[0] // block * block
        if n == 0:
            raise WavError(f"{path}: shorter than one block ({block} samples)")
        self.fs, self.block, self.loop, self.output = fs, block, loop, output
        self.ref = np.ascontiguousarray(data[:n, 0])
        self.err = np.ascontiguousarray(data[:n, 1])
        plant = make_plant(0, fs)
        self.latency = latency
        self.sec_path = estimate_secondary(plant.secondary, latency)
        self._s = Fir(end_to_end_secondary(plant.secondary, latency))
        self.s = np.zeros(block, np.float32)
        self._pos = 0
        self.frames = n
        self._out = np.zeros((n, 2), np.float32) if output is not None else None

    def attach(self, chain: DspChain) -> None:
        super().attach(chain)
        self._run_s = bound_call(self._s, lib.anc_fir_f32, self._s._inst, float_ptr(chain.y),
                            float_ptr(self.s), self.block, buffers=(chain.y, self.s))

    def capture(self) -> bool:
        if self._pos >= self.frames:
            if not self.loop:
                return False
            self._pos = 0
        np.copyto(self.chain.x, self.ref[self._pos:self._pos + self.block])
        return True

    def play(self) -> None:
        self._run_s()
        a = self._pos
        np.add(self.err[a:a + self.block], self.s, out=self.chain.e)
        if self._out is not None and a < len(self._out):
            self._out[a:a + self.block, 0] = self.chain.y
            self._out[a:a + self.block, 1] = self.chain.e
        self._pos += self.block

    def close(self) -> None:
        if self._out is not None and self.output is not None:
            scipy.io.wavfile.write(self.output, self.fs, self._out)
            self._out = None
