"""`anyaudio_eval/instruct`: generate audio for instructions and score it with the rubric judge.

The model under test is the generator (`files/`, `command/`, `openai-speech/`, `espeak/` or any provider
whose reply carries audio); roles `judge` (audio LLM) and `decomposer` (text LLM, for rows without rubrics).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from inspect_ai import Epochs, Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageUser
from inspect_ai.solver import generate

from anyaudio_eval.bench.loaders import DatasetError, load_bench, parse_rubric, read_jsonl
from anyaudio_eval.bench.schema import HUB_ID, RubricItem
from anyaudio_eval.rubric.decompose import SUBSET_DOMAIN
from anyaudio_eval.rubric.prompts import DOMAINS
from anyaudio_eval.rubric.protocol import get_protocol
from anyaudio_eval.scorers.epochs import bench_epochs
from anyaudio_eval.scorers.rubric_judge import DEFAULT_DOMAIN, rubric_judge
from anyaudio_eval.shards import parse_shard, select, shard_metadata
from anyaudio_eval.tasks.common import TASK_VERSION, check_judge_args, protocol_metadata, protocol_options


class InstructionRow:
    def __init__(self, id: str, instruction: str, text: str | None, domain: str, rubric: list[RubricItem] | None):
        self.id, self.instruction, self.text, self.domain, self.rubric = id, instruction, text, domain, rubric

    def sample(self) -> Sample:
        request = {"id": self.id, "instruction": self.instruction, "text": self.text, "domain": self.domain}
        prompt = self.instruction if not self.text else f"{self.instruction}\nText to speak: {self.text}"
        metadata: dict[str, Any] = {**request}
        if self.rubric:
            metadata["rubric"] = [item.model_dump(exclude_none=True) for item in self.rubric]
        # The request rides on the message metadata so generator providers see id, text and style apart.
        return Sample(id=self.id, input=[ChatMessageUser(content=prompt, metadata=request)], metadata=metadata)


def read_instructions(path: str | Path) -> list[InstructionRow]:
    """Rows of a JSONL or CSV file: instruction (required), text, domain, id, rubric (JSON list)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetError(f"instructions file not found: {path}")
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            records: list[dict[str, Any]] = list(csv.DictReader(f))
    else:
        records = []
        for n, rec in read_jsonl(path):
            if "_error" in rec:  # a broken instructions file stops the run: nothing is scored half-read
                raise DatasetError(f"{path}:{n}: {rec['_error']}")
            records.append(rec)
    rows, seen = [], set()
    for n, rec in enumerate(records, start=1):
        instruction = (rec.get("instruction") or rec.get("caption") or "").strip()
        if not instruction:
            raise DatasetError(f"{path} row {n}: no `instruction`")
        row_id = str(rec.get("id") or f"{path.stem}-{n:04d}")
        if row_id in seen:
            raise DatasetError(f"{path} row {n}: duplicate id {row_id!r}")
        seen.add(row_id)
        domain = (rec.get("domain") or DEFAULT_DOMAIN).strip()
        if domain not in DOMAINS:
            raise DatasetError(f"{path} row {n}: unknown domain {domain!r}; use one of {', '.join(DOMAINS)}")
        items = parse_rubric(rec.get("rubric")) or None
        rows.append(InstructionRow(row_id, instruction, (rec.get("text") or None), domain, items))
    return rows


