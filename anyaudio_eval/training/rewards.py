"""The paper's GRPO reward, as plain functions over one completion and its gold labels.

    reward = 0.1 * format + 0.2 * overall decision + 0.7 * balanced item accuracy      (weights configurable)

Every term reads the completion with `rubric.parsing.parse_answer_list`, the generate-mode parser used in
evaluation. An item that is missing, repeated or unparsable counts as wrong (never skipped), so a model cannot
gain by answering only the easy items; a malformed completion gets 0 on every term.

- `format_reward`: 1 when every item 0..n-1 has exactly one valid {id, answer} element, else 0;
- `decision_reward`: 1 when the predicted overall decision equals the gold one. The prediction is "match" when
  the share of yes among all n items (missing ones are not yes) reaches `threshold` (0.8, the release's
  generate-mode threshold); nothing parsed gives 0;
- `item_reward`: balanced accuracy = mean of recall on gold-yes items and recall on gold-no items (only the
  classes present); any constant answer scores at most 0.5 on a sample with both classes.

`trl_reward_functions` wraps them for TRL's `GRPOTrainer` (one function per term, weights passed as
`reward_weights`), and logs the predicted-yes rate next to the gold-yes rate through TRL's `log_metric`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from anyaudio_eval.constants import REWARD_DECISION, REWARD_FORMAT, REWARD_ITEMS, REWARD_TERMS
from anyaudio_eval.rubric.parsing import parse_answer_list

DEFAULT_WEIGHTS: dict[str, float] = {REWARD_FORMAT: 0.1, REWARD_DECISION: 0.2, REWARD_ITEMS: 0.7}  # the paper's
DEFAULT_THRESHOLD = 0.8  # the release's generate-mode threshold


@dataclass(frozen=True)
class Reading:
    """What a completion says about each of n items: "yes", "no" or None (missing / unparsed)."""

    answers: list[str | None]
    error: str | None

    @property
    def complete(self) -> bool:
        return self.error is None and all(a is not None for a in self.answers)

    @property
    def yes_share(self) -> float:
        return sum(a == "yes" for a in self.answers) / len(self.answers) if self.answers else 0.0


def completion_text(completion: Any) -> str:
    """TRL hands a string (plain prompts) or [{"role": "assistant", "content": ...}] (conversational)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        content = completion[-1].get("content", "")
        return content if isinstance(content, str) else ""
    return ""


def read_completion(text: str, n: int) -> Reading:
    parsed = parse_answer_list(text, n)
    return Reading(
        answers=[parsed.answers[i].answer if i in parsed.answers else None for i in range(n)], error=parsed.error
    )


def format_reward(text: str, gold: Sequence[str]) -> float:
    return 1.0 if read_completion(text, len(gold)).complete else 0.0


def predicted_decision(reading: Reading, threshold: float = DEFAULT_THRESHOLD) -> str | None:
    if not any(a is not None for a in reading.answers):
        return None
    return "yes" if reading.yes_share >= threshold - 1e-9 else "no"


def gold_decision(gold: Sequence[str], label: str | None = None) -> str:
    return label if label in ("yes", "no") else ("yes" if all(g == "yes" for g in gold) else "no")


def decision_reward(
    text: str, gold: Sequence[str], label: str | None = None, threshold: float = DEFAULT_THRESHOLD
) -> float:
    predicted = predicted_decision(read_completion(text, len(gold)), threshold)
    return 1.0 if predicted is not None and predicted == gold_decision(gold, label) else 0.0


def balanced_item_accuracy(answers: Sequence[str | None], gold: Sequence[str]) -> float:
    recalls = []
    for cls in ("yes", "no"):
        idx = [i for i, g in enumerate(gold) if g == cls]
        if idx:
            recalls.append(sum(answers[i] == cls for i in idx) / len(idx))
    return sum(recalls) / len(recalls) if recalls else 0.0


def item_reward(text: str, gold: Sequence[str]) -> float:
    return balanced_item_accuracy(read_completion(text, len(gold)).answers, gold)


def judge_reward(
    text: str,
    gold: Sequence[str],
    label: str | None = None,
    weights: dict[str, float] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> float:
    """The weighted total for one completion (what GRPO optimises, before group normalisation)."""
    w = {**DEFAULT_WEIGHTS, **(weights or {})}
    return (
        w[REWARD_FORMAT] * format_reward(text, gold)
        + w[REWARD_DECISION] * decision_reward(text, gold, label, threshold)
        + w[REWARD_ITEMS] * item_reward(text, gold)
    )


def is_right(
    text: str,
    gold: Sequence[str],
    label: str | None = None,
    criterion: str = "decision",
    threshold: float = DEFAULT_THRESHOLD,
) -> bool:
    """Whether a rollout counts as answered right (hard-sample mining).

    criterion "decision": the overall match decision is right; "items": every item answered and right.
    """
    if criterion == "decision":
        return decision_reward(text, gold, label, threshold) == 1.0
    if criterion == "items":
        reading = read_completion(text, len(gold))
        return reading.complete and list(reading.answers) == list(gold)
    raise ValueError(f"unknown mining criterion {criterion!r}; use decision or items")


# -- TRL adapters ------------------------------------------------------------------------------------


def trl_reward_functions(threshold: float = DEFAULT_THRESHOLD) -> list[Callable[..., list[float]]]:
    """One function per term of `REWARD_TERMS` (in that order, named after it), with TRL's signature
    f(prompts, completions, **columns) -> list[float].

    Needs the dataset columns `gold` (list of "yes"/"no" per item) and `label` (overall gold).
    """

    def format_term(
        prompts: Any = None,
        completions: Sequence[Any] = (),
        gold: Sequence[Sequence[str]] = (),
        log_metric: Callable[[str, float], None] | None = None,
        **_: Any,
    ) -> list[float]:
        texts = [completion_text(c) for c in completions]
        if log_metric is not None and texts:
            readings = [read_completion(t, len(g)) for t, g in zip(texts, gold, strict=True)]
            answered = [a for r in readings for a in r.answers]
            golds = [x for g in gold for x in g]
            log_metric("judge/pred_yes_rate", sum(a == "yes" for a in answered) / max(1, len(answered)))
            log_metric("judge/gold_yes_rate", sum(x == "yes" for x in golds) / max(1, len(golds)))
            log_metric("judge/unparsed_item_rate", sum(a is None for a in answered) / max(1, len(answered)))
        return [format_reward(t, g) for t, g in zip(texts, gold, strict=True)]

    def decision_term(
        prompts: Any = None,
        completions: Sequence[Any] = (),
        gold: Sequence[Sequence[str]] = (),
        label: Sequence[str] | None = None,
        **_: Any,
    ) -> list[float]:
        labels = label if label is not None else [None] * len(completions)
        return [
            decision_reward(completion_text(c), g, lab, threshold)
            for c, g, lab in zip(completions, gold, labels, strict=True)
        ]

    def items_term(
        prompts: Any = None, completions: Sequence[Any] = (), gold: Sequence[Sequence[str]] = (), **_: Any
    ) -> list[float]:
        return [item_reward(completion_text(c), g) for c, g in zip(completions, gold, strict=True)]

    terms: dict[str, Callable[..., list[float]]] = {
        REWARD_FORMAT: format_term,
        REWARD_DECISION: decision_term,
        REWARD_ITEMS: items_term,
    }
    for name, term in terms.items():
        term.__name__ = name  # TRL logs each reward as rewards/<__name__>/mean
    return [terms[name] for name in REWARD_TERMS]
