"""AnyAudio-Judge for EleutherAI's lm-evaluation-harness (0.4.13): a task pack and a model of our own.

    python -m anyaudio_eval.lmeval run --model anyaudio-judge --model_args pretrained=./AnyAudio-Judge-7B \\
        --tasks anyaudio_judge_en --apply_chat_template --metadata '{"dataset": "./bench"}'

`python -m anyaudio_eval.lmeval` registers the model and adds the pack's `--include_path`, then runs lm-eval's
own CLI (lm-eval 0.4.13 loads no model plugins by itself). In Python, pass the model instance and
`TaskManager(include_path=pack_path())` to `lm_eval.simple_evaluate`.
"""

from __future__ import annotations

from pathlib import Path

MODEL_NAME = "anyaudio-judge"
TASKS = ("anyaudio_judge_en", "anyaudio_judge_zh", "anyaudio_judge_gen_en", "anyaudio_judge_gen_zh")
GROUPS = ("anyaudio_judge", "anyaudio_judge_gen")


def pack_path() -> Path:
    """The folder of the task YAMLs, for lm-eval's `--include_path` (`anyaudio lmeval-path` prints it)."""
    return Path(__file__).resolve().parent / "tasks"


def register() -> None:
    """Register the `anyaudio-judge` lm-eval model (idempotent)."""
    from anyaudio_eval.lmeval import model  # noqa: F401  # @register_model runs on import


def task_manager(metadata: dict | None = None, include_defaults: bool = False):
    """An lm-eval `TaskManager` that knows the pack (and, unless asked, none of lm-eval's own ~10k tasks).

    `metadata` sets the task parameters, e.g. `{"dataset": "./bench", "threshold": 0.8}`.
    """
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(pack_path()), include_defaults=include_defaults, metadata=metadata)
