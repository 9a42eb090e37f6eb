"""The reference protocol: the authors' released prompts, read at run time from their public release.

The wording of the release's prompts belongs to its authors and is not part of this project. It is obtained
when asked for, pinned by commit and by the sha256 of `anyaudio_judge/prompts.py`:

1. `reference=PATH` (task option `-T reference=`, or `$ANYAUDIO_REFERENCE`): a clone of the release, or the
   file itself;
2. else the copy downloaded earlier into the cache (`$ANYAUDIO_CACHE/reference/<commit>/prompts.py`);
3. else a download of the pinned file (once), when the network allows it.

The file is read as data: literal constants through `ast.literal_eval`, the three small prompt builders
through `rubric.template_eval` (a restricted interpreter); nothing in it is executed. What the release does in
code rather than prose (max-logit pooling over six token forms, the linear resampler, threshold 0.8 in generate
mode, `/no_think` before the decomposer's user message, cleaning at temperature 0.2, the holistic fallback) is
implemented here and in `audio.py` / `rubric.parsing`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from anyaudio_eval.audio import cache_dir
from anyaudio_eval.bench.schema import RubricItem
from anyaudio_eval.errors import UserError
from anyaudio_eval.rubric.prompts import DOMAINS
from anyaudio_eval.rubric.protocol import Pooling, Protocol, Resampler, remember
from anyaudio_eval.rubric.template_eval import TemplateError, module_definitions, template_function

REFERENCE_REPO = "https://github.com/CuCl-2/AnyAudio-Judge"
REFERENCE_COMMIT = "5cd0eb019f83fe57fd9aacb81d3a47baaacd6e7b"
REFERENCE_FILE = "anyaudio_judge/prompts.py"
# sha256 of REFERENCE_FILE at REFERENCE_COMMIT (the file is unchanged since the first commit, 0698055).
REFERENCE_SHA256 = "ab35884c1f8d126cdc84315f9560e57aeb4493dec332ad4b96d734bf6204933b"
REFERENCE_URL = f"https://raw.githubusercontent.com/CuCl-2/AnyAudio-Judge/{REFERENCE_COMMIT}/{REFERENCE_FILE}"
DOWNLOAD_TIMEOUT_S = 20.0

# Settings of the release that are code, not prose.
NO_THINK_PREFIX = "/no_think\n"
CLEAN_TEMPERATURE = 0.2
CLEAN_MAX_TOKENS = 1024
GENERATE_THRESHOLD = 0.8


class ReferenceError(UserError, RuntimeError):
    """The release's prompts cannot be had, or are not the pinned ones (printed without a traceback)."""


def _how_to_get() -> str:
    return (
        f"Get the release once: `git clone {REFERENCE_REPO} && git -C AnyAudio-Judge checkout "
        f"{REFERENCE_COMMIT[:7]}`, then pass `-T reference=./AnyAudio-Judge` (or set ANYAUDIO_REFERENCE); "
        f"or download {REFERENCE_URL} and pass the file."
    )


def reference_cache_path() -> Path:
    return cache_dir() / "reference" / REFERENCE_COMMIT / "prompts.py"


def _given_path(reference: str) -> Path:
    path = Path(reference).expanduser()
    if path.is_dir():
        for candidate in (path / REFERENCE_FILE, path / "prompts.py"):
            if candidate.is_file():
                return candidate
        raise ReferenceError(f"{path} holds no {REFERENCE_FILE}: is it a clone of {REFERENCE_REPO}? {_how_to_get()}")
    if path.is_file():
        return path
    raise ReferenceError(f"reference {reference!r} does not exist. {_how_to_get()}")


def _download(target: Path, expected_sha256: str) -> bytes:
    try:
        with urllib.request.urlopen(REFERENCE_URL, timeout=DOWNLOAD_TIMEOUT_S) as response:  # noqa: S310
            data = response.read()
    except Exception as ex:  # offline, DNS, HTTP errors: all mean "not available here"
        raise ReferenceError(
            f"the reference protocol needs the authors' prompts ({REFERENCE_FILE} at commit {REFERENCE_COMMIT[:7]}), "
            f"there is no cached copy, and downloading it failed ({type(ex).__name__}: {ex}). {_how_to_get()}"
        ) from ex
    _verify(data, expected_sha256, REFERENCE_URL)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, target)
    return data


def _verify(data: bytes, expected_sha256: str, where: str) -> str:
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256:
        raise ReferenceError(
            f"{where} is not the pinned reference: its sha256 is {digest}, expected {expected_sha256} "
            f"({REFERENCE_FILE} at commit {REFERENCE_COMMIT} of {REFERENCE_REPO}). Check out that commit, "
            "or pass reference_sha256= to use a modified copy on purpose (the log records its hash)."
        )
    return digest


def read_reference_source(
    reference: str | None = None, expected_sha256: str | None = None
) -> tuple[str, dict[str, str]]:
    """(source text, provenance) of the pinned prompts file; raises ReferenceError with what to do."""
    expected = expected_sha256 or REFERENCE_SHA256
    reference = reference or os.environ.get("ANYAUDIO_REFERENCE") or None
    if reference:
        path = _given_path(reference)
        data = path.read_bytes()
        where = str(path)
    else:
        path = reference_cache_path()
        if path.is_file():
            data, where = path.read_bytes(), str(path)
        else:
            data, where = _download(path, expected), REFERENCE_URL
    digest = _verify(data, expected, where)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as ex:
        raise ReferenceError(f"{where} is not UTF-8 text") from ex
    provenance = {
        "repo": REFERENCE_REPO,
        "commit": REFERENCE_COMMIT,
        "file": REFERENCE_FILE,
        "sha256": digest,
        "read_from": where,
    }
    if digest != REFERENCE_SHA256:
        provenance["modified"] = "true"  # a copy accepted through reference_sha256=
    return text, provenance


