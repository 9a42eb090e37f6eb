"""The lm-eval task of the pack: one doc per bench sample, one yes/no loglikelihood pair per rubric item.

Referenced from the YAMLs as `!function anyaudio_eval.lmeval.task.<name>` (a normal import, so the classes
and functions here are the package's own, not a second copy loaded from a path).

- Docs are bench rows loaded with `bench.loaders.load_bench` (hub, hub-layout folder, parquet or JSONL), the
  audio normalised into the package's WAV cache. A doc keeps only the cached WAV *path*: `--log_samples`
  never writes audio bytes.
- `doc_to_audio` attaches `[AudioRef]`, a dict that names the cached clip and loads `["array"]` (16 kHz mono
  float32) only when a model reads it; logs and request caches see the path, never the samples.
- Prompts are THE judge prompts of the chosen protocol (`rubric.protocol`; `protocol: reference` reads the
  authors' release, `reference:` names a clone): the judge system prompt (unless `--system_instruction`
  replaces it) and, per item, the audio followed by the protocol's item text. Under any protocol the pair is
  the loglikelihood of the words `yes` and `no` (lm-eval scores continuations, not first-token forms). Logits
  mode asks for `yes` and `no`; p_yes = P(yes) / (P(yes) + P(no)) is read with
  `rubric.parsing.p_yes_from_top_logprobs`; the sample score is the mean p_yes over its items, and the
  decision `score >= threshold` is compared with the label.
- Generate mode sends one request per sample listing every item (as the Inspect judge does) and parses the
  JSON answer list with `rubric.parsing.parse_answer_list`; the score is the share of yes.

Task parameters come from the task metadata (YAML `metadata:`, then `--metadata '{...}'` or
`TaskManager(metadata=...)`): dataset, language, subsets, types, labels, limit, shuffle, seed, revision,
max_seconds, threshold, prompt_language, empty_rubric (skip | holistic), protocol (anyaudio | reference),
reference, reference_sha256, resampler.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from anyaudio_eval.bench.schema import HUB_ID, SUBSETS, RubricItem
from anyaudio_eval.constants import SAMPLE_RATE
from anyaudio_eval.rubric.parsing import p_yes_from_top_logprobs, parse_answer_list
from anyaudio_eval.rubric.prompts import PROMPT_LANGUAGES
from anyaudio_eval.rubric.protocol import Protocol, get_protocol
from anyaudio_eval.scorers.metrics import auroc as _auroc
from anyaudio_eval.scorers.metrics import expected_calibration_error

logger = logging.getLogger(__name__)

# Where the audio goes in a prompt; the pack's model (and lm-eval's own audio models) replace it.
AUDIO_MARKER = "<audio>"
EMPTY_RUBRIC_POLICIES = ("skip", "holistic")
DEFAULTS: dict[str, Any] = {
    "dataset": HUB_ID,
    "language": "en",
    "threshold": 0.5,
    "prompt_language": "zh",
    "empty_rubric": "skip",
    "protocol": "anyaudio",
}
_LOAD_ARGS = ("subsets", "types", "labels", "limit", "shuffle", "seed", "strict", "revision", "max_seconds")


def settings(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """Task parameters: DEFAULTS overridden by the task metadata; checked like the Inspect task's."""
    out = {**DEFAULTS, **{k: v for k, v in (metadata or {}).items() if v is not None}}
    out["threshold"] = float(out["threshold"])
    if not 0.0 <= out["threshold"] <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {out['threshold']}")
    if out["prompt_language"] not in PROMPT_LANGUAGES:
        raise ValueError(
            f"unknown prompt_language {out['prompt_language']!r}; use one of {', '.join(PROMPT_LANGUAGES)}"
        )
    if out["empty_rubric"] not in EMPTY_RUBRIC_POLICIES:
        raise ValueError(f"unknown empty_rubric {out['empty_rubric']!r}; use one of {', '.join(EMPTY_RUBRIC_POLICIES)}")
    return out


def protocol_of(cfg: dict[str, Any]) -> Protocol:
    keys = ("protocol", "prompt_language", "resampler", "reference", "reference_sha256")
    return _protocol(*(None if cfg.get(k) is None else str(cfg[k]) for k in keys))


@functools.lru_cache(maxsize=8)
def _protocol(name: Any, language: Any, resampler: Any, reference: Any, sha256: Any) -> Protocol:
    # Asked for per doc: resolve (and, for the reference protocol, read and hash the release file) once.
    return get_protocol(name, language, resampler=resampler, reference=reference, reference_sha256=sha256)


# -- dataset ----------------------------------------------------------------------------------------


