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
    (lambda p: write_bytes(p, b"RIFF\x24\x00\x00\x00WAVEfmt "), "truncated WAV header"),
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


def riff(raw: bytes, keep: int) -> bytes:
    """The first `keep` bytes of a WAV file, with the RIFF size patched to match."""
    cut = bytearray(raw[:keep])
    cut[4:8] = (keep - 8).to_bytes(4, "little")
    return bytes(cut)


@pytest.mark.parametrize("keep, message", [
    (12, "truncated WAV header: the RIFF chunk ends before its 'fmt ' or 'data' chunk"),
    (38, "truncated WAV header: the RIFF chunk ends before its 'fmt ' or 'data' chunk"),
    (20, "truncated WAV header"),
    (30, "truncated WAV header"),
])
def test_truncated_headers_name_the_file_and_the_problem(tmp_path: Path, keep: int,
                                                         message: str) -> None:
    src = tmp_path / "in.wav"
    recording(src, seconds=0.1)
    cut = write_bytes(tmp_path / "head.wav", riff(src.read_bytes(), keep))
    with pytest.raises(WavError, match=f"head.wav: {message}"):
        read_wav(cut, FS, 2)


def test_truncated_sample_data_is_an_error_not_a_shorter_recording(tmp_path: Path) -> None:
    src = tmp_path / "in.wav"
    recording(src, seconds=0.1)
    raw = src.read_bytes()
    cut = write_bytes(tmp_path / "short.wav", raw[:len(raw) - 800])  # whole frames missing
    with pytest.raises(WavError, match="short.wav: truncated sample data"):
        read_wav(cut, FS, 2)


@pytest.mark.parametrize("rate, channels, message", [
    (44_100, 2, "sample rate 44100 Hz, expected 48000 Hz"),
    (FS, 1, "1 channel"),
])
def test_wrong_format_names_the_file_and_the_problem(tmp_path: Path, rate: int, channels: int,
                                                     message: str) -> None:
    path = tmp_path / "fmt.wav"
    scipy.io.wavfile.write(path, rate, np.zeros((4800, channels), np.float32))
    with pytest.raises(WavError, match=f"fmt.wav: {message}"):
        read_wav(path, FS, 2)


@pytest.mark.parametrize("content", [b"", b"RIFX", b"\x00" * 64, b"ID3\x03" + bytes(200)])
def test_non_wav_bytes_name_the_file(tmp_path: Path, content: bytes) -> None:
    path = write_bytes(tmp_path / "noise.wav", content)
    with pytest.raises(WavError, match="noise.wav: "):
        read_wav(path, FS, 2)
