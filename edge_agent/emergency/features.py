"""Per-frame spectral features of the emergency-sound detector (vectorized over frames).

Every hop the detector takes one Hann-windowed frame (≈21 ms, 1024 samples at 48 kHz),
and this module turns frames into one *candidate* per class:

1. Level spectrum L[k] in dB up to 5 kHz.
2. Salience S[k] = L[k] − mean(L over bins k±3..k±8): how far a bin stands above its
   spectral neighbourhood. Broadband noise of any colour gives S ≈ 0 ± a few dB; a tone at
   0 dB broadband SNR stands 20–30 dB out. Salient peaks are local maxima with S above the
   threshold (`salience_db`).
3. A peak is an *overtone* if a salient peak ≥ 250 Hz sits at 1/2 … 1/10 of its frequency,
   and *dense* if salient peaks sit 2–7 bins (≈90–330 Hz) on both sides — the comb of a
   voice or an engine, not a siren or an alarm.
4. Candidates (bin, salience, novelty) per frame:
   - siren: the most salient peak 560–1850 Hz that is neither an overtone nor dense,
   - alarm: the same for 1900–4500 Hz (beeps, bells),
   - horn: the best harmonic stack with f0 at 280–560 Hz: the fundamental or the 2nd
     harmonic and at least 4 of the first 8 harmonics salient. Partials of a frame's
     horn stack are not siren/alarm candidates.
   The runner-up siren peak is kept too (a voice may outshine a siren for a frame).
   Candidates far below the frame's strongest bin (leakage in an empty band) are dropped.
   A candidate is *novel* if its bin has not been salient in the recent background (an
   average of clipped salience: the running mean over the first `background_s`, then an
   exponential average with that time constant). Stationary machine tones (fans, engines)
   are therefore never onsets.

The same function runs on one frame per hop (streaming) or on many frames at once
(offline), so both paths take identical decisions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

NONE = -1  # candidate bin value for "no candidate in this frame"

SIREN_BAND_HZ = (560.0, 1850.0)
ALARM_BAND_HZ = (1900.0, 4500.0)
HORN_F0_BAND_HZ = (280.0, 560.0)
TOP_HZ = 5000.0
MIN_SUBHARMONIC_HZ = 250.0
NEIGHBOUR_NEAR, NEIGHBOUR_FAR = 3, 8  # salience neighbourhood, bins either side
DENSE_NEAR, DENSE_FAR = 2, 7  # comb spacing counted as "dense", bins
MAX_OVERTONE = 6
OVERTONE_TOLERANCE = 0.02
HORN_GRID_HZ = (140.0, 560.0, 2.5)  # f0 candidates; below 280 Hz only for the octave check
HORN_HARMONICS = 8
HORN_OCTAVE_MARGIN_DB = 3.0
HORN_CLIP_DB = 20.0  # per-harmonic cap in the stack score
HORN_PARTIAL_DB = 6.0  # a harmonic counts as present above this salience
HORN_MIN_PARTIALS = 4  # of HORN_HARMONICS
AUDIBLE_RANGE_DB = 60.0  # candidates this far below the frame's strongest bin are ignored


def frame_sizes(fs: int) -> tuple[int, int]:
    """(window, hop) in samples: the largest power of two ≤ 23.5 ms, and half of it."""
    win = 1 << int(np.floor(np.log2(0.0235 * fs)))
    return win, win // 2


@dataclass
class Candidates:
    """One row per frame; bins are NONE (-1) where a frame has no candidate."""

    bins: np.ndarray  # (n, 4) int: siren, alarm, horn (its f0), runner-up siren peak
    hz: np.ndarray  # (n, 4) float: refined frequency (horn: f0)
    salience: np.ndarray  # (n, 4) float dB (horn: stack score)
    level: np.ndarray  # (n, 4) float dB: level of the candidate's bin (horn: of f0)
    novel: np.ndarray  # (n, 4) bool


CLASS_ORDER = ("siren", "alarm", "horn")


class FrameAnalyzer:
    """Turns windowed frames into per-class candidates; owns the background state."""

    def __init__(self, fs: int, salience_db: float = 13.0, horn_db: float = 7.0,
                 novelty_db: float = 8.0, background_s: float = 3.0) -> None:
        self.fs = fs
        self.win, self.hop = frame_sizes(fs)
        self.window = np.hanning(self.win + 2)[1:-1]  # strictly positive Hann
        self.bin_hz = fs / self.win
        self.salience_db = salience_db
        self.horn_db = horn_db
        self.novelty_db = novelty_db
        self.n_bins = int(TOP_HZ / self.bin_hz) + NEIGHBOUR_FAR + 1
        self.decay = float(np.exp(-self.hop / (background_s * fs)))
        self.background = np.zeros(self.n_bins)  # average of max(S, 0), per bin
        self.learn_frames = int(np.ceil(background_s * fs / self.hop))
        self.seen = 0  # frames analysed

        def band(lo_hz: float, hi_hz: float) -> slice:
            return slice(int(np.ceil(lo_hz / self.bin_hz)), int(hi_hz / self.bin_hz) + 1)

        self.siren_band = band(*SIREN_BAND_HZ)
        self.alarm_band = band(*ALARM_BAND_HZ)
        self.horn_band = band(*HORN_F0_BAND_HZ)
        self.min_sub_bin = int(np.ceil(MIN_SUBHARMONIC_HZ / self.bin_hz))
        lo, hi, step = HORN_GRID_HZ
        self.horn_grid = np.arange(lo, hi + step / 2, step)
        self.horn_first = int(np.searchsorted(self.horn_grid, HORN_F0_BAND_HZ[0]))
        # Bins of harmonics 1..H of each f0 (repeating the top one past TOP_HZ keeps the mean
        # over H columns well defined; such f0s are in the top of the band only).
        harmonics = np.arange(1, HORN_HARMONICS + 1)
        h_hz = np.minimum(self.horn_grid[:, None] * harmonics[None, :], TOP_HZ)
        self.horn_index = np.rint(h_hz / self.bin_hz).astype(np.int64)
        self.horn_half_index = np.clip(
            np.rint((self.horn_grid / 2 - lo) / step).astype(np.int64), 0, None)

    def reset(self) -> None:
        self.background[:] = 0.0
        self.seen = 0

    # --- spectra -------------------------------------------------------------------------

    def spectrum_db(self, frames: np.ndarray) -> np.ndarray:
        """(n, win) raw frames → (n, n_bins) level in dB (window applied here)."""
        spec = np.fft.rfft(frames * self.window, axis=1)[:, : self.n_bins]
        power = spec.real**2 + spec.imag**2
        return 10.0 * np.log10(power + 1e-20)

    def salience(self, level: np.ndarray) -> np.ndarray:
        """L[k] minus the mean level of bins k±NEAR..k±FAR (reflected at the edges)."""
        far, near = NEIGHBOUR_FAR, NEIGHBOUR_NEAR
        padded = np.pad(level, ((0, 0), (far, far)), mode="reflect")
        c = np.concatenate([np.zeros((len(level), 1)), np.cumsum(padded, axis=1)], axis=1)
        k = np.arange(self.n_bins) + far  # index of bin k in `padded`
        lower = c[:, k - near + 1] - c[:, k - far]  # bins k-far .. k-near
        upper = c[:, k + far + 1] - c[:, k + near]  # bins k+near .. k+far
        return level - (lower + upper) / (2 * (far - near + 1))

    # --- candidates ----------------------------------------------------------------------

    def analyse(self, frames: np.ndarray) -> Candidates:
        """Candidates of consecutive frames (n, win); advances the background state."""
        level = self.spectrum_db(frames)
        sal = self.salience(level)
        n = len(sal)
        rows = np.arange(n)[:, None]
        peak = np.zeros_like(sal, dtype=bool)
        peak[:, 1:-1] = (level[:, 1:-1] >= level[:, :-2]) & (level[:, 1:-1] > level[:, 2:])
        strong = peak & (sal > self.salience_db)
        freq = self._peak_frequencies(level)

        overtone = self._overtones(strong, freq)
        counts = np.concatenate([np.zeros((n, 1)), np.cumsum(strong, axis=1)], axis=1)
        kk = np.arange(self.n_bins)
        lo_a, lo_b = np.clip(kk - DENSE_FAR, 0, None), np.clip(kk - DENSE_NEAR + 1, 0, None)
        hi_a = np.clip(kk + DENSE_NEAR, None, self.n_bins)
        hi_b = np.clip(kk + DENSE_FAR + 1, None, self.n_bins)
        dense = (((counts[:, lo_b] - counts[:, lo_a]) > 0)
                 & ((counts[:, hi_b] - counts[:, hi_a]) > 0))

        bins = np.full((n, 4), NONE, dtype=np.int64)
        hz = np.zeros((n, 4))
        best_sal = np.zeros((n, 4))
        horn_bin, horn_grid, horn_score = self._horn(sal)
        horn_hz = np.where(horn_bin != NONE, self.horn_grid[horn_grid], 0.0)
        # Partials of a detected horn stack are not tones of their own.
        f0 = np.where(horn_bin != NONE, self.horn_grid[horn_grid], np.inf)[:, None]
        multiple = np.rint(freq / f0)  # 0 where there is no horn (f0 = inf)
        near = np.abs(freq - multiple * np.where(np.isfinite(f0), f0, 0.0))
        of_horn = (multiple >= 1) & (near <= OVERTONE_TOLERANCE * freq)
        single = strong & ~overtone & ~dense & ~of_horn
        for column, band in ((0, self.siren_band), (1, self.alarm_band)):
            b, s = _best(single[:, band], sal[:, band])
            bins[:, column] = np.where(b == NONE, NONE, b + band.start)
            best_sal[:, column] = s
            hz[:, column] = np.where(b == NONE, 0.0,
                                     freq[rows[:, 0], np.clip(bins[:, column], 0, None)])
        bins[:, 2], hz[:, 2], best_sal[:, 2] = horn_bin, horn_hz, horn_score
        # The runner-up siren peak (two bins away at least): in babble a voice's formant
        # may win a frame, and the siren's run continues through its own peak.
        taken = np.zeros_like(single)
        b0 = np.clip(bins[:, 0], 0, None)
        for off in (-1, 0, 1):
            taken[rows[:, 0], np.clip(b0 + off, 0, self.n_bins - 1)] = bins[:, 0] != NONE
        band = self.siren_band
        b, s_alt = _best((single & ~taken)[:, band], sal[:, band])
        bins[:, 3] = np.where((b == NONE) | (bins[:, 0] == NONE), NONE, b + band.start)
        best_sal[:, 3] = s_alt
        hz[:, 3] = np.where(bins[:, 3] == NONE, 0.0, freq[rows[:, 0], np.clip(bins[:, 3], 0, None)])

        background_before = self._advance_background(sal)
        bg_wide = _dilate_max(background_before, 1)
        novel = (bins != NONE) & (bg_wide[rows, np.clip(bins, 0, None)] < self.novelty_db)
        # A horn is new when its stack as a whole was not in the background.
        stack_bg = background_before[rows, self.horn_index[horn_grid]].mean(axis=1)
        novel[:, 2] = (horn_bin != NONE) & (stack_bg < self.novelty_db)
        cand_level = np.where(bins != NONE, level[rows, np.clip(bins, 0, None)], 0.0)
        # Peaks far below the frame's strongest bin are window leakage or rounding noise
        # in an empty band (e.g. above an engine's harmonics), not sounds.
        faint = (bins != NONE) & (cand_level < level.max(axis=1, keepdims=True) - AUDIBLE_RANGE_DB)
        bins[faint] = NONE
        novel &= ~faint
        cand_level = np.where(faint, 0.0, cand_level)
        return Candidates(bins, hz, best_sal, cand_level, novel)

    def _peak_frequencies(self, level: np.ndarray) -> np.ndarray:
        """Frequency of each bin refined by parabolic interpolation of the dB spectrum."""
        a, b, c = level[:, :-2], level[:, 1:-1], level[:, 2:]
        denom = a - 2 * b + c
        safe = np.where(np.abs(denom) > 1e-9, denom, -1.0)
        delta = np.clip(0.5 * (a - c) / safe, -0.5, 0.5)
        delta = np.where(np.abs(denom) > 1e-9, delta, 0.0)
        out = np.arange(level.shape[1], dtype=np.float64) * self.bin_hz
        out = np.broadcast_to(out, level.shape).copy()
        out[:, 1:-1] += delta * self.bin_hz
        return out

    def _overtones(self, strong: np.ndarray, freq: np.ndarray) -> np.ndarray:
        """True where a salient peak ≥ 250 Hz lies at f/m (m = 2..MAX_OVERTONE) within 2 %."""
        n = len(strong)
        rows = np.arange(n)[:, None]
        tol = np.maximum(OVERTONE_TOLERANCE * freq, 0.25 * self.bin_hz)
        eligible = strong.copy()
        eligible[:, : self.min_sub_bin] = False
        out = np.zeros_like(strong)
        for m in range(2, MAX_OVERTONE + 1):
            centre = np.rint(freq / (m * self.bin_hz)).astype(np.int64)
            for offset in (-1, 0, 1):
                j = np.clip(centre + offset, 0, self.n_bins - 1)
                out |= eligible[rows, j] & (np.abs(m * freq[rows, j] - freq) <= tol)
        return out

    def _horn(self, sal: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Best harmonic stack with f0 in the horn band: (bin of f0, grid index, score dB).

        The score of a candidate f0 is the mean salience (each capped at HORN_CLIP_DB) at
        its first HORN_HARMONICS harmonics, at least HORN_MIN_PARTIALS of which must stand
        out. A stack whose half-f0 scores as well is the upper part of a lower comb (a
        voice, an engine) and does not count.
        """
        at_harmonics = sal[:, self.horn_index]  # (n, grid, harmonics)
        # Clip each harmonic's share so that one loud tone cannot pose as a stack.
        scores = np.minimum(at_harmonics, HORN_CLIP_DB).mean(axis=2)
        salient = (at_harmonics > HORN_PARTIAL_DB).sum(axis=2)
        half = scores[:, self.horn_half_index]
        in_band = scores[:, self.horn_first:]
        # Horns have strong low partials: the fundamental or the 2nd harmonic must show
        # (noise in the horn band can mask one of them at 0 dB SNR).
        low = (at_harmonics[:, self.horn_first:, 0] > HORN_PARTIAL_DB) \
            | (at_harmonics[:, self.horn_first:, 1] > HORN_PARTIAL_DB)
        ok = (low & (in_band > self.horn_db) & (salient[:, self.horn_first:] >= HORN_MIN_PARTIALS)
              & (half[:, self.horn_first:] < in_band - HORN_OCTAVE_MARGIN_DB))
        masked = np.where(ok, in_band, -np.inf)
        best = np.argmax(masked, axis=1)
        score = masked[np.arange(len(sal)), best]
        found = np.isfinite(score)
        grid = self.horn_first + best
        bins = np.where(found, np.rint(self.horn_grid[grid] / self.bin_hz).astype(np.int64), NONE)
        return bins, grid, np.where(found, score, 0.0)

    def _advance_background(self, sal: np.ndarray) -> np.ndarray:
        """Background as it was *before* each frame; updates the stored state.

        For the first `background_s` seconds it is the running mean of all frames so far
        (a scene's standing tones are learned within a few frames), then an exponential
        average with that time constant.
        """
        x = np.clip(sal, 0.0, None)
        n = len(x)
        after = np.empty_like(x)
        learn = min(n, max(0, self.learn_frames - self.seen))
        if learn:
            counts = self.seen + np.arange(1, learn + 1)
            sums = self.background * self.seen + np.cumsum(x[:learn], axis=0)
            after[:learn] = sums / counts[:, None]
        if learn < n:
            a = self.decay
            start = after[learn - 1] if learn else self.background
            after[learn:], _ = signal.lfilter([1.0 - a], [1.0, -a], x[learn:], axis=0,
                                              zi=(a * start)[None, :])
        before = np.concatenate([self.background[None, :], after[:-1]], axis=0)
        self.background[:] = after[-1]
        self.seen += n
        return before


def _best(mask: np.ndarray, sal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: index of the most salient True bin (NONE if none) and its salience."""
    masked = np.where(mask, sal, -np.inf)
    idx = np.argmax(masked, axis=1)
    val = masked[np.arange(len(mask)), idx]
    found = np.isfinite(val)
    return np.where(found, idx, NONE), np.where(found, val, 0.0)


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    out = mask.copy()
    for d in range(1, r + 1):
        out[:, d:] |= mask[:, :-d]
        out[:, :-d] |= mask[:, d:]
    return out


def _dilate_max(x: np.ndarray, r: int) -> np.ndarray:
    out = x.copy()
    for d in range(1, r + 1):
        np.maximum(out[:, d:], x[:, :-d], out=out[:, d:])
        np.maximum(out[:, :-d], x[:, d:], out=out[:, :-d])
    return out
