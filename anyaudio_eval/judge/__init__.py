"""The judging procedure shared by the bench task, the generator scorer and the RL reward."""

from anyaudio_eval.judge.checklist import render_checklist
from anyaudio_eval.judge.procedure import (
    JUDGE_MODES,
    ItemVerdict,
    JudgeMode,
    JudgeResult,
    aggregate,
    judge_audio,
)

__all__ = [
    "JUDGE_MODES",
    "ItemVerdict",
    "JudgeMode",
    "JudgeResult",
    "aggregate",
    "judge_audio",
    "render_checklist",
]
