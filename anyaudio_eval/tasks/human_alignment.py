"""`anyaudio_eval/human_alignment`: does the judge's score agree with people's ratings?

The model under test is the judge. Rows are either ratings (audio, text, a human score, optionally a rater id:
one row per rating, rows of the same clip are pooled) or pairwise preferences (audio A, audio B, text, which
one people preferred). Each clip is judged with the one judging procedure: the row's rubric when it has one,
else a rubric decomposed through the `decomposer` role (cached), or one holistic question in holistic mode.
Metrics: LCC / SRCC / KTAU of judge vs mean human score with bootstrap CIs, rater-level agreement where rater
ids exist, accuracy on preference pairs (see `scorers/agreement.py`).
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageUser, ContentAudio, ContentText, Model, ModelOutput, get_model
from inspect_ai.scorer import Metric, SampleScore, Score, Scorer, Target, Value, metric, scorer
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.util import collect
from pydantic import BaseModel, Field, ValidationError

from anyaudio_eval.audio import DEFAULT_MAX_SECONDS, AudioError
from anyaudio_eval.bench.loaders import DatasetError, cache_field, open_table, parse_rubric
from anyaudio_eval.bench.schema import RubricItem, SkippedRow
from anyaudio_eval.judge.checklist import render_checklist
from anyaudio_eval.judge.procedure import JudgeMode, JudgeResult, judge_audio
from anyaudio_eval.judge.solver import sample_audios
from anyaudio_eval.rubric.decompose import SUBSET_DOMAIN, rubric_for
from anyaudio_eval.rubric.prompts import DOMAINS
from anyaudio_eval.rubric.protocol import Protocol, get_protocol, warn_if_released_judge
from anyaudio_eval.scorers.agreement import require_scipy, summary_from_metadata
from anyaudio_eval.scorers.rubric_judge import role_model
from anyaudio_eval.tasks.common import (
    TASK_VERSION,
    check_judge_args,
    protocol_metadata,
    protocol_options,
    report_skipped,
)

Layout = Literal["ratings", "pairwise"]
LAYOUTS = ("auto", "ratings", "pairwise")
RESULTS_KEY = "human_alignment_results"
CONTEXT_KEY = "human_alignment_context"
SCORER_NAME = "listener_agreement"


class Rating(BaseModel):
    rater: str = ""
    score: float


class HumanRow(BaseModel):
    """One sample: a rated clip (one audio, its ratings) or a preference pair (two audios, the preference)."""

    id: str
    text: str
    audio: list[str]  # cached 16 kHz WAV paths: [clip] or [a, b]
    ratings: list[Rating] = Field(default_factory=list)
    preferred: Literal["a", "b", "tie"] | None = None
    rubric: list[RubricItem] = Field(default_factory=list)
    domain: str = "mix"

    @property
    def layout(self) -> Layout:
        return "pairwise" if self.preferred is not None else "ratings"

    def sample(self) -> Sample:
        content: list[Any] = []
        if self.layout == "pairwise":
            content = [
                ContentText(text="A:"),
                ContentAudio(audio=self.audio[0], format="wav"),
                ContentText(text="B:"),
                ContentAudio(audio=self.audio[1], format="wav"),
            ]
        else:
            content = [ContentAudio(audio=self.audio[0], format="wav")]
        content.append(ContentText(text=self.text))
        metadata: dict[str, Any] = {
            "kind": "pairwise" if self.layout == "pairwise" else "rating",
            "text": self.text,
            "domain": self.domain,
            "rubric": [item.model_dump(exclude_none=True) for item in self.rubric],
        }
        if self.layout == "pairwise":
            metadata["preferred"] = self.preferred
        else:
            metadata["ratings"] = [r.model_dump() for r in self.ratings]
            metadata["human_score"] = sum(r.score for r in self.ratings) / len(self.ratings)
        return Sample(id=self.id, input=[ChatMessageUser(content=content)], metadata=metadata)


@dataclass
class Fields:
    """Column names of the user's table (the `*_field` task args)."""

    audio: str = "audio"
    text: str = "text"
    score: str = "score"
    rater: str | None = None
    id: str | None = None
    rubric: str = "rubric"
    domain: str | None = None
    audio_a: str = "audio_a"
    audio_b: str = "audio_b"
    preferred: str = "preferred"