@task
def instruct(
    instructions: str | None = None,
    source: str = "file",
    dataset: str = HUB_ID,
    language: str = "en",
    subsets: str | list[str] | None = None,
    limit: int | None = None,
    shuffle: bool = False,
    seed: int = 0,
    mode: str = "logits",
    prompt_language: str = "zh",
    rubric_language: str = "zh",
    threshold: float | None = None,
    clean: bool = True,
    use_bench_rubrics: bool = True,
    hard_answers: str = "unscored",
    protocol: str = "anyaudio",
    reference: str | None = None,
    reference_sha256: str | None = None,
    pooling: str | None = None,
    resampler: str | None = None,
    shard: str | None = None,
    asr: str = "auto",
) -> Task:
    """Score an audio generator on instructions with the dynamic-rubric judge.

    Args:
        instructions: JSONL or CSV file (instruction, text, domain, id, rubric) when source=file.
        source: file, or bench (the positive captions of the bench, with their rubrics).
        dataset: bench dataset for source=bench (hub id or local path).
        language: bench language for source=bench.
        subsets: bench subsets for source=bench.
        limit: keep at most this many instructions.
        shuffle: shuffle with `seed` before `limit`.
        seed: shuffle seed.
        mode: judge mode (logits, generate, holistic).
        prompt_language: judge prompt language.
        rubric_language: language of decomposed rubric questions.
        threshold: score at which a sample passes (default: the protocol's for the mode).
        clean: run the cleaning pass after decomposition.
        use_bench_rubrics: for source=bench, judge with the bench's rubrics instead of decomposing again.
        hard_answers: unscored (a judge reply without usable logprobs leaves the item unparsed) or allow (hard 0/1).
        protocol: anyaudio or reference (the authors' judge and decomposition prompts); reference,
            reference_sha256, pooling and resampler as in the bench task.
        shard: k/n generates and scores shard k of n (a stable split by id, after shuffle and limit);
            `anyaudio report` merges the n logs into one leaderboard row.
        asr: Whisper model for intelligibility (WER for English, CER for Chinese) of rows with a `text`:
            auto, off, base, tiny.en, a model directory or a hub name. Reported beside the rubric score.
    """
    check_judge_args(mode, prompt_language, "skip", threshold, hard_answers, protocol, pooling, resampler)
    try:
        chosen_shard = parse_shard(shard)
    except ValueError as ex:
        raise DatasetError(str(ex)) from None
    judge_protocol = get_protocol(protocol, prompt_language, pooling, resampler, reference, reference_sha256)
    threshold = judge_protocol.threshold(mode) if threshold is None else float(threshold)
    rubric_language = judge_protocol.rubric_language or rubric_language
    if source == "bench":
        load = load_bench(
            dataset, language, subsets=subsets, labels="yes", limit=limit, shuffle=shuffle, seed=seed, read_audio=False
        )
        rows = [
            InstructionRow(
                r.uuid,
                r.caption,
                None,
                SUBSET_DOMAIN.get(r.subset, DEFAULT_DOMAIN),
                r.rubric if use_bench_rubrics else None,
            )
            for r in load.rows
        ]
        location = load.source
        load.require_rows()
    elif source == "file":
        if not instructions:
            raise DatasetError("instruct needs -T instructions=<file.jsonl|file.csv> (or -T source=bench)")
        rows = read_instructions(instructions)
        if shuffle:
            import random

            random.Random(seed).shuffle(rows)
        rows = rows[:limit] if limit is not None else rows
        location = str(instructions)
    else:
        raise DatasetError(f"unknown source {source!r}; use file or bench")
    selected = len(rows)
    rows = select(rows, chosen_shard, lambda r: r.id)
    if not rows:
        raise DatasetError(
            f"no instructions to generate from {location}" + (f" in shard {shard}" if chosen_shard else "")
        )
    return Task(
        name="instruct",
        dataset=MemoryDataset([r.sample() for r in rows], name="instruct", location=location),
        solver=generate(),
        scorer=rubric_judge(
            mode=mode,  # type: ignore[arg-type]
            prompt_language=judge_protocol.language,
            rubric_language=rubric_language,
            threshold=threshold,
            clean=clean,
            hard_answers=hard_answers,
            **protocol_options(judge_protocol, reference, reference_sha256),
            asr=asr,
        ),
        # Reduce every epoch into the metrics (Inspect's default reducer keeps only the first epoch's metadata).
        epochs=Epochs(1, bench_epochs()),
        version=TASK_VERSION,
        metadata={
            **protocol_metadata(judge_protocol, mode, threshold),
            "rubric_language": rubric_language,
            "hard_answers": hard_answers,
            "source": source,
            "instructions": location,
            **({"shard": shard_metadata(chosen_shard, len(rows), selected)} if chosen_shard else {}),
            "asr": asr,
        },
    )