# -- the file's shape ------------------------------------------------------------------------------------


class _DecomposeEntry(BaseModel):
    max_tokens: int
    user_prefix: str
    system_prompt: str


class _ReleaseConstants(BaseModel):
    JUDGE_LOGITS_SYSTEM_PROMPT: str
    JUDGE_GENERATE_SYSTEM_PROMPT: str
    CLEAN_SYSTEM_PROMPT: str
    DECOMPOSE_PROMPTS: dict[str, _DecomposeEntry]


_BUILDERS = ("build_logits_user_text", "build_generate_user_text", "build_clean_user_text")


def _as_release_item(item: RubricItem) -> dict[str, str]:
    # The release's benchmark script hands its builders items with exactly these keys.
    return {"dimension": item.dimension, "question": item.question, "basis": item.basis}


def _string_builder(fn: Callable[..., Any], name: str) -> Callable[..., str]:
    def call(*args: Any) -> str:
        try:
            value = fn(*args)
        except TemplateError as ex:
            raise ReferenceError(f"{REFERENCE_FILE}: {name}: {ex}") from ex
        if not isinstance(value, str):
            raise ReferenceError(f"{REFERENCE_FILE}: {name} returned {type(value).__name__}, not text")
        return value

    return call


def parse_reference(
    source: str, provenance: dict[str, str], pooling: Pooling = "max", resampler: Resampler = "linear"
) -> Protocol:
    """The reference protocol from the text of the release's prompts file (read as data)."""
    try:
        constants, functions = module_definitions(source)
    except SyntaxError as ex:
        raise ReferenceError(f"{REFERENCE_FILE} is not valid Python: {ex}") from ex
    try:
        release = _ReleaseConstants.model_validate(constants)
    except ValidationError as ex:
        raise ReferenceError(f"{REFERENCE_FILE} does not have the release's shape: {ex}") from ex
    missing = [d for d in DOMAINS if d not in release.DECOMPOSE_PROMPTS]
    absent = [name for name in _BUILDERS if name not in functions]
    if missing or absent:
        raise ReferenceError(
            f"{REFERENCE_FILE} does not have the release's shape: missing "
            + ", ".join([f"DECOMPOSE_PROMPTS[{d!r}]" for d in missing] + absent)
        )
    try:
        logits_text, list_text, clean_text = (
            _string_builder(template_function(functions[name]), name) for name in _BUILDERS
        )
    except TemplateError as ex:
        raise ReferenceError(f"{REFERENCE_FILE}: {ex}") from ex
    decompose = release.DECOMPOSE_PROMPTS

    def item_text(item: RubricItem) -> str:
        return logits_text(_as_release_item(item))

    def item_list_text(items: Sequence[RubricItem]) -> str:
        return list_text([_as_release_item(i) for i in items])

    def holistic_text(caption: str) -> str:
        # The release has no holistic prompt; its fallback rubric is one item whose question is the caption.
        return logits_text({"dimension": "", "question": caption, "basis": caption})

    def domain_entry(domain: str) -> _DecomposeEntry:
        return decompose.get(domain) or decompose["mix"]  # the release's default domain

    protocol = Protocol(
        name="reference",
        version=f"release-{REFERENCE_COMMIT[:7]}-{provenance['sha256'][:12]}",
        language="zh",
        pooling=pooling,
        resampler=resampler,
        judge_systems={
            "logits": release.JUDGE_LOGITS_SYSTEM_PROMPT,
            "holistic": release.JUDGE_LOGITS_SYSTEM_PROMPT,
            "generate": release.JUDGE_GENERATE_SYSTEM_PROMPT,
        },
        item_text=item_text,
        item_list_text=item_list_text,
        holistic_text=holistic_text,
        decompose_system=lambda domain, language: domain_entry(domain).system_prompt,
        decompose_user=lambda caption, domain: NO_THINK_PREFIX + domain_entry(domain).user_prefix + caption,
        decompose_max_tokens=lambda domain: domain_entry(domain).max_tokens,
        clean_system=release.CLEAN_SYSTEM_PROMPT,
        clean_user=lambda caption, items: clean_text(caption, [_as_release_item(i) for i in items]),
        clean_temperature=CLEAN_TEMPERATURE,
        clean_max_tokens=CLEAN_MAX_TOKENS,
        thresholds={"logits": 0.5, "holistic": 0.5, "generate": GENERATE_THRESHOLD},
        rubric_language="zh",
        generation_config_processors=True,
        source=provenance,
    )
    # Fail now, not mid-run, if a builder uses something the interpreter refuses.
    probe = RubricItem(dimension="d", question="q", basis="b")
    item_text(probe), item_list_text([probe, probe]), holistic_text("c"), protocol.clean_user("c", [probe])
    return remember(protocol)


_PROTOCOLS: dict[tuple[str, str, str, str], Protocol] = {}  # explicit cache: parsed once per process


def load_reference_protocol(
    reference: str | None = None,
    reference_sha256: str | None = None,
    pooling: Pooling | None = None,
    resampler: Resampler | None = None,
) -> Protocol:
    """The reference protocol (cached per source, hash and options)."""
    source, provenance = read_reference_source(reference, reference_sha256)
    key = (provenance["sha256"], provenance["read_from"], pooling or "max", resampler or "linear")
    if key not in _PROTOCOLS:
        _PROTOCOLS[key] = parse_reference(source, provenance, pooling or "max", resampler or "linear")
    return _PROTOCOLS[key]
