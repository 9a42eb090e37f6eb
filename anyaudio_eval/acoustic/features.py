"""Signal measurements on one clip (mono float32, 16 kHz), computed lazily with numpy and scipy.

Every measurement is a cached property of :class:`ClipFeatures`, so answering many rubric items about
one clip costs one pass per measurement. The signal measurements load no model; the speech tools
(silero VAD, Whisper ASR; see :mod:`.speech`) run only when given and only when a question needs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from anyaudio_eval.constants import SAMPLE_RATE

if TYPE_CHECKING:
    from anyaudio_eval.acoustic.speech import SpeechTools, Transcript

SR = SAMPLE_RATE
HOP = 160  # 10 ms analysis hop for energy, pitch and envelope features
WIN = 400  # 25 ms energy window
FRAME_RATE = SR / HOP

# Krumhansl-Kessler key profiles (C as tonic)
_KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
PITCH_CLASSES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


@dataclass(frozen=True)
class PitchStats:
    median_hz: float | None
    range_semitones: float | None
    voiced_ratio: float  # voiced frames / non-silent frames
    n_voiced: int


@dataclass(frozen=True)
class KeyEstimate:
    tonic: str
    mode: str  # "major" | "minor"
    correlation: float
    scores: dict[str, float]  # "C major" -> correlation, 24 entries

    @property
    def name(self) -> str:
        return f"{self.tonic} {self.mode}"


def _frames(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    """Frames of ``length`` samples every ``hop`` samples (zero-padded at the end), shape [n, length]."""
    n = max(1, int(np.ceil(len(x) / hop)))
    need = (n - 1) * hop + length
    if len(x) < need:
        x = np.concatenate([x, np.zeros(need - len(x), dtype=x.dtype)])
    return np.lib.stride_tricks.sliding_window_view(x, length)[::hop][:n]


def _db(x: np.ndarray | float) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(x, 1e-12))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs where ``mask`` is True."""
    if mask.size == 0:
        return []
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


