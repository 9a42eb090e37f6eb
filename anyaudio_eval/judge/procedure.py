"""The one judging procedure: audio + rubric items -> per-item verdicts and a sample score.

Used by the bench task (judge = model under test), the `rubric_judge()` scorer (judge = role model)
and the RL reward. Messages are ordered system prompt, audio, item text, so all requests of a sample
share the longest possible prefix and servers with prefix caching reuse it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

from inspect_ai.model import (
    ChatMessage,
    ChatMessageSystem,
    ChatMessageUser,
    ContentAudio,
    ContentText,
    GenerateConfig,
    Model,
    ModelOutput,
)
from inspect_ai.util import collect
from pydantic import BaseModel, Field, computed_field

from anyaudio_eval.bench.schema import RubricItem
from anyaudio_eval.rubric.parsing import (
    Answer,
    max_pooled_sides,
    nonfinite_logprob,
    p_yes_from_top_logprobs,
    parse_answer_list,
    word_answer,
)
from anyaudio_eval.rubric.prompts import HOLISTIC_DIMENSION, PROMPT_VERSION
from anyaudio_eval.rubric.protocol import GENERATION_CONFIG_HINT, ITEM_BATCH_KEY, Protocol, default_protocol

logger = logging.getLogger(__name__)

JudgeMode = Literal["logits", "generate", "holistic"]
JUDGE_MODES: tuple[str, ...] = ("logits", "generate", "holistic")
# A one-word reply without usable logprobs (logits and holistic modes): unparsed unless the user allows
# it as a hard 0/1, which the metrics then report as `hard_item_share`.
HARD_ANSWER_POLICIES: tuple[str, ...] = ("unscored", "allow")

# Settings fixed by the method; recorded in task metadata.
LOGITS_CONFIG = GenerateConfig(logprobs=True, top_logprobs=20, max_tokens=1, temperature=0.0)
GENERATE_CONFIG = GenerateConfig(max_tokens=4096, temperature=0.0)


class ItemVerdict(BaseModel):
    id: int
    dimension: str = ""
    question: str
    p_yes: float | None = None
    answer: Answer | None = None
    evidence: str = ""
    parsed: bool = False
    # False when the verdict is a hard 1/0 from text because the provider returned no logprobs.
    soft: bool = False
    # Why an item is unparsed (empty when parsed).
    reason: str = ""
    raw: str = ""
    gold: Answer | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verdict(self) -> Literal["yes", "no", "abstain", "unparsed"]:
        """What the judge said: p_yes exactly 0.5 carries no information either way and is an abstention,
        never a yes."""
        if not self.parsed:
            return "unparsed"
        if self.p_yes is not None and abs(self.p_yes - 0.5) < 1e-9:
            return "abstain"
        return self.answer or "unparsed"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def correct(self) -> bool | None:
        """Whether the answer matches the item's gold label (None without gold, or when nothing was said)."""
        if self.gold is None or self.verdict not in ("yes", "no"):
            return None
        return self.verdict == self.gold


class JudgeResult(BaseModel):
    mode: str
    prompt_language: str
    protocol: str = "anyaudio"
    prompt_version: str = PROMPT_VERSION
    temperature: float = 0.0
    score: float | None = None
    items: list[ItemVerdict] = Field(default_factory=list)
    error: str | None = None
    hard_answers: str = "unscored"
    # Rubric items left out before judging because their question is empty.
    n_dropped: int = 0

    @classmethod
    def unjudged(cls, mode: str, protocol: Protocol | None, error: str, prompt_language: str = "zh") -> JudgeResult:
        """A sample that could not be judged at all (no audio, no rubric, no decomposition), with the reason."""
        protocol = protocol or default_protocol(prompt_language)
        return cls(
            mode=mode,
            prompt_language=protocol.language,
            protocol=protocol.name,
            prompt_version=protocol.version,
            error=error,
        )

    @property
    def n_unparsed(self) -> int:
        return sum(not item.parsed for item in self.items)

    @property
    def n_hard(self) -> int:
        """Items whose verdict is a hard 0/1 read from text where a distribution was asked for."""
        if self.mode == "generate":
            return 0
        return sum(item.parsed and not item.soft for item in self.items)

    def score_metadata(self) -> dict[str, Any]:
        """What every scorer logs about a judgment (the metrics and `anyaudio report` read it back)."""
        return {
            "mode": self.mode,
            "temperature": self.temperature,
            "protocol": self.protocol,
            "prompt_version": self.prompt_version,
            "n_items": len(self.items),
            "n_unparsed": self.n_unparsed,
            "n_hard": self.n_hard,
            "n_dropped": self.n_dropped,
            "hard_answers": self.hard_answers,
            "items": [item.model_dump(exclude={"raw"}) for item in self.items],
        }


