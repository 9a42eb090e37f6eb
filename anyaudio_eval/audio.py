"""Audio decoding, mono 16 kHz normalisation, a content-addressed WAV cache and data URIs.

Every clip the judge hears goes through `cache_audio`: decode (WAV, FLAC, OGG, MP3 via libsndfile),
downmix to mono, resample to 16 kHz, check limits, write a WAV atomically under a name derived from the
source bytes and the pipeline. Samples then hold only the cached path, so memory stays bounded.

Two resamplers (a protocol's choice, `-T resampler=`):
- `soxr` (the anyaudio protocol): band-limited soxr HQ, clipped to [-1, 1], cached as PCM16;
- `linear` (the release's judge): linear interpolation of the float samples onto `int(n * 16000 / sr)` points
  spanning the clip, no clipping, cached as float32 so the judge receives exactly those samples.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from anyaudio_eval.constants import SAMPLE_RATE

TARGET_SR = SAMPLE_RATE
DEFAULT_MAX_SECONDS = 600.0
# Bump when the normalisation changes, so stale cache entries are never reused.
# v2: clips with any non-finite sample are refused (v1 zeroed them), so v1 entries may hold zeroed clips.
PIPELINE_VERSION = "mono16k-pcm16-v2"
PIPELINE_VERSIONS = {"soxr": PIPELINE_VERSION, "linear": "mono16k-linear-f32-v1"}
_CACHE_SUBTYPE = {"soxr": "PCM_16", "linear": "FLOAT"}


def pipeline_version(resampler: str = "soxr") -> str:
    """The cache key part of a resampler (each pipeline has its own cache entries)."""
    if resampler not in PIPELINE_VERSIONS:
        raise ValueError(f"unknown resampler {resampler!r}; use one of {', '.join(PIPELINE_VERSIONS)}")
    return PIPELINE_VERSIONS[resampler]


class AudioError(ValueError):
    """A clip that cannot be used: undecodable, empty, non-finite or too long."""


def cache_dir() -> Path:
    """`$ANYAUDIO_CACHE`, else the platform cache dir."""
    env = os.environ.get("ANYAUDIO_CACHE")
    if env:
        return Path(env).expanduser().resolve()  # samples hold absolute paths
    import platformdirs

    return Path(platformdirs.user_cache_dir("anyaudio_eval"))


def too_long(seconds: float, max_seconds: float) -> AudioError:
    return AudioError(f"audio is {seconds:.1f} s long, over the limit of {max_seconds:.0f} s")


def decode_audio(source: bytes | str | Path, max_seconds: float = math.inf) -> tuple[np.ndarray, int]:
    """Decode bytes or a file into float32 samples shaped (frames, channels) and its sample rate.

    The duration is read from the header first: a clip over `max_seconds` is refused before any sample
    is decoded, so one very long file cannot exhaust memory.
    """
    try:
        with sf.SoundFile(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else str(source)) as f:
            seconds = f.frames / f.samplerate if f.samplerate else 0.0
            if seconds > max_seconds:
                raise too_long(seconds, max_seconds)
            data = f.read(dtype="float32", always_2d=True)
            sr = f.samplerate
    except AudioError:
        raise
    except Exception as ex:  # libsndfile raises several types for bad input
        # Name in-memory bytes plainly rather than by the BytesIO object's address.
        message = re.sub(r"<_io\.BytesIO object at 0x[0-9a-f]+>", "the audio bytes", str(ex))
        raise AudioError(f"undecodable audio: {message}") from ex
    return data, int(sr)


def linear_resample(mono: np.ndarray, sr: int, target_sr: int = TARGET_SR) -> np.ndarray:
    """Linear interpolation onto `int(n * target_sr / sr)` evenly spaced points from the first to the last
    sample (the release's resampler), as float32."""
    n = int(len(mono) * target_sr / sr)
    points = np.linspace(0, len(mono) - 1, n)
    return np.interp(points, np.arange(len(mono)), mono).astype(np.float32)


def to_mono_16k(
    data: np.ndarray, sr: int, max_seconds: float = DEFAULT_MAX_SECONDS, resampler: str = "soxr"
) -> np.ndarray:
    """Downmix (frames, channels) to mono and resample to 16 kHz with `resampler`, enforcing the limits."""
    if data.size == 0 or data.shape[0] == 0:
        raise AudioError("empty audio (no samples)")
    # Any NaN/inf sample refuses the clip: zeroing them would change what the judge hears, unseen.
    bad = int(data.size - np.count_nonzero(np.isfinite(data)))
    if bad:
        what = "all" if bad == data.size else f"{bad} of {data.size}"
        raise AudioError(f"audio has non-finite (NaN/inf) samples: {what}")
    seconds = data.shape[0] / sr
    if seconds > max_seconds:
        raise too_long(seconds, max_seconds)
    pipeline_version(resampler)
    mono = data.mean(axis=1).astype(np.float32)
    if resampler == "linear":
        out = linear_resample(mono, sr) if sr != TARGET_SR else mono
        if out.size == 0:
            raise AudioError("empty audio after resampling to 16 kHz")
        return out
    if sr != TARGET_SR:
        import soxr

        mono = soxr.resample(mono, sr, TARGET_SR, quality="HQ").astype(np.float32)
    return np.clip(mono, -1.0, 1.0)


def load_audio(
    source: bytes | str | Path, max_seconds: float = DEFAULT_MAX_SECONDS, resampler: str = "soxr"
) -> np.ndarray:
    """Decode and normalise a clip to mono float32 at 16 kHz."""
    data, sr = decode_audio(source, max_seconds)
    return to_mono_16k(data, sr, max_seconds, resampler)


def _atomic_write_wav(path: Path, wav: np.ndarray, subtype: str = "PCM_16") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename: a killed writer leaves only a temp file, never a truncated WAV.
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".wav", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            sf.write(f, wav, TARGET_SR, format="WAV", subtype=subtype)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cache_audio(
    source: bytes | str | Path,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    directory: Path | None = None,
    resampler: str = "soxr",
) -> Path:
    """Return the path of the normalised 16 kHz mono WAV for `source`, building it once.

    The key is the hash of the source bytes plus the pipeline version, so the same clip under
    another name is cached once, an edited file gets a new entry, and each resampler has its own.
    """
    if not isinstance(source, (bytes, bytearray)):
        seconds = _header_seconds(source)
        if seconds is not None and seconds > max_seconds:  # refused before the file is even read
            raise too_long(seconds, max_seconds)
    raw = source if isinstance(source, (bytes, bytearray)) else _read_bytes(source)
    hasher = hashlib.sha256(raw)  # same key as hashing raw + version, without a copy of the clip
    hasher.update(pipeline_version(resampler).encode())
    digest = hasher.hexdigest()
    path = (directory or cache_dir()) / "audio" / digest[:2] / f"{digest}.wav"
    if path.exists():
        seconds = duration_seconds(path)
        if seconds > max_seconds:  # a clip cached under a looser limit must still respect this one
            raise too_long(seconds, max_seconds)
        return path
    wav = load_audio(raw, max_seconds, resampler)
    _atomic_write_wav(path, wav, _CACHE_SUBTYPE[resampler])
    return path


def _read_bytes(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as ex:
        raise AudioError(f"cannot read audio file {path}: {ex.strerror or ex}") from ex


def _header_seconds(path: str | Path) -> float | None:
    """The duration in a file's header; None when it cannot be read (decoding then says why)."""
    try:
        info = sf.info(str(path))
    except Exception:  # libsndfile raises several types; the decode that follows names the problem
        return None
    return info.frames / info.samplerate if info.samplerate else None


def duration_seconds(path: str | Path) -> float:
    info = sf.info(str(path))
    return info.frames / info.samplerate


def wav_bytes(wav: np.ndarray, sr: int = TARGET_SR, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wav, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def wav_data_uri(wav: np.ndarray, sr: int = TARGET_SR, subtype: str = "PCM_16") -> str:
    """An inline `data:audio/wav` URI (the viewer plays it; providers send the base64 payload)."""
    return "data:audio/wav;base64," + base64.b64encode(wav_bytes(wav, sr, subtype)).decode("ascii")


def file_data_uri(path: str | Path) -> str:
    return "data:audio/wav;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def data_uri_bytes(uri: str) -> bytes:
    """The payload of a base64 data URI."""
    if not uri.startswith("data:") or "," not in uri:
        raise AudioError("not a base64 data URI")
    return base64.b64decode(uri.split(",", 1)[1])


def audio_from_reference(ref: str) -> np.ndarray:
    """Mono 16 kHz samples from a data URI or a file path (what providers receive)."""
    return load_audio(data_uri_bytes(ref) if ref.startswith("data:") else ref)
