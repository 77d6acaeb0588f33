"""ALSA hardware through `sounddevice` (PortAudio): the optional `alsa` extra.

    pip install 'anc-platform[alsa]'   # and the system's libportaudio2

`list_devices()` names the duplex-capable devices. `AlsaBackend` opens one full-duplex
stream: input channel 0 is the reference mic, input channel 1 the error mic, output
channel 0 the anti-noise. The stream's blocking read paces the loop (the hardware clock).
On a real headset the secondary path must be measured on the device; until then the
controller uses the simulator's model (see README.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dsp_c.sim.plant import estimate_secondary, make_plant
from edge_agent.audio.backends import DEFAULT_LATENCY, Backend
from edge_agent.audio.chain import DspChain


class AlsaUnavailableError(RuntimeError):
    """sounddevice or the PortAudio library is not installed."""


def _sounddevice() -> Any:
    try:
        import sounddevice
    except ImportError:
        raise AlsaUnavailableError(
            "the alsa backend needs the optional dependency sounddevice: "
            "pip install 'anc-platform[alsa]'") from None
    except OSError as exc:  # sounddevice imports, but libportaudio is missing
        raise AlsaUnavailableError(
            f"the alsa backend needs the PortAudio library (apt install libportaudio2): {exc}"
        ) from None
    return sounddevice


def check_available() -> None:
    """Raise AlsaUnavailableError with the fix when the backend cannot be used."""
    _sounddevice()


def list_devices() -> list[dict[str, Any]]:
    """Devices with at least 2 input and 1 output channels: index, name, channels, rate."""
    sd = _sounddevice()
    out = []
    for i, dev in enumerate(sd.query_devices()):
        if dev["max_input_channels"] >= 2 and dev["max_output_channels"] >= 1:
            out.append({"index": i, "name": dev["name"],
                        "inputs": dev["max_input_channels"],
                        "outputs": dev["max_output_channels"],
                        "default_samplerate": dev["default_samplerate"]})
    return out


class AlsaBackend(Backend):
    """A full-duplex PortAudio stream, one block per read/write."""

    name = "alsa"

    def __init__(self, device: str, fs: int, block: int) -> None:
        sd = _sounddevice()
        self.fs, self.block = fs, block
        self.latency = DEFAULT_LATENCY
        self.sec_path = estimate_secondary(make_plant(0, fs).secondary, DEFAULT_LATENCY)
        self._stream = sd.Stream(device=None if device == "default" else device,
                                 samplerate=fs, blocksize=block, channels=(2, 1),
                                 dtype="float32", latency="low")
        self._in = np.zeros((block, 2), np.float32)
        self._stream.start()
        self.overflows = 0

    def attach(self, chain: DspChain) -> None:
        super().attach(chain)
        self._out = chain.y.reshape(-1, 1)

    def wait(self) -> None:
        data, overflowed = self._stream.read(self.block)
        self._in[:] = data
        self.overflows += int(overflowed)

    def capture(self) -> bool:
        np.copyto(self.chain.x, self._in[:, 0])
        return True

    def play(self) -> None:
        self._stream.write(self._out)
        np.copyto(self.chain.e, self._in[:, 1])

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()