def holistic_item(caption: str, language: str) -> RubricItem:
    return RubricItem(dimension=HOLISTIC_DIMENSION[language], question=caption, basis=caption)


def judge_messages(audio: str, text: str, system: str) -> list[ChatMessage]:
    return [
        ChatMessageSystem(content=system),
        ChatMessageUser(content=[ContentAudio(audio=audio, format="wav"), ContentText(text=text)]),
    ]


async def judge_audio(
    model: Model,
    audio: str,
    items: Sequence[RubricItem],
    mode: JudgeMode = "logits",
    prompt_language: str = "zh",
    caption: str | None = None,
    temperature: float = 0.0,
    protocol: Protocol | None = None,
    hard_answers: str = "unscored",
) -> JudgeResult:
    """Judge one clip (an inline data URI) against rubric items.

    Model errors that survive Inspect's retries are returned as `JudgeResult.error`, never as a score.
    `temperature` stays 0 (the method's setting) unless a stability study asks otherwise. `protocol` gives
    the prompts and the yes/no pooling (default: the anyaudio protocol in `prompt_language`). Items with an
    empty question are dropped (counted in `n_dropped`); `hard_answers="allow"` keeps one-word replies
    without logprobs as hard 0/1 verdicts (default: unparsed).
    """
    if mode not in JUDGE_MODES:
        raise ValueError(f"unknown judge mode {mode!r}; use one of {', '.join(JUDGE_MODES)}")
    if hard_answers not in HARD_ANSWER_POLICIES:
        raise ValueError(f"unknown hard_answers {hard_answers!r}; use one of {', '.join(HARD_ANSWER_POLICIES)}")
    protocol = protocol or default_protocol(prompt_language)
    prompt_language = protocol.language
    result = JudgeResult(
        mode=mode,
        prompt_language=prompt_language,
        protocol=protocol.name,
        prompt_version=protocol.version,
        temperature=temperature,
        hard_answers=hard_answers,
    )
    logits_config = LOGITS_CONFIG.merge(GenerateConfig(temperature=temperature))
    if protocol.generation_config_processors and getattr(model.api, "takes_protocol_hints", False):
        logits_config = logits_config.merge(GenerateConfig(extra_body={GENERATION_CONFIG_HINT: True}))
    if mode == "holistic":
        if caption is None:
            raise ValueError("holistic mode needs the caption")
        items = [holistic_item(caption, prompt_language)]
    kept = [item for item in items if item.question.strip()]
    result.n_dropped = len(items) - len(kept)
    if result.n_dropped:
        logger.warning(f"{result.n_dropped} rubric item(s) with an empty question dropped before judging")
    items = kept
    if not items:
        result.error = (
            f"empty rubric: all {result.n_dropped} item(s) have an empty question"
            if result.n_dropped
            else "empty rubric"
        )
        return result
    try:
        if mode == "generate":
            result.items = await _judge_list(model, audio, items, protocol, temperature)
        else:
            system = protocol.judge_system(mode)
            texts = (
                [protocol.holistic_text(caption or "")]
                if mode == "holistic"
                else [protocol.item_text(item) for item in items]
            )
            if len(texts) > 1 and getattr(model.api, "judges_item_batches", False):
                outputs = await _generate_item_batch(model, audio, texts, system, logits_config)
            else:
                outputs = await collect(
                    *[model.generate(judge_messages(audio, text, system), config=logits_config) for text in texts]
                )
            result.items = [
                _verdict_from_output(i, item, out, hard_answers, protocol.pooling)
                for i, (item, out) in enumerate(zip(items, outputs, strict=True))
            ]
    except Exception as ex:  # errors left after Inspect's retries: unscored, with the reason
        result.error = f"judge call failed: {type(ex).__name__}: {ex}"
        return result
    result.score = aggregate(result.items)
    if result.score is None:
        reason = next((item.reason for item in result.items if item.reason), "")
        result.error = "no rubric item could be parsed" + (f" ({reason})" if reason else "")
    return result