def load_dataset(**metadata: Any) -> Any:
    """`custom_dataset`: bench rows as a `datasets.DatasetDict` with a `test` split (audio as cached paths).

    lm-eval passes the whole task metadata (model args included), so unknown keys are ignored.
    Rows with an empty rubric are dropped under `empty_rubric=skip` (the Inspect task leaves them unscored,
    outside every metric); bad rows are skipped and named, as in the Inspect task.
    """
    import datasets

    from anyaudio_eval.bench.loaders import load_bench

    cfg = settings(metadata)
    load = load_bench(
        dataset=str(cfg["dataset"]),
        language=str(cfg["language"]),
        progress=True,
        resampler=protocol_of(cfg).resampler,
        **{k: cfg[k] for k in _LOAD_ARGS if k in cfg},
    )
    for skipped in load.skipped[:20]:
        logger.warning("anyaudio: row %s skipped: %s", skipped.uuid, skipped.reason)
    if len(load.skipped) > 20:
        logger.warning("anyaudio: ... and %d more rows skipped", len(load.skipped) - 20)
    rows = []
    empty = []
    for row in load.rows:
        if not row.rubric and cfg["empty_rubric"] == "skip":
            empty.append(row.uuid)
            continue
        rows.append(
            {
                "uuid": row.uuid,
                "audio": row.audio,
                "caption": row.caption,
                "label": row.label,
                "type": row.type,
                "subset": row.subset,
                "language": row.language,
                "rubric": json.dumps([i.model_dump(exclude_none=True) for i in row.rubric], ensure_ascii=False),
            }
        )
    if empty:
        logger.warning(
            "anyaudio: %d row(s) with an empty rubric left out (empty_rubric=skip), e.g. %s",
            len(empty),
            empty[:5],
        )
    if not rows:
        raise ValueError(f"no rows left to evaluate from {load.source} after filtering ({len(load.skipped)} skipped)")
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def rubric_of(doc: dict[str, Any]) -> list[RubricItem]:
    return [RubricItem.model_validate(item) for item in json.loads(doc["rubric"] or "[]")]


# -- audio ------------------------------------------------------------------------------------------


class AudioRef(dict):
    """`{"path", "sampling_rate", "uuid"}`; `["array"]` decodes the cached clip on each read.

    lm-eval builds every request before running any, so holding arrays would keep the whole bench's audio in
    memory; and `--log_samples` would print them. This keeps one path per request instead.
    """

    def __missing__(self, key: str) -> Any:
        if key == "array":
            from anyaudio_eval.audio import decode_audio, to_mono_16k

            data, sr = decode_audio(self["path"])
            return to_mono_16k(data, sr, max_seconds=math.inf)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key == "array" else super().get(key, default)


def doc_to_audio(doc: dict[str, Any]) -> list[AudioRef]:
    return [AudioRef(path=doc["audio"], sampling_rate=SAMPLE_RATE, uuid=doc["uuid"])]


def doc_to_text(doc: dict[str, Any]) -> str:
    """What lm-eval shows for a doc (the real prompts are per item, built in `RubricTask`)."""
    return f"{AUDIO_MARKER}{doc['caption']}"


# -- the task ---------------------------------------------------------------------------------------

try:
    from lm_eval.api.instance import Instance
    from lm_eval.api.task import ConfigurableTask
except ImportError as ex:  # pragma: no cover - the lmeval extra is missing
    raise ImportError("the lm-eval task pack needs the lmeval extra: pip install 'anyaudio-eval[lmeval]'") from ex


