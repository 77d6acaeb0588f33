"""The wav backend: a recording in, anti-noise and the modelled ear out; bad files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile
from scipy import signal

from dsp_c.sim.plant import make_plant
from dsp_c.sim.scenes import scene
from edge_agent.audio.backends import WavBackend, WavError, read_wav
from edge_agent.audio.engine import InlineEngine, ProcessEngine
from edge_agent.config import AudioConfig, EmergencyConfig, WavAudioConfig

FS = 48_000


def recording(path: Path, seconds: float = 4.0, dtype: str = "float32") -> np.ndarray:
    """Reference mic and error mic (ANC off: the noise through the primary path)."""
    x = scene("fan", seconds, FS, seed=3)
    d = signal.lfilter(make_plant(0).primary, [1.0], x).astype(np.float32)
    data = np.stack([x, d], axis=1)
    if dtype == "int16":
        data = np.round(np.clip(data, -1, 1) * 32767).astype(np.int16)
    scipy.io.wavfile.write(path, FS, data)
    return data


def wav_engine(path: Path, output: Path | None = None, loop: bool = False) -> InlineEngine:
    audio = AudioConfig(backend="wav", mu=0.02, wav=WavAudioConfig(path, output, loop))
    return InlineEngine(audio, EmergencyConfig())


@pytest.mark.parametrize("dtype", ["float32", "int16"])
def test_recording_through_the_loop_writes_anti_noise_and_ear(tmp_path: Path,
                                                              dtype: str) -> None:
    src, out = tmp_path / "in.wav", tmp_path / "out.wav"
    data = recording(src, dtype=dtype)
    eng = wav_engine(src, out)
    blocks = eng.run()  # to the end of the file
    eng.stop()
    assert blocks == len(data) // 32
    assert eng.state.get("finished") == 1
    rate, result = scipy.io.wavfile.read(out)
    assert rate == FS and result.shape == (len(data) // 32 * 32, 2)
    y, e = result[:, 0].astype(np.float64), result[:, 1].astype(np.float64)
    d = read_wav(src, FS)[: len(e), 1].astype(np.float64)
    tail = slice(len(e) // 2, len(e))
    att = 10 * np.log10(np.mean(d[tail] ** 2) / np.mean(e[tail] ** 2))
    assert att > 20.0  # the modelled ear is quieter with the anti-noise
    assert np.max(np.abs(y)) > 0.0


def test_loop_option_replays_the_file(tmp_path: Path) -> None:
    src = tmp_path / "in.wav"
    data = recording(src, seconds=0.5)
    eng = wav_engine(src, loop=True)
    assert eng.run(3 * len(data) // 32) == 3 * len(data) // 32


def write_bytes(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: write_bytes(p, b"not a wav file at all, just text"), "not a usable WAV file"),
    (lambda p: write_bytes(p, b"RIFF\x24\x00\x00\x00WAVEfmt "), "not a usable WAV file"),
    (lambda p: scipy.io.wavfile.write(p, 44100, np.zeros((4800, 2), np.float32)) or p,
     "sample rate 44100 Hz, expected 48000 Hz"),
    (lambda p: scipy.io.wavfile.write(p, FS, np.zeros(4800, np.float32)) or p,
     "1 channel"),
    (lambda p: scipy.io.wavfile.write(p, FS, np.full((4800, 2), np.nan, np.float32)) or p,
     "NaN or Inf"),
    (lambda p: scipy.io.wavfile.write(p, FS, np.zeros((10, 2), np.float32)) or p,
     "shorter than one block"),
    (lambda p: p, "no such file"),
])
def test_bad_wav_files_give_clear_errors(tmp_path: Path, make: Callable[[Path], object],
                                         message: str) -> None:
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(WavError, match=message) as info:
        WavBackend(path, FS, 32)
    assert str(path) in str(info.value)


def test_truncated_wav_is_an_error_not_a_crash(tmp_path: Path) -> None:
    src = tmp_path / "in.wav"
    recording(src, seconds=0.2)
    raw = src.read_bytes()
    cut = write_bytes(tmp_path / "cut.wav", raw[:30])
    with pytest.raises(WavError, match="cut.wav"):
        WavBackend(cut, FS, 32)


def test_the_real_time_engine_checks_the_file_before_starting(tmp_path: Path) -> None:
    bad = write_bytes(tmp_path / "bad.wav", b"garbage")
    audio = AudioConfig(backend="wav", wav=WavAudioConfig(bad))
    with pytest.raises(WavError, match="bad.wav"):
        ProcessEngine(audio, EmergencyConfig())
