"""The one renderer of a judgment: the viewer's transcript and Scoring tab and `anyaudio judge` all show this.

Each item reads at a glance: a mark for right or wrong against the item's gold label where one is known, the
judge's answer (yes / no / abstain / unparsed) and p_yes. Wrong items come first, so a person looking for why
the judge failed sees it without scrolling. An abstention (p_yes exactly 0.5) is never shown as a yes.
"""

from __future__ import annotations

from collections.abc import Sequence

from anyaudio_eval.judge.procedure import ItemVerdict, JudgeResult

RIGHT, WRONG, ABSTAIN, UNPARSED, NO_GOLD = "✓", "✗", "~", "?", "◦"
LEGEND = (
    f"{WRONG} wrong · {RIGHT} right (the judge's answer against the item's gold label) · "
    f"{ABSTAIN} abstained (p_yes 0.50: no information) · {UNPARSED} unparsed · {NO_GOLD} no gold label"
)
_ORDER = {WRONG: 0, UNPARSED: 1, ABSTAIN: 2, NO_GOLD: 3, RIGHT: 4}


def item_mark(item: ItemVerdict) -> str:
    if item.verdict == "unparsed":
        return UNPARSED
    if item.verdict == "abstain":
        return ABSTAIN
    if item.correct is None:
        return NO_GOLD
    return RIGHT if item.correct else WRONG


def item_line(item: ItemVerdict) -> str:
    """`- ✗ #2 [pitch] Is it high? — yes (p_yes 0.72), gold no — <evidence>`"""
    dim = f"[{item.dimension}] " if item.dimension else ""
    if item.verdict == "unparsed":
        said = f"unparsed: {item.reason}" if item.reason else "unparsed"
    elif item.soft and item.p_yes is not None:
        said = f"**{item.verdict}** (p_yes {item.p_yes:.2f})"
    else:
        said = f"**{item.verdict}** (a hard answer: no logprobs)"
    gold = f", gold {item.gold}" if item.gold else ""
    evidence = f" — {item.evidence}" if item.evidence else ""
    return f"- {item_mark(item)} #{item.id} {dim}{item.question} — {said}{gold}{evidence}"


def ordered(items: Sequence[ItemVerdict]) -> list[ItemVerdict]:
    """Wrong items first, then unparsed, abstained, ungraded and right ones; each group in rubric order."""
    return sorted(items, key=lambda i: (_ORDER[item_mark(i)], i.id))


def decision_line(result: JudgeResult, threshold: float | None, label: str | None = None) -> str:
    """`score 0.735 → match at threshold 0.5; label yes: right` (or why there is no score)."""
    if result.score is None:
        return f"not scored: {result.error or 'no item could be parsed'}"
    line = f"score {result.score:.3f}"
    if threshold is not None:
        decision = "yes" if result.score >= threshold else "no"
        line += f" → {'match' if decision == 'yes' else 'no match'} at threshold {threshold:g}"
        if label in ("yes", "no"):
            line += f"; label {label}: {'right' if decision == label else 'WRONG'}"
    return line


def render_checklist(result: JudgeResult, threshold: float | None = None, label: str | None = None) -> str:
    """Markdown: the decision, counts, a legend, then one line per item (wrong first)."""
    head = f"**{decision_line(result, threshold, label)}**"
    if result.items:
        counts = {mark: sum(item_mark(i) == mark for i in result.items) for mark in _ORDER}
        shown = ", ".join(f"{n} {mark}" for mark, n in counts.items() if n)
        head += f" ({result.mode} mode, {len(result.items)} items: {shown})"
    lines = [head]
    if result.score is not None and result.error:
        lines.append(f"note: {result.error}")
    if result.n_dropped:
        lines.append(f"({result.n_dropped} rubric item(s) with an empty question dropped)")
    if result.items:
        lines += ["", f"_{LEGEND}_", ""]
        lines += [item_line(item) for item in ordered(result.items)]
    return "\n".join(lines)