class RubricTask(ConfigurableTask):
    """One doc per sample; `loglikelihood`: yes/no per item; `generate_until`: one item-list request."""

    def __init__(self, *args: Any, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        config = dict(config or {})
        config.pop("class", None)  # lm-eval hands the `class` key to the constructor
        settings(config.get("metadata"))  # fail at start on a bad parameter
        # Our metrics come from `process_results` below; with it named in the config, lm-eval does not look the
        # metric names up in its registry (and then on the Hugging Face hub, with retries, offline).
        config["process_results"] = self.process_results
        super().__init__(*args, config=config, **kwargs)

    @property
    def params(self) -> dict[str, Any]:
        return settings(self.config.metadata if isinstance(self.config.metadata, dict) else {})

    @property
    def mode(self) -> str:
        return "generate" if self.OUTPUT_TYPE == "generate_until" else "logits"

    def item_texts(self, doc: dict[str, Any]) -> list[str]:
        """The user text after the audio, per request (logits: one per item; generate: one list)."""
        protocol = protocol_of(self.params)
        items = rubric_of(doc)
        if not items:  # only under empty_rubric=holistic
            return [AUDIO_MARKER + protocol.holistic_text(doc["caption"])]
        if self.mode == "generate":
            return [AUDIO_MARKER + protocol.item_list_text(items)]
        return [AUDIO_MARKER + protocol.item_text(item) for item in items]

    def fewshot_context(
        self,
        doc: dict[str, Any],
        num_fewshot: int,
        system_instruction: str | None = None,
        apply_chat_template: bool = False,
        fewshot_as_multiturn: bool = False,
        chat_template: Callable[..., str] | None = None,
        gen_prefix: str | None = None,
    ) -> list[str]:
        """One context per request: [system, user(audio + item text)], through the model's chat template."""
        if num_fewshot:
            raise ValueError("the AnyAudio-Judge tasks are zero-shot (few-shot examples would carry no audio)")
        items = rubric_of(doc)
        mode = self.mode if items else "holistic"
        system = system_instruction if system_instruction is not None else protocol_of(self.params).judge_system(mode)
        contexts = []
        for text in self.item_texts(doc):
            if apply_chat_template and chat_template is not None:
                messages = [{"role": "system", "content": system}, {"role": "user", "content": text}]
                contexts.append(chat_template(messages, add_generation_prompt=True))
            else:
                contexts.append(f"{system}\n\n{text}\n")
        return contexts

    def construct_requests(self, doc: dict[str, Any], ctx: Any, **kwargs: Any) -> list[Instance]:
        apply_chat_template = kwargs.pop("apply_chat_template", False)
        kwargs.pop("chat_template", None)
        contexts = ctx if isinstance(ctx, list) else [ctx]
        audio = {"audio": self.doc_to_audio(doc)}  # one object shared by the doc's requests
        if self.OUTPUT_TYPE == "generate_until":
            gen = dict(self.config.generation_kwargs or {})
            return [
                Instance(request_type="generate_until", doc=doc, arguments=(c, gen, audio), idx=i, **kwargs)
                for i, c in enumerate(contexts)
            ]
        delimiter = "" if apply_chat_template else self.config.target_delimiter
        requests = []
        for i, c in enumerate(contexts):
            for j, answer in enumerate(("yes", "no")):
                requests.append(
                    Instance(
                        request_type="loglikelihood",
                        doc=doc,
                        arguments=(c, f"{delimiter}{answer}", audio),
                        idx=2 * i + j,
                        **kwargs,
                    )
                )
        return requests

    def sample_score(self, doc: dict[str, Any], results: Sequence[Any]) -> tuple[float | None, int, int]:
        """(score, items, unparsed items) of one doc from its responses (ordered by request idx)."""
        if self.mode == "generate":
            n = max(1, len(rubric_of(doc)))
            parsed = parse_answer_list(results[0] if results else "", n)
            answers = [a.answer == "yes" for a in parsed.answers.values()]
            score = sum(answers) / len(answers) if answers else None
            return score, n, n - len(answers)
        p_yes = []
        for k in range(0, len(results), 2):
            (ll_yes, _), (ll_no, _) = results[k], results[k + 1]
            p = p_yes_from_top_logprobs([("yes", ll_yes), ("no", ll_no)])
            if p is not None:
                p_yes.append(p)
        n = len(results) // 2
        return (sum(p_yes) / len(p_yes) if p_yes else None), n, n - len(p_yes)

    def process_results(self, doc: dict[str, Any], results: Sequence[Any]) -> dict[str, Any]:
        score, n_items, n_unparsed = self.sample_score(doc, results)
        if n_unparsed:
            logger.warning("anyaudio: %s: %d of %d item(s) unparsed", doc["uuid"], n_unparsed, n_items)
        if score is None:
            # As in the Inspect task: unscored, outside every metric, counted and named; never a silent 0 or 1.
            logger.warning("anyaudio: %s: no rubric item could be scored; sample left unscored", doc["uuid"])
            return {"unscored_share": 1.0}
        predicted = "yes" if score >= self.params["threshold"] else "no"
        correct = float(predicted == doc["label"])
        record = (doc["uuid"], doc["subset"], score, doc["label"], correct)
        return {
            "acc": correct,
            f"acc_{doc['subset']}": correct,
            "acc_macro": record,
            "auroc": record,
            "ece": record,
            "unscored_share": 0.0,
        }


# -- aggregations (custom ones get the per-doc values of every doc) -------------------------------


def agg_auroc(values: Sequence[tuple[Any, ...]]) -> float:
    rs = list(values)
    return _auroc([r[2] for r in rs], [r[3] == "yes" for r in rs])


def agg_ece(values: Sequence[tuple[Any, ...]]) -> float:
    rs = list(values)
    return expected_calibration_error([r[2] for r in rs], [r[3] == "yes" for r in rs])


def agg_macro(values: Sequence[tuple[Any, ...]]) -> float:
    """Mean of the per-subset accuracies (each subset weighs the same)."""
    by_subset: dict[str, list[float]] = defaultdict(list)
    for v in values:
        by_subset[v[1]].append(v[4])
    accs = [sum(xs) / len(xs) for xs in by_subset.values()]
    return sum(accs) / len(accs) if accs else float("nan")


SUBSET_METRICS = tuple(f"acc_{s}" for s in SUBSETS)
