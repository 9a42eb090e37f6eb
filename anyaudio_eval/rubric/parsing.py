"""Parsers for judge answers. Only documented formats become verdicts; anything else is unparsed.

- one-word answers (logits mode without logprobs, holistic mode): "yes" / "no" (any case, surrounding
  punctuation allowed), or 是 / 否;
- first-token distributions: p_yes = P(yes variants) / (P(yes variants) + P(no variants));
- generate mode: a JSON array of {id, answer, evidence}, optionally inside a code fence, optionally
  after free text (the reasoning), trailing commas tolerated. Ids are checked; a missing, repeated or
  out-of-range id is unparsed, never guessed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel

Answer = Literal["yes", "no"]

_WORD_ANSWERS: dict[str, Answer] = {"yes": "yes", "no": "no", "是": "yes", "否": "no"}
_STRIP = " \t\r\n.,!?;:'\"`*()[]{}。，！？；：“”‘’（）【】"


def token_answer(token: str) -> Answer | None:
    """The answer a single token or word stands for ("Yes", " yes", "YES." -> yes)."""
    return _WORD_ANSWERS.get(token.strip(_STRIP).lower())


def word_answer(text: str | None) -> Answer | None:
    """A whole reply that is exactly one yes/no word (with punctuation), else None."""
    if not text:
        return None
    return token_answer(text)


def p_yes_from_top_logprobs(top: Iterable[tuple[str, float]]) -> float | None:
    """Two-way normalised probability of yes from (token, logprob) pairs of the first position.

    All variants of each side (case, leading space) are summed; None when neither side is present.
    """
    mass = {"yes": 0.0, "no": 0.0}
    seen = False
    for token, logprob in top:
        side = token_answer(token)
        if side is None or logprob is None or not math.isfinite(logprob):
            continue
        mass[side] += math.exp(min(logprob, 0.0))  # logprobs are <= 0; guard bad providers
        seen = True
    total = mass["yes"] + mass["no"]
    if not seen or total <= 0:
        return None
    return mass["yes"] / total


class ParsedAnswer(BaseModel):
    id: int
    answer: Answer
    evidence: str = ""


class ListParse(BaseModel):
    """Result of parsing a generate-mode reply for `n` items."""

    answers: dict[int, ParsedAnswer]
    error: str | None = None


_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([\]}])")


def _json_array_candidates(text: str) -> list[str]:
    fenced = _FENCE.findall(text)
    bodies = fenced if fenced else [text]
    out = []
    for body in bodies:
        body = body.strip()
        start, end = body.find("["), body.rfind("]")
        if start != -1 and end > start:
            out.append(body[start : end + 1])
    return out


def parse_answer_list(text: str | None, n: int) -> ListParse:
    """Parse a generate-mode reply into answers keyed by item id (0..n-1)."""
    if not text or not text.strip():
        return ListParse(answers={}, error="empty reply")
    data: Any = None
    for candidate in _json_array_candidates(text):
        for attempt in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
            try:
                data = json.loads(attempt)
                break
            except json.JSONDecodeError:
                continue
        if data is not None:
            break
    if not isinstance(data, list):
        return ListParse(answers={}, error="no JSON array in the reply")
    answers: dict[int, ParsedAnswer] = {}
    repeated: set[int] = set()
    for element in data:
        if not isinstance(element, dict):
            continue
        raw_id = element.get("id")
        if isinstance(raw_id, bool):
            continue
        if isinstance(raw_id, str) and raw_id.strip().isdigit():
            raw_id = int(raw_id.strip())
        if not isinstance(raw_id, int) or not 0 <= raw_id < n:
            continue
        answer = element.get("answer")
        verdict = token_answer(answer) if isinstance(answer, str) else None
        if verdict is None:
            continue
        if raw_id in answers:
            repeated.add(raw_id)
            continue
        evidence = element.get("evidence")
        answers[raw_id] = ParsedAnswer(
            id=raw_id, answer=verdict, evidence=evidence if isinstance(evidence, str) else ""
        )
    for rid in repeated:  # two answers for one id: neither is trusted
        answers.pop(rid, None)
    return ListParse(answers=answers, error=None if answers else "no valid {id, answer} elements")