class ClipFeatures:
    """Lazily computed acoustic measurements of one mono clip."""

    SILENCE_FLOOR_DB = -55.0  # absolute frame-RMS floor (dBFS)
    SILENCE_REL_DB = 35.0  # frames more than this below the loud frames count as silence
    MIN_PAUSE_S = 0.2

    MIN_SPEECH_S = 0.3  # VAD speech shorter than this in total counts as no speech

    def __init__(self, wav: np.ndarray, sr: int = SR, tools: SpeechTools | None = None):
        if sr != SR:
            raise ValueError(f"ClipFeatures expects {SR} Hz audio, got {sr}; resample first")
        wav = np.asarray(wav, dtype=np.float32)
        if wav.ndim == 2:
            wav = wav.mean(axis=1 if wav.shape[1] <= 8 else 0)
        self.wav = np.nan_to_num(wav.astype(np.float64))
        self.sr = sr
        self.tools = tools

    # ------------------------------------------------------------------ speech tools (optional)
    @cached_property
    def vad_segments(self) -> list[tuple[float, float]] | None:
        """Speech regions (s) from silero VAD; None when VAD is off or not installed."""
        if self.tools is None or not self.tools.vad:
            return None
        from anyaudio_eval.acoustic.speech import speech_segments

        return speech_segments(self.wav.astype(np.float32))

    @cached_property
    def vad_speech_s(self) -> float | None:
        """Seconds of speech found by VAD; 0 for a steady, tuned tone, which silero sometimes takes for a
        voice (speech pitch glides and sits off the tuning grid)."""
        segs = self.vad_segments
        if segs is None:
            return None
        glide, dev = self.pitch_glide, self.tuning_deviation
        if glide is not None and dev is not None and glide < 0.015 and dev < 0.06:
            return 0.0
        return float(sum(e - s for s, e in segs))

    @cached_property
    def transcript(self) -> Transcript | None:
        """Whisper's transcript; None without ASR, and None when VAD hears no speech (Whisper invents words
        on music and noise, so it is not asked)."""
        if self.tools is None or self.tools.asr_model is None:
            return None
        if self.vad_speech_s is not None and self.vad_speech_s < self.MIN_SPEECH_S:
            return None
        from anyaudio_eval.acoustic.speech import transcribe

        return transcribe(self.wav.astype(np.float32), self.tools.asr_model)

    # ------------------------------------------------------------------ basic / energy
    @cached_property
    def duration(self) -> float:
        return len(self.wav) / self.sr

    @cached_property
    def frame_db(self) -> np.ndarray:
        fr = _frames(self.wav, WIN, HOP)
        return _db(np.mean(fr**2, axis=1))

    @cached_property
    def silence_threshold_db(self) -> float:
        if self.frame_db.size == 0:
            return self.SILENCE_FLOOR_DB
        loud = float(np.percentile(self.frame_db, 95))
        return max(self.SILENCE_FLOOR_DB, loud - self.SILENCE_REL_DB)

    @cached_property
    def active(self) -> np.ndarray:
        """Per 10 ms frame: not silent. Short gaps (<60 ms) are bridged."""
        act = self.frame_db > self.silence_threshold_db
        for s, e in _runs(~act):
            if e - s < 6 and s > 0 and e < len(act):
                act[s:e] = True
        return act

    @cached_property
    def is_silent(self) -> bool:
        return bool(self.frame_db.size == 0 or np.max(self.frame_db) < self.SILENCE_FLOOR_DB)

    @cached_property
    def silence(self) -> dict[str, float]:
        """Leading, trailing, total silence and the longest internal pause, in seconds."""
        act = self.active
        if self.is_silent or not act.any():
            d = self.duration
            return {"leading": d, "trailing": d, "total": d, "longest_pause": 0.0, "n_pauses": 0}
        idx = np.flatnonzero(act)
        lead = idx[0] / FRAME_RATE
        trail = max(0.0, self.duration - (idx[-1] + 1) / FRAME_RATE)
        total = float((~act).sum() / FRAME_RATE)
        inner = [(e - s) / FRAME_RATE for s, e in _runs(~act[idx[0] : idx[-1] + 1])]
        inner = [p for p in inner if p >= self.MIN_PAUSE_S]
        return {
            "leading": float(lead),
            "trailing": float(trail),
            "total": min(total, self.duration),
            "longest_pause": float(max(inner, default=0.0)),
            "n_pauses": len(inner),
        }

    @cached_property
    def active_duration(self) -> float:
        return float(self.active.sum() / FRAME_RATE)

    @cached_property
    def loudness_lufs(self) -> float | None:
        """Integrated loudness (ITU-R BS.1770-4). None for digital silence or clips under 0.4 s."""
        if self.duration < 0.4 or self.is_silent:
            return None
        import pyloudnorm

        val = float(pyloudnorm.Meter(self.sr).integrated_loudness(self.wav))
        return val if np.isfinite(val) else None

    @cached_property
    def peak_dbfs(self) -> float:
        return float(20 * np.log10(max(np.max(np.abs(self.wav)) if self.wav.size else 0.0, 1e-9)))

    @cached_property
    def energy_trend(self) -> dict[str, float]:
        """Loudness change over the clip: dB difference last third vs first third of the active span,
        and the slope of a line fitted to frame dB (dB per second)."""
        db = self.frame_db
        act = np.flatnonzero(db > self.SILENCE_FLOOR_DB)
        if act.size < 10:
            return {"first_db": float("nan"), "second_db": float("nan"), "delta_db": 0.0, "slope_db_s": 0.0}
        seg = np.maximum(db[act[0] : act[-1] + 1], -80.0)
        n = len(seg)
        third = max(1, n // 3)
        # energy mean (not dB mean) of each part, so a few loud events dominate as they do to the ear
        first = float(_db(np.mean(10 ** (seg[:third] / 10))))
        last = float(_db(np.mean(10 ** (seg[-third:] / 10))))
        half = n // 2
        h1 = float(_db(np.mean(10 ** (seg[:half] / 10))))
        h2 = float(_db(np.mean(10 ** (seg[half:] / 10))))
        t = np.arange(n) / FRAME_RATE
        slope = float(np.polyfit(t, seg, 1)[0]) if n > 2 else 0.0
        return {"first_db": h1, "second_db": h2, "delta_db": last - first, "slope_db_s": slope}

    # ------------------------------------------------------------------ spectrum
    @cached_property
    def _stft_mag(self) -> np.ndarray:
        """Magnitude STFT, n_fft 1024, hop 80 (5 ms), Hann; shape [frames, 513]."""
        n_fft, hop = 1024, 80
        x = np.concatenate([np.zeros(n_fft // 2), self.wav, np.zeros(n_fft // 2)])
        fr = _frames(x, n_fft, hop)
        return np.abs(np.fft.rfft(fr * np.hanning(n_fft), axis=1))

    @cached_property
    def _stft_active(self) -> np.ndarray:
        mag = self._stft_mag
        e = _db(np.mean(mag**2, axis=1))
        return e > (np.max(e) - 45.0) if e.size else np.zeros(0, bool)

    @cached_property
    def spectral_centroid_hz(self) -> float | None:
        mag = self._stft_mag[self._stft_active]
        if mag.size == 0:
            return None
        freqs = np.fft.rfftfreq(1024, 1 / self.sr)
        power = mag**2
        c = (power @ freqs) / np.maximum(power.sum(axis=1), 1e-12)
        w = power.sum(axis=1)
        return float(np.sum(c * w) / np.sum(w))

    @cached_property
    def spectral_flatness(self) -> float | None:
        """Median spectral flatness (geometric / arithmetic mean of power, 60 Hz-7.5 kHz) of active frames."""
        mag = self._stft_mag[self._stft_active]
        if mag.size == 0:
            return None
        band = mag[:, 4:480] ** 2 + 1e-12
        flat = np.exp(np.mean(np.log(band), axis=1)) / np.mean(band, axis=1)
        return float(np.median(flat))

    @staticmethod
    def _fine_flatness(mag: np.ndarray) -> np.ndarray:
        """Per-frame flatness of the spectral fine structure (power / its 17-bin moving average) over the
        occupied band (bins within 40 dB of the frame's smoothed maximum). Noise of any colour reads about
        0.56 (exponential bins); harmonic or tonal frames read much lower."""
        if mag.size == 0:
            return np.zeros(0)
        pw = mag[:, 4:480] ** 2 + 1e-12
        k = np.ones(17) / 17
        from scipy.ndimage import convolve1d

        smooth = convolve1d(pw, k, axis=1, mode="nearest")
        fine = pw / smooth
        occ = 10 * np.log10(smooth) > (10 * np.log10(smooth.max(axis=1, keepdims=True)) - 40)
        logf = np.where(occ, np.log(fine), 0.0)
        n = np.maximum(occ.sum(axis=1), 1)
        return np.exp(logf.sum(axis=1) / n) / (np.where(occ, fine, 0.0).sum(axis=1) / n)

    @cached_property
    def noisiness(self) -> float | None:
        """Median fine-structure flatness of active frames (about 0.56 for noise, < 0.35 for tones/voices)."""
        mag = self._stft_mag[self._stft_active]
        if mag.size == 0:
            return None
        return float(np.median(self._fine_flatness(mag)))

    @cached_property
    def noise_floor(self) -> dict[str, float]:
        """Background level: 10th-percentile frame level, its distance below the 95th percentile (an SNR
        proxy) and the spectral flatness of the quietest frames (noise-like floor -> high)."""
        db = self.frame_db
        if db.size == 0 or self.is_silent:
            return {"floor_db": -120.0, "snr_db": 0.0, "floor_flatness": 0.0}
        p10 = float(np.percentile(db, 10))
        p95 = float(np.percentile(db, 95))
        mag = self._stft_mag
        e = _db(np.mean(mag**2, axis=1))
        quiet = e <= np.percentile(e, 20)
        flat = float(np.median(self._fine_flatness(mag[quiet]))) if quiet.any() else 0.0
        return {"floor_db": max(p10, -120.0), "snr_db": p95 - max(p10, -120.0), "floor_flatness": flat}

    @cached_property
    def dominant_freq_hz(self) -> float | None:
        """Frequency of the strongest peak of the mean power spectrum of active frames (40 Hz-7.5 kHz)."""
        mag = self._stft_mag[self._stft_active]
        if mag.size == 0:
            return None
        p = np.mean(mag**2, axis=0)
        lo, hi = 3, 480
        k = int(np.argmax(p[lo:hi]) + lo)
        a, b, c = np.log(p[k - 1] + 1e-20), np.log(p[k] + 1e-20), np.log(p[k + 1] + 1e-20)
        den = a - 2 * b + c
        shift = 0.5 * (a - c) / den if abs(den) > 1e-12 else 0.0
        return float((k + np.clip(shift, -0.5, 0.5)) * self.sr / 1024)

    # ------------------------------------------------------------------ pitch (YIN)
    @cached_property
    def _yin(self) -> tuple[np.ndarray, np.ndarray]:
        """Per 10 ms frame: F0 in Hz (0 = unvoiced) and aperiodicity (min CMNDF, 1 = none)."""
        fmin, fmax, w = 60.0, 1000.0, 640
        tmin, tmax = int(self.sr / fmax), int(np.ceil(self.sr / fmin))
        length = w + tmax
        x = self.wav
        fr = _frames(np.concatenate([x, np.zeros(length)]), length, HOP)[: len(self.frame_db)]
        if fr.shape[0] == 0:
            return np.zeros(0), np.ones(0)
        nfft = 1 << int(np.ceil(np.log2(length + w)))
        a = np.fft.rfft(fr[:, :w], nfft, axis=1)
        b = np.fft.rfft(fr, nfft, axis=1)
        r = np.fft.irfft(np.conj(a) * b, nfft, axis=1)[:, : tmax + 1]
        cs = np.concatenate([np.zeros((fr.shape[0], 1)), np.cumsum(fr**2, axis=1)], axis=1)
        e0 = cs[:, w][:, None]
        taus = np.arange(tmax + 1)
        et = cs[:, taus + w] - cs[:, taus]
        d = np.maximum(e0 + et - 2 * r, 0.0)
        d[:, 0] = 0.0
        cum = np.cumsum(d[:, 1:], axis=1)
        cmndf = np.ones_like(d)
        cmndf[:, 1:] = d[:, 1:] * taus[1:] / np.maximum(cum, 1e-12)
        seg = cmndf[:, tmin : tmax + 1]
        thr = 0.15
        below = seg < thr
        # first dip below threshold, then walk to its local minimum; else global minimum
        first = np.where(below.any(axis=1), below.argmax(axis=1), seg.argmin(axis=1))
        n_t = seg.shape[1]
        idx = first.copy()
        for _ in range(n_t):
            nxt = np.minimum(idx + 1, n_t - 1)
            move = seg[np.arange(len(idx)), nxt] < seg[np.arange(len(idx)), idx]
            if not move.any():
                break
            idx = np.where(move, nxt, idx)
        rows = np.arange(len(idx))
        ap = seg[rows, idx]
        # parabolic interpolation
        l_ = seg[rows, np.maximum(idx - 1, 0)]
        c_ = seg[rows, idx]
        r_ = seg[rows, np.minimum(idx + 1, n_t - 1)]
        den = l_ - 2 * c_ + r_
        shift = np.where(np.abs(den) > 1e-12, 0.5 * (l_ - r_) / np.where(den == 0, 1, den), 0.0)
        shift = np.clip(shift, -1, 1)
        tau = idx + tmin + shift
        f0 = self.sr / tau
        voiced = (ap < 0.25) & (self.frame_db > max(self.silence_threshold_db, -60.0))
        return np.where(voiced, f0, 0.0), ap

    @cached_property
    def f0_track(self) -> np.ndarray:
        return self._yin[0]

    @cached_property
    def pitch(self) -> PitchStats:
        f0 = self.f0_track
        v = f0[f0 > 0]
        n_act = max(int(self.active.sum()), 1)
        if v.size < 5:
            return PitchStats(None, None, float(v.size / n_act), int(v.size))
        semis = 12 * np.log2(v / np.median(v))
        rng = float(np.percentile(semis, 95) - np.percentile(semis, 5))
        return PitchStats(float(np.median(v)), rng, float(min(1.0, v.size / n_act)), int(v.size))

    @cached_property
    def tuning_deviation(self) -> float | None:
        """Mean absolute distance (semitones) of voiced F0 frames to the 12-TET grid (A4 = 440 Hz).
        Tuned instruments and tones sit near 0; speech glides and spreads to about 0.25."""
        v = self.f0_track[self.f0_track > 0]
        if v.size < 10:
            return None
        m = 12 * np.log2(v / 440.0)
        return float(np.mean(np.abs(m - np.round(m))))

    @cached_property
    def pitch_glide(self) -> float | None:
        """75th percentile of the absolute F0 change between consecutive voiced frames (semitones per 10 ms);
        speech glides (about 0.1 and more), held notes and tones stay near 0."""
        f0 = self.f0_track
        both = (f0[1:] > 0) & (f0[:-1] > 0)
        if both.sum() < 10:
            return None
        d = np.abs(12 * np.log2(f0[1:][both] / f0[:-1][both]))
        d = d[d < 2.0]  # ignore jumps (note changes, octave errors)
        return float(np.percentile(d, 75)) if d.size else None

    @cached_property
    def speech_band_ratio(self) -> float:
        """Share of active-frame energy in the 300-3400 Hz speech band."""
        mag = self._stft_mag[self._stft_active]
        if mag.size == 0:
            return 0.0
        f = np.fft.rfftfreq(1024, 1 / self.sr)
        pw = (mag**2).sum(axis=0)
        return float(pw[(f >= 300) & (f <= 3400)].sum() / max(pw.sum(), 1e-12))

    # ------------------------------------------------------------------ envelope / speech
    @cached_property
    def envelope(self) -> np.ndarray:
        """Speech-band (300-3400 Hz) amplitude envelope at 100 Hz, smoothed (~40 ms)."""
        from scipy.signal import butter, sosfiltfilt

        if len(self.wav) < 64:
            return np.zeros(len(self.frame_db))
        sos = butter(4, [300, 3400], btype="band", fs=self.sr, output="sos")
        y = sosfiltfilt(sos, self.wav) if len(self.wav) > 60 else self.wav
        e = np.sqrt(np.mean(_frames(y, WIN, HOP) ** 2, axis=1))
        k = np.hanning(7)
        return np.convolve(e, k / k.sum(), mode="same")[: len(self.frame_db)]

    @cached_property
    def modulation_ratio(self) -> float:
        """Share of envelope modulation energy in the syllabic 1-8 Hz band (of 0.3-20 Hz)."""
        e = self.envelope
        if e.size < 50 or np.max(e) <= 0:
            return 0.0
        le = _db(e**2 + 1e-10)
        le = np.maximum(le, np.max(le) - 50)
        le = le - np.mean(le)
        spec = np.abs(np.fft.rfft(le * np.hanning(len(le)))) ** 2
        f = np.fft.rfftfreq(len(le), 1 / FRAME_RATE)
        band = spec[(f >= 1) & (f <= 8)].sum()
        total = spec[(f >= 0.3) & (f <= 20)].sum()
        return float(band / total) if total > 0 else 0.0

    @cached_property
    def modulation_depth_db(self) -> float:
        """Typical envelope swing (dB, 90th - 10th percentile of the active span)."""
        e = self.envelope[self.active] if self.active.any() else self.envelope
        if e.size < 10:
            return 0.0
        le = _db(e**2 + 1e-10)
        return float(np.percentile(le, 90) - np.percentile(le, 10))

    @cached_property
    def speech_score(self) -> float:
        """Heuristic speech likelihood in [0, 1]: voiced but not sustained, syllabic modulation, gliding
        (untuned) pitch, harmonic not noisy. Pure tones, noise, clicks and drum loops stay low."""
        if self.is_silent or self.active_duration < 0.3:
            return 0.0
        p = self.pitch
        vr = p.voiced_ratio
        # voiced share: speech mixes voiced and unvoiced frames
        s_voiced = float(np.clip((vr - 0.1) / 0.15, 0, 1))
        # syllabic modulation
        s_mod = float(np.clip((self.modulation_ratio - 0.15) / 0.25, 0, 1)) * float(
            np.clip((self.modulation_depth_db - 6) / 10, 0, 1)
        )
        # intonation: speech glides and is off the tuning grid
        dev = self.tuning_deviation
        glide = self.pitch_glide
        s_tune = 0.0 if dev is None else float(np.clip((dev - 0.08) / 0.1, 0, 1))
        s_glide = 0.0 if glide is None else float(np.clip((glide - 0.03) / 0.05, 0, 1))
        s_int = s_glide * (0.6 + 0.4 * s_tune)
        s_band = float(np.clip((self.speech_band_ratio - 0.1) / 0.2, 0, 1))
        return float(s_voiced * s_mod * s_int * s_band)

    @cached_property
    def speech_present(self) -> bool:
        if self.vad_speech_s is not None:
            return self.vad_speech_s >= self.MIN_SPEECH_S
        return self.speech_score >= 0.35

    @cached_property
    def syllable_peaks(self) -> np.ndarray:
        """Frame indices of syllable nuclei: envelope peaks on voiced, non-silent frames."""
        from scipy.signal import find_peaks

        e = self.envelope
        if e.size < 10 or np.max(e) <= 0:
            return np.zeros(0, dtype=int)
        le = _db(e**2 + 1e-10)
        le = np.maximum(le, np.max(le) - 40)
        peaks, _ = find_peaks(le, prominence=3.0, distance=7)
        act = self.active
        keep = [pk for pk in peaks if act[min(pk, len(act) - 1)]]
        return np.asarray(keep, dtype=int)

    @cached_property
    def speaking_rate(self) -> float | None:
        """Syllables per second of speaking time (active time excluding pauses). None if no speech."""
        if not self.speech_present:
            return None
        t = self.active_duration
        if t < 0.5:
            return None
        return float(len(self.syllable_peaks) / t)

    @cached_property
    def word_rate(self) -> tuple[int, float] | None:
        """(words heard by ASR, words per second of VAD speech time); characters for Chinese. None without
        both tools or without words."""
        tr, t = self.transcript, self.vad_speech_s
        if tr is None or not t or tr.n_words == 0:
            return None
        return tr.n_words, tr.n_words / t

    @cached_property
    def gender(self) -> str | None:
        """'male' / 'female' from median F0 (165 Hz split); only when speech is present."""
        if not self.speech_present or self.pitch.median_hz is None:
            return None
        return "male" if self.pitch.median_hz < 165.0 else "female"

    # ------------------------------------------------------------------ rhythm / music
    @cached_property
    def onset_envelope(self) -> np.ndarray:
        """Half-wave rectified log-spectral flux at 200 frames/s."""
        mag = self._stft_mag
        if mag.shape[0] < 3:
            return np.zeros(mag.shape[0])
        # coarse bands so a slowly gliding tone does not count as onsets
        edges = np.unique(np.round(np.geomspace(2, 512, 41)).astype(int))
        bands = np.add.reduceat(mag**2, edges[:-1], axis=1)
        lb = np.log1p(1000 * bands / (np.max(bands) + 1e-12))
        flux = np.maximum(np.diff(lb, axis=0, prepend=lb[:1]), 0).sum(axis=1)
        return flux

    @cached_property
    def onsets(self) -> np.ndarray:
        """Onset times (s): peaks of the onset envelope above an adaptive threshold, at least 50 ms apart."""
        from scipy.signal import find_peaks

        o = self.onset_envelope
        if o.size < 5 or np.max(o) <= 0:
            return np.zeros(0)
        fps = SR / 80
        k = int(fps * 0.25)
        med = np.convolve(o, np.ones(2 * k + 1) / (2 * k + 1), mode="same")
        thr = np.maximum(med * 1.5, 0.25 * np.max(o))
        peaks, _ = find_peaks(o, height=thr, distance=int(0.05 * fps))
        return peaks / fps

    @cached_property
    def event_count(self) -> int:
        """Number of separate sound events: active runs separated by >= 80 ms of quiet, or onsets when
        events run into each other (whichever is larger, onsets capped to active runs x 4)."""
        db = self.frame_db
        thr = max(self.SILENCE_FLOOR_DB, float(np.percentile(db, 95)) - 25.0) if db.size else 0
        act = db > thr
        for s, e in _runs(~act):
            if e - s < 8 and s > 0 and e < len(act):
                act[s:e] = True
        runs = [r for r in _runs(act) if r[1] - r[0] >= 3]
        return len(runs)

    @cached_property
    def tempo(self) -> tuple[float | None, float]:
        """(BPM, confidence) from the autocorrelation of the onset envelope, 40-240 BPM, with a mild
        preference for 80-160 BPM. Confidence is the normalised autocorrelation peak."""
        o = self.onset_envelope
        fps = SR / 80
        if o.size < fps * 1.5 or np.max(o) <= 0:
            return None, 0.0
        o = o - np.mean(o)
        n = len(o)
        nfft = 1 << int(np.ceil(np.log2(2 * n)))
        ac = np.fft.irfft(np.abs(np.fft.rfft(o, nfft)) ** 2, nfft)[:n]
        if ac[0] <= 0:
            return None, 0.0
        ac = ac / ac[0]
        lags = np.arange(n)
        lo, hi = int(fps * 60 / 240), min(int(fps * 60 / 40), n // 2)
        if hi <= lo + 2:
            return None, 0.0
        bpm = 60 * fps / np.maximum(lags, 1)
        prior = np.exp(-0.5 * (np.log2(bpm / 115.0) / 1.0) ** 2)
        # reward lags whose double is also periodic (beat-level evidence)
        score = np.zeros(n)
        for L in range(lo, hi + 1):
            s = ac[L]
            if 2 * L < n:
                s += 0.5 * ac[2 * L]
            score[L] = s * prior[L]
        L = int(np.argmax(score[lo : hi + 1]) + lo)
        # parabolic refinement on the raw autocorrelation
        if 1 <= L < n - 1:
            a, b, c = ac[L - 1], ac[L], ac[L + 1]
            den = a - 2 * b + c
            shift = 0.5 * (a - c) / den if abs(den) > 1e-12 else 0.0
            shift = float(np.clip(shift, -0.5, 0.5))
        else:
            shift = 0.0
        return float(60 * fps / (L + shift)), float(max(ac[L], 0.0))

    @cached_property
    def note_rate(self) -> float:
        """Onsets per second over the active span (a tempo-free 'busy/fast' cue)."""
        t = max(self.active_duration, 0.5)
        return float(len(self.onsets) / t)

    @cached_property
    def chroma(self) -> np.ndarray | None:
        """Summed 12-bin chroma (C..B) from a 4096-point STFT, 55-2000 Hz, log-compressed."""
        n_fft, hop = 4096, 1024
        if len(self.wav) < n_fft:
            return None
        fr = _frames(self.wav, n_fft, hop)
        mag = np.abs(np.fft.rfft(fr * np.hanning(n_fft), axis=1))
        freqs = np.fft.rfftfreq(n_fft, 1 / self.sr)
        sel = (freqs >= 55) & (freqs <= 2000)
        midi = 69 + 12 * np.log2(freqs[sel] / 440.0)
        pc = np.mod(np.round(midi), 12).astype(int)
        m = np.log1p(100 * mag[:, sel] / (np.max(mag) + 1e-12))
        # keep spectral peaks only (reduce noise smear)
        chroma = np.zeros(12)
        np.add.at(chroma, pc, m.sum(axis=0))
        if chroma.sum() <= 0:
            return None
        return chroma / chroma.sum()

    @cached_property
    def key(self) -> KeyEstimate | None:
        c = self.chroma
        if c is None or self.is_silent:
            return None
        scores: dict[str, float] = {}
        for i, tonic in enumerate(PITCH_CLASSES):
            for mode, prof in (("major", _KK_MAJOR), ("minor", _KK_MINOR)):
                scores[f"{tonic} {mode}"] = float(np.corrcoef(c, np.roll(prof, i))[0, 1])
        best = max(scores, key=scores.__getitem__)
        tonic, mode = best.split()
        return KeyEstimate(tonic, mode, scores[best], scores)

    def summary(self) -> dict[str, object]:
        """All measurements as plain values (for logs and debugging)."""
        p = self.pitch
        k = self.key
        return {
            "duration_s": round(self.duration, 3),
            "silence": {k_: round(v, 3) for k_, v in self.silence.items()},
            "loudness_lufs": None if self.loudness_lufs is None else round(self.loudness_lufs, 2),
            "speech_score": round(self.speech_score, 3),
            "median_f0_hz": None if p.median_hz is None else round(p.median_hz, 1),
            "pitch_range_semitones": None if p.range_semitones is None else round(p.range_semitones, 2),
            "voiced_ratio": round(p.voiced_ratio, 3),
            "speaking_rate": None if self.speaking_rate is None else round(self.speaking_rate, 2),
            "tempo_bpm": None if self.tempo[0] is None else round(self.tempo[0], 1),
            "key": None if k is None else k.name,
            "spectral_centroid_hz": None if self.spectral_centroid_hz is None else round(self.spectral_centroid_hz),
            "spectral_flatness": None if self.spectral_flatness is None else round(self.spectral_flatness, 3),
            "event_count": self.event_count,
            "energy_trend": {k_: round(v, 2) for k_, v in self.energy_trend.items()},
        }
