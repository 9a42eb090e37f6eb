"""Inspect AI entry point: importing this registers the package's tasks, scorers and model APIs."""

# ruff: noqa: F401
from anyaudio_eval.providers import acoustic_api
from anyaudio_eval.scorers import bench_alignment, bench_metrics
from anyaudio_eval.tasks.bench import bench
