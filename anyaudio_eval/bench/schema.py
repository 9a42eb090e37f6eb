"""Row schema of the AnyAudio-Judge Bench (and of local copies and the probe set)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from anyaudio_eval.constants import LABELS, LANGUAGES, SUBSETS, TYPES  # noqa: F401  (the bench's vocabulary)

HUB_ID = "cucl2/AnyAudio-Judge-Bench"

# The release writes rubric keys in Chinese or in English with any capitalisation.
_ITEM_KEYS = {
    "维度": "dimension",
    "题目": "question",
    "依据": "basis",
    "dimension": "dimension",
    "question": "question",
    "basis": "basis",
    "label": "label",
    "答案": "label",
}


def normalise_item_keys(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = _ITEM_KEYS.get(str(key).strip().lower(), _ITEM_KEYS.get(str(key).strip()))
        # Files that mix key styles carry both sets with None in the unused one: skip those.
        if name is not None and value is not None and name not in out:
            out[name] = value
    return out


class RubricItem(BaseModel):
    """One atomic yes/no check; yes always means "the audio matches"."""

    dimension: str = ""
    question: str
    basis: str = ""
    # Item-level gold label, where known (probe set, training corpus); the bench has none.
    label: Literal["yes", "no"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = normalise_item_keys(data)
            for key in ("dimension", "question", "basis"):
                if data.get(key) is None:
                    data.pop(key, None)
                elif not isinstance(data[key], str):
                    data[key] = str(data[key])
            if isinstance(data.get("label"), str):
                data["label"] = data["label"].strip().lower() or None
        return data


class BenchRow(BaseModel):
    """A bench row after loading: the audio is a cached mono 16 kHz WAV path."""

    uuid: str
    audio: str
    caption: str
    label: Literal["yes", "no"]
    type: str
    subset: str
    rubric: list[RubricItem] = Field(default_factory=list)
    language: str
    # Fields a local dataset adds beyond the bench schema (e.g. the robustness probes' pairing); kept as-is.
    extra: dict[str, Any] = Field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        return {
            **self.extra,
            "uuid": self.uuid,
            "subset": self.subset,
            "type": self.type,
            "label": self.label,
            "language": self.language,
            "caption": self.caption,
            "rubric": [item.model_dump(exclude_none=True) for item in self.rubric],
        }


class SkippedRow(BaseModel):
    uuid: str
    reason: str
