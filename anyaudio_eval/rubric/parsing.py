"""Parsers for judge answers. Only documented formats become verdicts; anything else is unparsed.

- one-word answers (logits mode without logprobs, holistic mode): "yes" / "no" (any case, surrounding
  punctuation allowed), or 是 / 否;
- first-token distributions: p_yes = P(yes variants) / (P(yes variants) + P(no variants));
- generate mode: a JSON array of {id, answer, evidence}, optionally inside a code fence, optionally
  after free text (the reasoning; the last array of objects is the answer), trailing commas tolerated. Ids are
  checked; a missing, repeated or out-of-range id is unparsed, never guessed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from pydantic import BaseModel

Answer = Literal["yes", "no"]

# The token forms the release compares (max rule): the word, with a leading space, capitalised, upper case.
YES_FORMS: tuple[str, ...] = ("yes", " yes", "Yes", " Yes", "YES", " YES")
NO_FORMS: tuple[str, ...] = ("no", " no", "No", " No", "NO", " NO")

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


def p_yes_from_top_logprobs(top: Iterable[tuple[str, float]], pooling: str = "sum") -> float | None:
    """Two-way normalised probability of yes from (token, logprob) pairs of the first position.

    `sum` (the anyaudio protocol): every token that reads as yes/no (any case, spacing, 是/否, fused
    punctuation) adds its probability. `max` (the release's rule): the largest logprob among exactly the forms
    `YES_FORMS` / `NO_FORMS` per side, then a two-way softmax; a side missing from the list is taken at the
    lowest listed logprob, so p_yes is then a bound on the way to 0.5. None when neither side is present, or
    when a yes/no token has a non-finite logprob (a broken distribution is never read as a verdict).
    """
    if pooling == "max":
        pairs = list(top)
        return None if nonfinite_logprob(pairs) else _max_pooled(pairs)
    mass = {"yes": 0.0, "no": 0.0}
    seen = False
    for token, logprob in top:
        side = token_answer(token)
        if side is None:
            continue
        if nonfinite_logprob([(token, logprob)]):
            return None
        mass[side] += math.exp(min(logprob, 0.0))  # logprobs are <= 0; guard bad providers
        seen = True
    total = mass["yes"] + mass["no"]
    if not seen or total <= 0:
        return None
    return mass["yes"] / total


_FORM_SIDE: dict[str, Answer] = {**{f: "yes" for f in YES_FORMS}, **{f: "no" for f in NO_FORMS}}


def max_pooled_sides(top: Iterable[tuple[str, float]]) -> dict[str, float]:
    """The largest finite logprob per side among the release's six forms ({} when none is listed)."""
    best: dict[str, float] = {}
    for token, logprob in top:
        side = _FORM_SIDE.get(token)
        if side is None or logprob is None or not math.isfinite(logprob):
            continue
        best[side] = max(best.get(side, -math.inf), logprob)
    return best


def _max_pooled(top: list[tuple[str, float]]) -> float | None:
    best = max_pooled_sides(top)
    if not best:
        return None
    floor = min((lp for _, lp in top if lp is not None and math.isfinite(lp)), default=-math.inf)
    yes, no = best.get("yes", floor), best.get("no", floor)
    m = max(yes, no)
    ey, en = math.exp(yes - m), math.exp(no - m)
    return ey / (ey + en)


def nonfinite_logprob(top: Iterable[tuple[str, float | None]]) -> str | None:
    """Why a first-token distribution cannot be read: a yes/no token whose logprob is missing or non-finite."""
    for token, logprob in top:
        if token_answer(token) is not None and (logprob is None or not math.isfinite(logprob)):
            return f"non-finite logprob {logprob} for the token {token!r}"
    return None


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


_DECODER = json.JSONDecoder()


def _final_json_array(text: str) -> list[Any] | None:
    """The reply's answer array: the last JSON array holding objects (fenced bodies if any, else the text).

    Scanning every "[" rather than the first keeps reasoning before the array harmless, brackets included
    ("[laughs]", "[0.5 s]").
    """
    fenced = _FENCE.findall(text)
    fallback: list[Any] | None = None
    for body in reversed(fenced) if fenced else [text]:
        for candidate in (body, _TRAILING_COMMA.sub(r"\1", body)):
            arrays = list(_json_arrays(candidate))
            with_objects = [a for a in arrays if any(isinstance(e, dict) for e in a)]
            if with_objects:
                return with_objects[-1]
            fallback = fallback if fallback is not None else (arrays[-1] if arrays else None)
    return fallback


def _json_arrays(text: str) -> Iterator[list[Any]]:
    """Every top-level JSON array in free text, left to right."""
    pos = text.find("[")
    while pos != -1:
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError:
            pos = text.find("[", pos + 1)
            continue
        if isinstance(value, list):
            yield value
        pos = text.find("[", end)


def parse_answer_list(text: str | None, n: int) -> ListParse:
    """Parse a generate-mode reply into answers keyed by item id (0..n-1)."""
    if not text or not text.strip():
        return ListParse(answers={}, error="empty reply")
    data = _final_json_array(text)
    if data is None:
        return ListParse(answers={}, error="no JSON array in the reply")
    answers: dict[int, ParsedAnswer] = {}
    repeated: set[int] = set()
    seen_ids: set[int] = set()
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
        if raw_id in seen_ids:  # any second element for an id makes the id ambiguous
            repeated.add(raw_id)
            continue
        seen_ids.add(raw_id)
        answer = element.get("answer")
        verdict = token_answer(answer) if isinstance(answer, str) else None
        if verdict is None:
            continue
        evidence = element.get("evidence")
        answers[raw_id] = ParsedAnswer(
            id=raw_id, answer=verdict, evidence=evidence if isinstance(evidence, str) else ""
        )
    for rid in repeated:  # two answers for one id: neither is trusted
        answers.pop(rid, None)
    return ListParse(answers=answers, error=None if answers else "no valid {id, answer} elements")


# -- decomposer replies ----------------------------------------------------------------------------

_OBJECT_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


def _json_object(text: str) -> Any:
    """The JSON object or array of a reply (fenced or bare, trailing commas tolerated), or None."""
    fenced = _OBJECT_FENCE.findall(text)
    for body in fenced or [text]:
        body = body.strip()
        starts = [i for i in (body.find("{"), body.find("[")) if i != -1]
        if not starts:
            continue
        start = min(starts)
        end = max(body.rfind("}"), body.rfind("]"))
        if end <= start:
            continue
        snippet = body[start : end + 1]
        for attempt in (snippet, _TRAILING_COMMA.sub(r"\1", snippet)):
            try:
                return json.loads(attempt)
            except json.JSONDecodeError:
                continue
    return None


def parse_rubric_reply(text: str | None) -> list[dict[str, Any]] | None:
    """Rubric items from a decomposer reply: {"items": [...]}, {"判断题列表": [...]}, {"Question_List": [...]} or a
    bare list.

    Returns None when the reply is not in a documented shape; items without a question are dropped.
    """
    if not text:
        return None
    data = _json_object(text)
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            return None
        data = lists[0]
    if not isinstance(data, list):
        return None
    from anyaudio_eval.bench.schema import normalise_item_keys

    items = []
    for element in data:
        if isinstance(element, dict):
            item = normalise_item_keys(element)
            if isinstance(item.get("question"), str) and item["question"].strip():
                items.append({k: str(v) for k, v in item.items() if k in ("dimension", "question", "basis")})
    return items


def parse_clean_reply(text: str | None, n: int) -> set[int] | None:
    """Ids to remove from a cleaning reply; None when it is not in the documented shape. Missing ids are kept."""
    data = _json_object(text or "")
    if isinstance(data, dict):
        data = data.get("results")
    if not isinstance(data, list):
        return None
    remove = set()
    for element in data:
        if not isinstance(element, dict):
            continue
        rid, judgment = element.get("id"), element.get("judgment")
        if isinstance(rid, int) and not isinstance(rid, bool) and 0 <= rid < n and isinstance(judgment, str):
            if judgment.strip().lower() == "remove":
                remove.add(rid)
    return remove
