"""The benchmarks' instant judge: item batches and per-item calls give the same verdicts."""

from __future__ import annotations

from fixtures import balanced_bench
from inspect_ai import eval
from inspect_ai.model import get_model
from judges import InstantJudge  # noqa: F401  (registers instant/)

from anyaudio_eval.tasks.bench import bench


def test_instant_judge_batches_match_per_item_calls(tmp_path):
    data = balanced_bench(tmp_path / "bench", n_per_subset=2)
    logs = {}
    for batches in (False, True):
        model = get_model("instant/judge", item_batches=batches, memoize=False)
        logs[batches] = eval(bench(dataset=str(data)), model=model, display="none", log_dir=str(tmp_path / "logs"))[0]
        assert logs[batches].status == "success", logs[batches].error
    per_item = {s.id: s for s in logs[False].samples}
    for sample in logs[True].samples:
        items = sample.scores["bench_alignment"].metadata["items"]
        assert [i["p_yes"] for i in items] == [
            i["p_yes"] for i in per_item[sample.id].scores["bench_alignment"].metadata["items"]
        ]
        assert all(i["parsed"] and i["soft"] for i in items)
        assert len([e for e in sample.events if e.event == "model"]) == 1
        assert len([e for e in per_item[sample.id].events if e.event == "model"]) == len(items)
