"""A sample's items in one request to `audiollm/`: the same p_yes, one model call per sample in the log."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from fixtures import balanced_bench  # noqa: E402
from inspect_ai import eval  # noqa: E402
from inspect_ai.model import get_model  # noqa: E402

from anyaudio_eval.bench.schema import RubricItem  # noqa: E402
from anyaudio_eval.models.tiny import save_tiny  # noqa: E402
from anyaudio_eval.rubric.protocol import ITEM_BATCH_KEY, default_protocol  # noqa: E402
from anyaudio_eval.tasks.bench import bench  # noqa: E402


@pytest.mark.slow
def test_item_batches_give_the_same_p_yes_with_one_model_call_per_sample(tmp_path):
    checkpoint = save_tiny(tmp_path / "omni", family="omni", layout="full")
    data = balanced_bench(tmp_path / "bench", n_per_subset=2)
    logs = {}
    for batches in (False, True):
        model = get_model(f"audiollm/{checkpoint}", item_batches=batches, prefix_cache=batches)
        logs[batches] = eval(bench(dataset=str(data)), model=model, display="none", log_dir=str(tmp_path / "logs"))[0]
        assert logs[batches].status == "success", logs[batches].error
    per_item = {s.id: s for s in logs[False].samples}
    for sample in logs[True].samples:
        items = sample.scores["bench_alignment"].metadata["items"]
        expected = per_item[sample.id].scores["bench_alignment"].metadata["items"]
        assert [round(i["p_yes"], 5) for i in items] == [round(i["p_yes"], 5) for i in expected]
        calls = [e for e in sample.events if e.event == "model"]
        assert len(calls) == 1 and len(calls[0].output.choices) == len(items) == 2
        # The log keeps what the judge was asked per item and what it returned per item.
        texts = calls[0].config.extra_body[ITEM_BATCH_KEY]
        rubric = [RubricItem.model_validate(i) for i in sample.metadata["rubric"]]
        assert texts == [default_protocol("zh").item_text(i) for i in rubric]
        assert all(c.logprobs and c.logprobs.content[0].top_logprobs for c in calls[0].output.choices)
        assert len([e for e in per_item[sample.id].events if e.event == "model"]) == 2