async def _generate_item_batch(
    model: Model, audio: str, texts: Sequence[str], system: str, config: GenerateConfig
) -> list[ModelOutput]:
    """One request for a sample's items (see ITEM_BATCH_KEY); the log's model event shows the first item's
    messages, every item text in its config, and each item's top logprobs as one choice."""
    extra = {**(config.extra_body or {}), ITEM_BATCH_KEY: list(texts)}
    output = await model.generate(
        judge_messages(audio, texts[0], system), config=config.merge(GenerateConfig(extra_body=extra))
    )
    if output.error or len(output.choices) != len(texts):
        error = output.error or f"the judge returned {len(output.choices)} answers for {len(texts)} items"
        return [ModelOutput(model=output.model, choices=[], error=error) for _ in texts]
    return [ModelOutput(model=output.model, choices=[choice]) for choice in output.choices]


def aggregate(items: Sequence[ItemVerdict]) -> float | None:
    """Mean p_yes over parsed items (generate mode: the share of yes)."""
    values = [item.p_yes for item in items if item.parsed and item.p_yes is not None]
    return sum(values) / len(values) if values else None


def _verdict_from_output(
    index: int, item: RubricItem, output: ModelOutput, hard_answers: str, pooling: str = "sum"
) -> ItemVerdict:
    verdict = ItemVerdict(id=index, dimension=item.dimension, question=item.question, gold=item.label)
    text = output.completion if output.choices else ""
    verdict.raw = text
    if output.error:
        verdict.evidence = f"model error: {output.error}"
        verdict.reason = "model error"
        return verdict
    logprobs = output.choices[0].logprobs if output.choices else None
    if logprobs is not None and logprobs.content:
        first = logprobs.content[0]
        pairs = [(t.token, t.logprob) for t in (first.top_logprobs or [])]
        pairs.append((first.token, first.logprob))
        # The sampled token is usually also in top_logprobs: keep one entry per token string.
        unique = dict(pairs)
        bad = nonfinite_logprob(unique.items())
        p_yes = None if bad else p_yes_from_top_logprobs(unique.items(), pooling)
        if p_yes is not None:
            verdict.p_yes = p_yes
            verdict.answer = "yes" if p_yes > 0.5 else "no" if p_yes < 0.5 else None  # 0.5: an abstention
            verdict.parsed = verdict.soft = True
            verdict.evidence = _evidence_of(output)
            if pooling == "max" and len(max_pooled_sides(unique.items())) == 1:
                missing = "no" if p_yes >= 0.5 else "yes"
                note = f"no '{missing}' form among the top logprobs: taken at the lowest listed (p_yes is a bound)"
                verdict.evidence = f"{verdict.evidence}; {note}" if verdict.evidence else note
            return verdict
        # A distribution was returned but cannot be read: never fall back to the text.
        verdict.reason = bad or "no yes/no token among the top logprobs"
        return verdict
    answer = word_answer(text)
    if answer is None:
        verdict.reason = "the reply is not a yes/no answer"
        return verdict
    if hard_answers != "allow":
        verdict.reason = f"no logprobs in the reply ({answer!r}); hard_answers=allow keeps it as a hard 0/1"
        return verdict
    verdict.answer = answer
    verdict.p_yes = 1.0 if answer == "yes" else 0.0
    verdict.parsed = True
    verdict.evidence = _evidence_of(output)
    return verdict


def _evidence_of(output: ModelOutput) -> str:
    # Providers of our own (the acoustic judge) put a measured rationale in the message metadata.
    message = output.choices[0].message if output.choices else None
    meta = getattr(message, "metadata", None) or {}
    return str(meta.get("evidence", ""))


async def _judge_list(
    model: Model, audio: str, items: Sequence[RubricItem], protocol: Protocol, temperature: float
) -> list[ItemVerdict]:
    messages = judge_messages(audio, protocol.item_list_text(items), protocol.judge_system("generate"))
    output = await model.generate(messages, config=GENERATE_CONFIG.merge(GenerateConfig(temperature=temperature)))
    text = output.completion if output.choices else ""
    parsed = parse_answer_list(text, len(items))
    verdicts = []
    for i, item in enumerate(items):
        verdict = ItemVerdict(id=i, dimension=item.dimension, question=item.question, gold=item.label, raw="")
        answer = parsed.answers.get(i)
        if answer is not None:
            verdict.answer = answer.answer
            verdict.p_yes = 1.0 if answer.answer == "yes" else 0.0
            verdict.evidence = answer.evidence
            verdict.parsed = True
        verdicts.append(verdict)
    if verdicts:
        verdicts[0].raw = text  # the reply is shared; keep it once
    return verdicts
