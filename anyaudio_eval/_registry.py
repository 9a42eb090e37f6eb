"""Inspect AI entry point: importing this registers the package's tasks, scorers and model APIs."""

# ruff: noqa: F401
from anyaudio_eval.providers import acoustic_api
from anyaudio_eval.providers.generator_apis import command_api, espeak_api, files_api, openai_speech_api
from anyaudio_eval.scorers import bench_alignment, bench_metrics
from anyaudio_eval.scorers.rubric_judge import generator_metrics, rubric_judge
from anyaudio_eval.tasks.bench import bench
from anyaudio_eval.tasks.human_alignment import human_alignment, listener_agreement
from anyaudio_eval.tasks.instruct import instruct
from anyaudio_eval.tasks.probes import probes
from anyaudio_eval.tasks.robustness import robustness
