"""Training corpus: format, loader, the generate-mode target, and a generated tiny corpus.

Corpus format (JSONL, one object per line, or a parquet file with the same columns)::

    {
      "uuid": "speech-000123",                 # unique id (default: file name + line number)
      "audio": "clips/000123.wav",             # path (relative to the corpus file) or HF Audio {"path", "bytes"}
      "caption": "A man speaks slowly ...",    # the instruction / description the clip is judged against
      "domain": "speech",                      # speech | sound | music | mix
      "language": "en",                        # prompt language of the judge: en | zh (default: the loader's)
      "label": "no",                           # optional overall gold: yes = the clip matches the caption
                                               #   (default: yes iff every item is yes)
      "rubric": [                              # atomic yes/no checks, each with its gold answer
        {"dimension": "gender", "question": "Is the speaker male?", "basis": "A man",
         "label": "yes", "evidence": "a low adult male voice"},   # evidence: optional, per item
        ...
      ],
      "rationale": "The voice is male ..."     # optional reasoning written before the JSON answer
    }

Rubric keys may also be the release's Chinese keys (维度/题目/依据, 答案 for the label).

Bench-format rows (`subset`, `type`, `label`, `rubric`: the AnyAudio-Judge Bench and the bundled probe set)
are read too: `subset` gives the domain (speech_gen -> speech, ...). Items without a gold label take the row's
label when the row is a positive (every item of a matching clip matches); a negative row whose items carry no
labels is skipped with that reason, since which items fail is unknown.

The training target is the judge's generate-mode answer, built from the same prompt builders
(`judge_system_prompt("generate", lang)`, `item_list_prompt`) as evaluation and read back by the same parser
(`parse_answer_list`): the optional rationale, then the JSON array of {id, answer, evidence}.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, PrivateAttr, ValidationError

from anyaudio_eval.bench.loaders import read_jsonl, rubric_elements
from anyaudio_eval.bench.schema import RubricItem
from anyaudio_eval.constants import SAMPLE_RATE
from anyaudio_eval.rubric.decompose import SUBSET_DOMAIN as _SUBSET_DOMAIN
from anyaudio_eval.rubric.prompts import DOMAINS, PROMPT_LANGUAGES
from anyaudio_eval.rubric.protocol import Protocol, default_protocol, get_protocol

if TYPE_CHECKING:
    from anyaudio_eval.training.config import CorpusArguments

Domain = Literal["speech", "sound", "music", "mix"]


class CorpusError(RuntimeError):
    """A run-level problem with the corpus (missing file, nothing usable); the message says what to do."""


class TrainItem(RubricItem):
    """A rubric item with its gold answer (required) and an optional evidence sentence."""

    label: Literal["yes", "no"]
    evidence: str = ""


class TrainSample(BaseModel):
    uuid: str
    audio: str  # a readable audio file path
    caption: str
    domain: str = "speech"
    language: str = "en"
    label: Literal["yes", "no"]
    items: list[TrainItem] = Field(min_length=1)
    rationale: str = ""
    # The protocol whose prompts the judge is trained on (set by `load_stage_corpus`; default: anyaudio).
    _protocol: Protocol | None = PrivateAttr(default=None)

    @property
    def protocol(self) -> Protocol:
        return self._protocol or default_protocol(self.language)

    @property
    def gold(self) -> list[str]:
        return [item.label for item in self.items]

    def rubric(self) -> list[RubricItem]:
        return [RubricItem(dimension=i.dimension, question=i.question, basis=i.basis) for i in self.items]

    def system_prompt(self) -> str:
        return self.protocol.judge_system("generate")

    def user_prompt(self) -> str:
        return self.protocol.item_list_text(self.rubric())

    def target(self) -> str:
        return answer_target(self.items, self.rationale)

    def to_row(self) -> dict[str, Any]:
        """The corpus-format JSON object of this sample (audio as stored)."""
        row = self.model_dump(exclude={"items"})
        row["rubric"] = [i.model_dump(exclude_none=True) for i in self.items]
        return row


def answer_target(items: Sequence[TrainItem], rationale: str = "") -> str:
    """The generate-mode answer for gold items: optional reasoning, then the JSON array `parse_answer_list` reads."""
    array = [{"id": i, "answer": item.label, "evidence": item.evidence} for i, item in enumerate(items)]
    body = json.dumps(array, ensure_ascii=False)
    rationale = rationale.strip()
    return f"{rationale}\n{body}" if rationale else body


@dataclass
class Corpus:
    samples: list[TrainSample]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (uuid, reason)
    source: str = ""

    def summary(self) -> dict[str, Any]:
        items = [i.label for s in self.samples for i in s.items]
        return {
            "source": self.source,
            "samples": len(self.samples),
            "skipped": len(self.skipped),
            "items": len(items),
            "gold_yes_rate": (items.count("yes") / len(items)) if items else None,
            "positives": sum(s.label == "yes" for s in self.samples),
            "domains": {d: sum(s.domain == d for s in self.samples) for d in sorted({s.domain for s in self.samples})},
        }


def _read_records(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    records = []
    for n, rec in read_jsonl(path):
        rec.setdefault("uuid", f"{path.name}:{n}")
        records.append(rec)
    return records


def _resolve_audio(value: Any, root: Path, cache_directory: Path | None) -> str:
    from anyaudio_eval.audio import AudioError, cache_audio

    if isinstance(value, dict):
        if value.get("bytes"):
            return str(cache_audio(bytes(value["bytes"]), directory=cache_directory))
        value = value.get("path")
    if not isinstance(value, str) or not value:
        raise AudioError("no audio path")
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = root / path
    if not path.is_file():
        raise AudioError(f"audio file not found: {path}")
    return str(path.resolve())  # absolute: derived corpora (the mined set) are written elsewhere


def parse_row(raw: dict[str, Any], root: Path, language: str, cache_directory: Path | None = None) -> TrainSample:
    """One corpus-format or bench-format object -> TrainSample; raises ValueError with the reason."""
    from anyaudio_eval.audio import AudioError

    if raw.get("_error"):
        raise ValueError(str(raw["_error"]))
    caption = raw.get("caption")
    if not isinstance(caption, str) or not caption.strip():
        raise ValueError("missing caption")
    domain = raw.get("domain") or _SUBSET_DOMAIN.get(str(raw.get("subset", "")), None)
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r} (use one of {', '.join(DOMAINS)}, or a bench subset)")
    row_label = raw.get("label")
    row_label = str(row_label).strip().lower() if row_label not in (None, "") else None
    if row_label not in (None, "yes", "no"):
        raise ValueError(f"unknown label {raw.get('label')!r} (expected yes or no)")
    rubric = rubric_elements(raw.get("rubric"))
    if not rubric:
        raise ValueError("empty rubric (no items to train on)")
    items: list[TrainItem] = []
    for element in rubric:
        item = RubricItem.model_validate(element)
        label = item.label
        if label is None:
            if row_label == "yes":
                label = "yes"  # a matching clip matches every item
            else:
                raise ValueError("rubric items have no gold label and the row is not a positive")
        evidence = element.get("evidence", "") if isinstance(element, dict) else ""
        items.append(TrainItem(**item.model_dump(exclude={"label"}), label=label, evidence=str(evidence or "")))
    derived = "yes" if all(i.label == "yes" for i in items) else "no"
    lang = str(raw.get("language") or language)
    if lang not in PROMPT_LANGUAGES:
        raise ValueError(f"unknown language {lang!r}")
    try:
        audio = _resolve_audio(raw.get("audio"), root, cache_directory)
    except AudioError as ex:
        raise ValueError(str(ex)) from ex
    return TrainSample(
        uuid=str(raw.get("uuid")),
        audio=audio,
        caption=caption,
        domain=domain,
        language=lang,
        label=row_label or derived,
        items=items,
        rationale=str(raw.get("rationale") or ""),
    )


def load_corpus(
    path: str | Path,
    language: str = "en",
    limit: int | None = None,
    strict: bool = False,
    cache_directory: Path | None = None,
) -> Corpus:
    """Read a corpus (JSONL/parquet, corpus or bench format). Bad rows are skipped and named (or raise if strict)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CorpusError(f"corpus file {path} not found; build a demo one with `anyaudio train demo-corpus DIR`")
    corpus = Corpus(samples=[], source=str(path))
    seen: set[str] = set()
    for raw in _read_records(path):
        uuid = str(raw.get("uuid"))
        try:
            if uuid in seen:
                raise ValueError("duplicate uuid")
            sample = parse_row(raw, path.parent, language, cache_directory)
        except (ValueError, ValidationError) as ex:
            reason = ex.errors()[0]["msg"] if isinstance(ex, ValidationError) else str(ex)
            if strict:
                raise CorpusError(f"bad corpus row {uuid}: {reason} (strict)") from ex
            corpus.skipped.append((uuid, reason))
            continue
        seen.add(uuid)
        corpus.samples.append(sample)
        if limit is not None and len(corpus.samples) >= limit:
            break
    if not corpus.samples:
        reasons = "; ".join(f"{u}: {r}" for u, r in corpus.skipped[:3])
        raise CorpusError(f"no usable rows in {path}" + (f" ({reasons})" if reasons else ""))
    return corpus