@dataclass
class HumanLoad:
    rows: list[HumanRow]
    skipped: list[SkippedRow]
    source: str
    layout: Layout
    columns: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "layout": self.layout,
            "loaded": len(self.rows),
            "skipped": len(self.skipped),
            "skipped_rows": [s.model_dump() for s in self.skipped],
            "columns": self.columns,
        }


def _missing_column(source: str, arg: str, name: str, columns: list[str]) -> DatasetError:
    return DatasetError(
        f"{source}: no column {name!r} (the -T {arg}= column); columns present: {', '.join(columns) or 'none'}"
    )


def _number(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def preference(value: Any, fields: Fields) -> str | None:
    """a, b or tie from the common spellings: a/b/tie, A/B, 1/2 (0 = tie), the two audio column names."""
    text = str(value).strip().lower() if value is not None else ""
    names = {fields.audio_a.lower(): "a", fields.audio_b.lower(): "b"}
    table = {"a": "a", "b": "b", "1": "a", "2": "b", "0": "tie", "tie": "tie", "equal": "tie", "same": "tie", **names}
    return table.get(text)


def _domain(value: Any, default: str) -> str | None:
    text = str(value).strip().lower() if value not in (None, "") else default
    text = SUBSET_DOMAIN.get(text, text)
    return text if text in DOMAINS else None


def load_human_rows(
    dataset: str,
    fields: Fields,
    layout: str = "auto",
    config: str | None = None,
    split: str = "test",
    revision: str | None = None,
    audio_root: str | None = None,
    domain: str = "mix",
    limit: int | None = None,
    shuffle: bool = False,
    seed: int = 0,
    strict: bool = False,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    cache_directory: Path | None = None,
    resampler: str = "soxr",
) -> HumanLoad:
    """Read, validate and cache a rating or preference table; bad rows are skipped with their reason.
    `resampler` is the protocol's audio pipeline (each has its own cache entries)."""
    if layout not in LAYOUTS:
        raise DatasetError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    if _domain(domain, domain) is None:
        raise DatasetError(f"unknown domain {domain!r}; use one of {', '.join(DOMAINS)}")
    audio_columns = [fields.audio, fields.audio_a, fields.audio_b]
    source = open_table(dataset, audio_columns, config=config, split=split, revision=revision, audio_root=audio_root)
    columns = list(source.columns or [])
    if layout == "auto":
        pairwise_cols = fields.audio_a in columns and fields.audio_b in columns
        layout = "pairwise" if pairwise_cols and fields.audio not in columns else "ratings"
    required = (
        [("audio_field", fields.audio), ("text_field", fields.text), ("score_field", fields.score)]
        if layout == "ratings"
        else [
            ("audio_a_field", fields.audio_a),
            ("audio_b_field", fields.audio_b),
            ("text_field", fields.text),
            ("preference_field", fields.preferred),
        ]
    )
    for arg, name in [("rater_field", fields.rater), ("id_field", fields.id), ("domain_field", fields.domain)]:
        if name:  # optional columns the user named must exist too
            required.append((arg, name))
    for arg, name in required:
        if name not in columns:
            raise _missing_column(source.description, arg, name, columns)

    skipped: list[SkippedRow] = []

    def skip(row_id: str, reason: str) -> None:
        if strict:
            raise DatasetError(f"bad row {row_id}: {reason} (strict=True)")
        skipped.append(SkippedRow(uuid=row_id, reason=reason))

    # Pass 1: every column but the audio, validated.
    parsed: list[tuple[int, str, dict[str, Any]]] = []
    for index, rec in enumerate(source.meta()):
        row_id = str(rec.get(fields.id)) if fields.id and rec.get(fields.id) not in (None, "") else f"row-{index}"
        if rec.get("_error"):
            skip(row_id, str(rec["_error"]))
            continue
        text = rec.get(fields.text)
        if not isinstance(text, str) or not text.strip():
            skip(row_id, f"empty or missing text ({fields.text!r})")
            continue
        row: dict[str, Any] = {"text": text.strip()}
        if layout == "ratings":
            score = _number(rec.get(fields.score))
            if score is None:
                skip(row_id, f"score {rec.get(fields.score)!r} ({fields.score!r}) is not a finite number")
                continue
            row["rating"] = Rating(rater=str(rec.get(fields.rater) or "") if fields.rater else "", score=score)
        else:
            pref = preference(rec.get(fields.preferred), fields)
            if pref is None:
                skip(row_id, f"preference {rec.get(fields.preferred)!r} is not a, b or tie ({fields.preferred!r})")
                continue
            row["preferred"] = pref
        try:
            row["rubric"] = parse_rubric(rec.get(fields.rubric)) if fields.rubric in columns else []
        except (ValidationError, ValueError) as ex:
            skip(row_id, f"invalid rubric: {ex}")
            continue
        raw_domain = rec.get(fields.domain) if fields.domain else None
        row_domain = _domain(raw_domain, domain)
        if row_domain is None:
            skip(row_id, f"unknown domain {raw_domain!r}; use one of {', '.join(DOMAINS)}")
            continue
        row["domain"] = row_domain
        parsed.append((index, row_id, row))

    # Where the sample of each row is known before any audio is read (pairs, or an id column), the seeded
    # shuffle and the limit apply first, so a small run reads little audio.
    early = layout == "pairwise" or fields.id is not None
    if early:
        keys = list(dict.fromkeys(row_id for _, row_id, _ in parsed))
        keys = _select(keys, limit, shuffle, seed)
        wanted = set(keys)
        parsed = [p for p in parsed if p[1] in wanted]

    # Pass 2: audio of the remaining rows, into the WAV cache (a path shared by many rows is read once).
    names = [fields.audio] if layout == "ratings" else [fields.audio_a, fields.audio_b]
    paths: dict[tuple[int, str], str] = {}
    failures: dict[int, str] = {}
    by_index = {index: row_id for index, row_id, _ in parsed}
    for name in names:
        memo: dict[str, str] = {}
        for index, value in source.audio_fields(sorted(by_index), name):
            try:
                if isinstance(value, str) and value in memo:
                    paths[(index, name)] = memo[value]
                    continue
                path = str(cache_field(value, source, max_seconds, cache_directory, resampler))
                paths[(index, name)] = path
                if isinstance(value, str):
                    memo[value] = path
            except (AudioError, DatasetError) as ex:
                failures.setdefault(index, f"{name}: {ex}")
                if strict:
                    skip(by_index[index], failures[index])

    rows: list[HumanRow] = []
    groups: dict[tuple[str, ...], HumanRow] = {}
    pair_ids: set[str] = set()
    for index, row_id, row in parsed:
        if index in failures or any((index, n) not in paths for n in names):
            skip(row_id, failures.get(index, "audio missing from the source"))
            continue
        audio = [paths[(index, n)] for n in names]
        if layout == "pairwise":
            if row_id in pair_ids:
                skip(row_id, "duplicate id")
                continue
            pair_ids.add(row_id)
            rows.append(
                HumanRow(
                    id=row_id,
                    text=row["text"],
                    audio=audio,
                    preferred=row["preferred"],
                    rubric=row["rubric"],
                    domain=row["domain"],
                )
            )
            continue
        key = ("id", row_id) if fields.id else ("clip", audio[0], row["text"])
        if key in groups:
            if groups[key].audio != audio or groups[key].text != row["text"]:
                skip(row_id, f"id {row_id!r} names another clip or text in an earlier row")
                continue
            groups[key].ratings.append(row["rating"])
            continue
        sample_id = row_id if fields.id else _clip_id(audio[0], row["text"])
        groups[key] = HumanRow(
            id=sample_id,
            text=row["text"],
            audio=audio,
            ratings=[row["rating"]],
            rubric=row["rubric"],
            domain=row["domain"],
        )
    if layout == "ratings":
        rows = list(groups.values())
        if not early:
            rows = _select(rows, limit, shuffle, seed)
    return HumanLoad(rows=rows, skipped=skipped, source=source.description, layout=layout, columns=columns)  # type: ignore[arg-type]


def _clip_id(path: str, text: str) -> str:
    # The cached WAV is named by the clip's content, so the same clip under two names is one sample.
    return "clip-" + hashlib.sha256(f"{Path(path).stem}\n{text}".encode()).hexdigest()[:12]


def _select(items: list[Any], limit: int | None, shuffle: bool, seed: int) -> list[Any]:
    items = list(items)
    if shuffle:
        random.Random(seed).shuffle(items)
    return items[: max(0, int(limit))] if limit is not None else items


# -- judging ---------------------------------------------------------------------------------------------


async def judge_clips(
    model: Model,
    audios: list[str],
    caption: str,
    rubric: list[RubricItem],
    domain: str,
    mode: JudgeMode,
    prompt_language: str,
    rubric_language: str,
    clean: bool = True,
    decomposer_role: str = "decomposer",
    protocol: Protocol | None = None,
    hard_answers: str = "unscored",
) -> tuple[list[JudgeResult], dict[str, Any]]:
    """The task's one judge call: a rubric for the caption (the row's, else decomposed once for all the clips
    of the sample), then `judge_audio` on each clip, both under `protocol`. Returns the results and how the
    rubric was obtained."""
    chosen = await rubric_for(
        caption,
        rubric,
        lambda: role_model(
            decomposer_role, "decomposer (a text LLM that writes rubrics for rows without one)", "human_alignment"
        ),
        domain,
        rubric_language,
        holistic=mode == "holistic",
        clean=clean,
        protocol=protocol,
    )
    if chosen.error:
        failed = JudgeResult.unjudged(mode, protocol, chosen.error, prompt_language)
        return [failed.model_copy() for _ in audios], chosen.context
    results = await collect(
        *[
            judge_audio(
                model,
                audio,
                chosen.items,
                mode,
                prompt_language,
                caption=caption,
                protocol=protocol,
                hard_answers=hard_answers,
            )  # fmt: skip
            for audio in audios
        ]
    )
    return results, chosen.context


@solver
def judge_rated_clips(
    mode: JudgeMode = "logits",
    prompt_language: str = "zh",
    rubric_language: str = "zh",
    clean: bool = True,
    protocol: str = "anyaudio",
    pooling: str | None = None,
    resampler: str | None = None,
    reference: str | None = None,
    reference_sha256: str | None = None,
    hard_answers: str = "unscored",
) -> Solver:
    """Judge the sample's clip(s) with the model under test; the results go to the store."""
    judge_protocol = get_protocol(protocol, prompt_language, pooling, resampler, reference, reference_sha256)
    prompt_language = judge_protocol.language

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        meta = state.metadata
        rubric = [RubricItem.model_validate(item) for item in meta.get("rubric") or []]
        model = get_model()
        warn_if_released_judge(str(model), judge_protocol)
        results, context = await judge_clips(
            model,
            sample_audios(state),
            str(meta.get("text", "")),
            rubric,
            str(meta.get("domain") or "mix"),
            mode,
            prompt_language,
            rubric_language,
            clean,
            protocol=judge_protocol,
            hard_answers=hard_answers,
        )
        state.store.set(RESULTS_KEY, [r.model_dump() for r in results])
        state.store.set(CONTEXT_KEY, context)
        text = "\n\n".join(
            (f"### clip {'AB'[i]}\n" if len(results) > 1 else "") + render_checklist(r) for i, r in enumerate(results)
        )
        state.output = ModelOutput.from_content(model=str(model), content=text)
        state.messages.append(state.output.message)
        return state

    return solve


@metric
def human_alignment_metrics(
    seed: int = 0, tie_margin: float = 0.0, scale_min: float | None = None, scale_max: float | None = None
) -> Metric:
    """LCC / SRCC / KTAU with bootstrap CIs, rater agreement and Krippendorff's alpha, pairwise accuracy."""
    scale = (scale_min, scale_max) if scale_min is not None and scale_max is not None else None

    def compute(scores: list[SampleScore]) -> Value:
        metas = [s.score.metadata or {} for s in scores]
        return summary_from_metadata(metas, seed, tie_margin, scale)

    return compute


@scorer(metrics=[human_alignment_metrics()])
def listener_agreement() -> Scorer:
    """The judge's score of each clip (ratings) or its margin score_a - score_b (pairs), beside the human data."""

    async def score(state: TaskState, target: Target) -> Score:
        meta = state.metadata or {}
        results = [JudgeResult.model_validate(r) for r in state.store.get(RESULTS_KEY) or []]
        context = {**(state.store.get(CONTEXT_KEY) or {}), "kind": meta.get("kind")}
        explanation = state.output.completion if state.output and state.output.choices else ""
        failed = [r for r in results if r.score is None]
        if not results or failed:
            reason = failed[0].error if failed else "sample has no audio"
            return Score.unscored(
                reason="grader_failed", explanation=explanation or reason, metadata={**context, "error": reason}
            )
        if meta.get("kind") == "pairwise":
            a, b = results[0].score, results[1].score
            assert a is not None and b is not None
            return Score(
                value=a - b,
                answer=f"A {a:.3f} / B {b:.3f}",
                explanation=explanation,
                metadata={
                    **context,
                    "score_a": a,
                    "score_b": b,
                    "preferred": meta.get("preferred"),
                    "judge_a": results[0].score_metadata(),
                    "judge_b": results[1].score_metadata(),
                },
            )
        judged = results[0]
        return Score(
            value=judged.score,
            answer=f"{judged.score:.3f}",
            explanation=explanation,
            metadata={
                **context,
                **judged.score_metadata(),
                "judge_score": judged.score,
                "human_score": meta.get("human_score"),
                "ratings": meta.get("ratings"),
            },
        )

    return score


@task
def human_alignment(
    dataset: str,
    layout: str = "auto",
    audio_field: str = "audio",
    text_field: str = "text",
    score_field: str = "score",
    rater_field: str | None = None,
    id_field: str | None = None,
    rubric_field: str = "rubric",
    domain_field: str | None = None,
    audio_a_field: str = "audio_a",
    audio_b_field: str = "audio_b",
    preference_field: str = "preferred",
    audio_root: str | None = None,
    config: str | None = None,
    split: str = "test",
    revision: str | None = None,
    domain: str = "mix",
    mode: str = "logits",
    prompt_language: str = "zh",
    rubric_language: str = "zh",
    clean: bool = True,
    scale_min: float | None = None,
    scale_max: float | None = None,
    tie_margin: float = 0.0,
    limit: int | None = None,
    shuffle: bool = False,
    seed: int = 0,
    strict: bool = False,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    protocol: str = "anyaudio",
    reference: str | None = None,
    reference_sha256: str | None = None,
    pooling: str | None = None,
    resampler: str | None = None,
    hard_answers: str = "unscored",
) -> Task:
    """Agreement of the judge (the model under test) with human ratings or preferences.

    Args:
        dataset: JSONL, CSV or parquet file, a folder (parquet files, or one JSONL/CSV table), or a hub id.
        layout: auto (pairwise when the audio_a/audio_b columns exist and audio does not), ratings or pairwise.
        audio_field: column of the clip (a path relative to the table or `audio_root`, or embedded bytes).
        text_field: column of the caption / instruction the clip is rated against.
        score_field: column of the human score (ratings layout).
        rater_field: column of the rater id (enables per-rater agreement and Krippendorff's alpha).
        id_field: column naming the clip (else rows with the same audio and text are one clip).
        rubric_field: column with rubric items (used when present; else the decomposer writes one).
        domain_field: column with the domain (speech, sound, music, mix, or a bench subset name).
        audio_a_field: first clip of a pair (pairwise layout).
        audio_b_field: second clip of a pair (pairwise layout).
        preference_field: which clip people preferred: a, b or tie (also A/B, 1/2/0, the audio column names).
        audio_root: folder that relative audio paths resolve in (default: the table's folder).
        config: hub config name, for a hub id.
        split: hub split (also picks `<split>` parquet files in a folder when their names carry it).
        revision: hub revision to pin.
        domain: domain of rows without a domain column (decomposition prompt).
        mode: judge mode: logits, generate or holistic (one question: the caption).
        prompt_language: judge prompt language (zh or en).
        rubric_language: language of decomposed rubric questions.
        clean: run the cleaning pass after decomposition.
        scale_min: lowest score of the rating scale (Krippendorff's alpha maps the judge onto it; default: the
            lowest rating seen).
        scale_max: highest score of the rating scale (default: the highest rating seen).
        tie_margin: judge scores within this of each other count as a judge tie on a pair.
        limit: keep at most this many clips (or pairs).
        shuffle: shuffle with `seed` before `limit`.
        seed: shuffle and bootstrap seed.
        strict: fail on the first bad row instead of skipping it.
        max_seconds: longest clip accepted.
        protocol: anyaudio or reference (the authors' judge and decomposition prompts); reference,
            reference_sha256, pooling and resampler as in the bench task.
        hard_answers: unscored (a judge reply without usable logprobs leaves the item unparsed) or allow (hard 0/1).
    """
    check_judge_args(
        mode,
        prompt_language,
        "skip",
        None,
        hard_answers=hard_answers,
        protocol=protocol,
        pooling=pooling,
        resampler=resampler,
    )
    require_scipy()  # the agreement statistics: fail before any clip is judged
    judge_protocol = get_protocol(protocol, prompt_language, pooling, resampler, reference, reference_sha256)
    rubric_language = judge_protocol.rubric_language or rubric_language
    fields = Fields(
        audio=audio_field,
        text=text_field,
        score=score_field,
        rater=rater_field,
        id=id_field,
        rubric=rubric_field,
        domain=domain_field,
        audio_a=audio_a_field,
        audio_b=audio_b_field,
        preferred=preference_field,
    )
    load = load_human_rows(
        dataset,
        fields,
        layout,
        config=config,
        split=split,
        revision=revision,
        audio_root=audio_root,
        domain=domain,
        limit=limit,
        shuffle=shuffle,
        seed=seed,
        strict=strict,
        max_seconds=max_seconds,
        resampler=judge_protocol.resampler,
    )
    report_skipped(load)  # type: ignore[arg-type]
    if not load.rows:
        raise DatasetError(f"no rows left to evaluate from {load.source} ({len(load.skipped)} skipped)")
    scores = [r.score for row in load.rows for r in row.ratings]
    scale = (
        (scale_min, scale_max)
        if scale_min is not None and scale_max is not None
        else ((min(scores), max(scores)) if scores else (None, None))
    )
    return Task(
        name="human_alignment",
        dataset=MemoryDataset([r.sample() for r in load.rows], name="human_alignment", location=load.source),
        solver=judge_rated_clips(
            mode=mode,  # type: ignore[arg-type]
            prompt_language=judge_protocol.language,
            rubric_language=rubric_language,
            clean=clean,
            **protocol_options(judge_protocol, reference, reference_sha256),
            hard_answers=hard_answers,
        ),
        scorer=listener_agreement(),
        metrics=[human_alignment_metrics(seed=seed, tie_margin=tie_margin, scale_min=scale[0], scale_max=scale[1])],
        version=TASK_VERSION,
        metadata={
            # No decision threshold here: the metrics use the continuous score.
            **{k: v for k, v in protocol_metadata(judge_protocol, mode, 0.5).items() if k != "threshold"},
            "rubric_language": rubric_language,
            "hard_answers": hard_answers,
            "layout": load.layout,
            "fields": {k: v for k, v in vars(fields).items() if v is not None},
            "seed": seed,
            "tie_margin": tie_margin,
            "scale": list(scale),
            "dataset": load.summary(),
        },
    )
