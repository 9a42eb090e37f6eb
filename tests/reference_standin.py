"""A stand-in for the release's `anyaudio_judge/prompts.py`: the same names and shape, our own test text.

The real file's wording belongs to its authors and is never kept in this project; the tests read this one
through the same loader, with its hash passed as `reference_sha256`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

STANDIN_SOURCE = '''"""Stand-in prompts (test text)."""

import pathlib

DECOMPOSE_PROMPTS = {
    "speech": {"max_tokens": 111, "user_prefix": "SPEECH CAPTION:\\n", "system_prompt": "split speech, yes or no"},
    "sound": {"max_tokens": 222, "user_prefix": "SOUND CAPTION:\\n", "system_prompt": "split sound"},
    "music": {"max_tokens": 333, "user_prefix": "MUSIC CAPTION:\\n", "system_prompt": "split music"},
    "mix": {"max_tokens": 444, "user_prefix": "MIX CAPTION:\\n", "system_prompt": "split mix"},
}

CLEAN_SYSTEM_PROMPT = """Test cleaner: keep or remove each question."""

# Never evaluated: the loader reads literals and the three builders only.
SIDE_EFFECT = pathlib.Path("__MARKER__").write_text("executed")


def build_clean_user_text(caption: str, rubric):
    """Test cleaner input."""
    lines = [f"CAPTION={caption}", "", "QUESTIONS:"]
    for i, item in enumerate(rubric):
        q = item.get("question", item.get("q", ""))
        b = item.get("basis", item.get("b", ""))
        lines.append(f"<{i}> {q}")
        lines.append(f"    because {b}")
    return "\\n".join(lines)


JUDGE_LOGITS_SYSTEM_PROMPT = """You are a test listener. Say yes or no. yes no yes no."""


def build_logits_user_text(item):
    dim = item.get("dimension", item.get("d", ""))
    q = item.get("question", item.get("q", ""))
    if dim:
        return f"Decide: <<{dim}>> {q}"
    return f"Decide: {q}"


JUDGE_GENERATE_SYSTEM_PROMPT = """You are a test listener. Answer with a JSON array of id, answer, evidence."""


def build_generate_user_text(rubric):
    lines = [f"Answer these {len(rubric)} checks:"]
    for idx, item in enumerate(rubric):
        dim = item.get("dimension", item.get("d", ""))
        q = item.get("question", item.get("q", ""))
        if dim:
            lines.append(f"\\n{idx}. <<{dim}>> {q}")
        else:
            lines.append(f"\\n{idx}. {q}")
    return "\\n".join(lines)
'''


def write_standin(root: Path, marker: Path) -> tuple[Path, str]:
    """(clone folder holding anyaudio_judge/prompts.py, its sha256)."""
    path = root / "anyaudio_judge" / "prompts.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = STANDIN_SOURCE.replace("__MARKER__", str(marker)).encode("utf-8")
    path.write_bytes(data)
    return root, hashlib.sha256(data).hexdigest()


def standin_item_text(dimension: str, question: str) -> str:
    """What the stand-in's logits builder returns, written independently of the loader."""
    return f"Decide: <<{dimension}>> {question}" if dimension else f"Decide: {question}"


STANDIN_LOGITS_SYSTEM = "You are a test listener. Say yes or no. yes no yes no."