def write_corpus(samples: Sequence[TrainSample], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for s in samples:
            f.write(json.dumps(s.to_row(), ensure_ascii=False) + "\n")
    return path


# -- a generated tiny corpus (tests, CPU smoke runs) ---------------------------------------------------

# (kind, check question, evidence when yes, evidence when no)
_CHECKS = {
    "tone": ("Is there a steady pitched tone?", "a steady sine tone is heard", "no pitched tone is heard"),
    "noise": ("Is there broadband hiss or noise?", "a broadband hiss is heard", "no hiss is heard"),
    "silence": ("Is the clip silent?", "nothing is audible", "the clip is not silent"),
    "loud": ("Is the sound loud?", "the level is high", "the level is low"),
}
_CAPTIONS = {
    "tone": "A steady sine tone",
    "noise": "A burst of white noise",
    "silence": "Complete silence",
}


def _clip(kind: str, seconds: float, seed: int, loud: bool) -> Any:
    import numpy as np

    n = int(seconds * SAMPLE_RATE)
    amp = 0.6 if loud else 0.05
    if kind == "tone":
        t = np.arange(n) / SAMPLE_RATE
        return (amp * np.sin(2 * np.pi * (220 + 110 * (seed % 4)) * t)).astype(np.float32)
    if kind == "noise":
        return (amp * np.random.default_rng(seed).uniform(-1, 1, n)).astype(np.float32)
    return np.zeros(n, dtype=np.float32)


def build_tiny_corpus(
    directory: str | Path, n: int = 8, seconds: float = 1.0, seed: int = 0, language: str = "en"
) -> Path:
    """Write `n` samples (numpy tones, noise, silence; gold labels known by construction) and `corpus.jsonl`.

    Half are positives (every item yes), half negatives where one or two items are no, so every item label and
    the overall label are right by construction. Returns the corpus file.
    """
    import random

    import soundfile as sf

    directory = Path(directory)
    (directory / "clips").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    kinds = list(_CAPTIONS)
    samples: list[TrainSample] = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        loud = kind != "silence" and rng.random() < 0.5
        wav = _clip(kind, seconds, seed + i, loud)
        rel = f"clips/{i:04d}-{kind}.wav"
        sf.write(directory / rel, wav, SAMPLE_RATE, subtype="PCM_16")
        truth = {"tone": kind == "tone", "noise": kind == "noise", "silence": kind == "silence", "loud": loud}
        positive = i % 2 == 0
        if positive:  # describe what is there
            claimed = {kind: True, "silence": kind == "silence"}
            if kind != "silence":
                claimed["loud"] = loud
        else:  # claim a different source (swap), sometimes also the wrong level
            other = rng.choice([k for k in kinds if k != kind])
            claimed = {other: True}
            if other != "silence" and kind != "silence":
                claimed["loud"] = not loud if rng.random() < 0.5 else loud
        items = []
        for check, wanted in claimed.items():
            question, ev_yes, ev_no = _CHECKS[check]
            if not wanted:  # "yes always means matches": a claimed absence becomes a negated question
                question = {"silence": "Is the clip not silent?", "loud": "Is the sound quiet?"}[check]
            matches = truth[check] == wanted
            items.append(
                TrainItem(
                    dimension=check if check != "loud" else "volume",
                    question=question,
                    basis=check,
                    label="yes" if matches else "no",
                    evidence=ev_yes if truth[check] else ev_no,
                )
            )
        caption_kind = kind if positive else next(k for k, v in claimed.items() if v and k in _CAPTIONS)
        caption = _CAPTIONS[caption_kind] + (", loud" if claimed.get("loud") else "")
        samples.append(
            TrainSample(
                uuid=f"tiny-{i:04d}",
                audio=rel,
                caption=caption,
                domain="sound",
                language=language,
                label="yes" if all(it.label == "yes" for it in items) else "no",
                items=items,
                rationale=f"I hear {'a tone' if kind == 'tone' else 'noise' if kind == 'noise' else 'silence'}.",
            )
        )
    return write_corpus(samples, directory / "corpus.jsonl")


def load_stage_corpus(settings: CorpusArguments, stage: str, hint: str) -> Corpus:
    """The corpus a training stage reads from `settings.train_file`, with its skipped rows logged."""
    if not settings.train_file:
        raise ValueError(f"{stage} needs train_file ({hint})")
    corpus = load_corpus(settings.train_file, language=settings.language, limit=settings.limit)
    for uuid, reason in corpus.skipped:
        logging.getLogger(__name__).warning("corpus row %s skipped: %s", uuid, reason)
    if settings.protocol != "anyaudio":  # the reference prompts are Chinese only; anyaudio follows each row's language
        protocol = get_protocol(settings.protocol, reference=settings.reference)
        for sample in corpus.samples:
            sample._protocol = protocol
    return corpus
