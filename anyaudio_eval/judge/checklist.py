"""A readable markdown checklist of a judge result (Score.explanation, CLI output)."""

from __future__ import annotations

from anyaudio_eval.judge.procedure import JudgeResult


def render_checklist(result: JudgeResult) -> str:
    lines = []
    if result.score is not None:
        lines.append(f"**score {result.score:.3f}** ({result.mode} mode, {len(result.items)} items)")
    if result.error:
        lines.append(f"**not scored:** {result.error}")
    if result.n_dropped:
        lines.append(f"({result.n_dropped} rubric item(s) with an empty question dropped)")
    for item in result.items:
        if not item.parsed:
            mark, prob = "?", f"unparsed: {item.reason}" if item.reason else "unparsed"
        elif item.p_yes is not None and abs(item.p_yes - 0.5) < 1e-9:
            mark = "~"  # no information either way (e.g. the acoustic judge abstaining)
            prob = "p_yes 0.50"
        else:
            mark = "x" if item.answer == "yes" else " "
            prob = f"p_yes {item.p_yes:.2f}" if item.soft else f"answer {item.answer} (no logprobs)"
        dim = f"[{item.dimension}] " if item.dimension else ""
        gold = f", gold {item.gold}" if item.gold else ""
        evidence = f" - {item.evidence}" if item.evidence else ""
        lines.append(f"- [{mark}] {dim}{item.question} ({prob}{gold}){evidence}")
    return "\n".join(lines)
