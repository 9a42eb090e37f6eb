"""Under `-T protocol=reference`, `inspect eval` with `audiollm/` gives the release's p_yes item for item.

The expected values come from an independent computation written here from the release's documented
behaviour: read the file (float32, mean of channels, `np.interp` to 16 kHz), render [system, user(audio,
item text)] through the processor, greedy `generate(max_new_tokens=1)` with the checkpoint's generation
config, the max logit over the token ids of six yes/no forms, a two-way softmax.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from fixtures import row, write_jsonl  # noqa: E402
from reference_standin import STANDIN_LOGITS_SYSTEM, standin_item_text, write_standin  # noqa: E402
from test_local_judge import direct_processor  # noqa: E402

from anyaudio_eval.models.tiny import save_tiny  # noqa: E402

FAMILIES = {"omni_full": ("omni", "full"), "omni3_full": ("omni3", "full"), "qwen2_audio": ("qwen2_audio", "thinker")}
RUBRIC = [
    {"dimension": "pitch", "question": "Is there a steady tone?", "basis": "tone"},
    {"dimension": "", "question": "Is it loud, yes or no?", "basis": "loud"},
    {"dimension": "节奏", "question": "节奏是否很快？", "basis": "fast"},
]
# Processors that change first-step scores: a yes/no word in the prompt is penalised, one token suppressed.
GENERATION_CONFIG = {"repetition_penalty": 1.7, "suppress_tokens": [5]}


def release_like_p_yes(checkpoint: Path, family: str, audio_file: Path, item: dict) -> float:
    data, sr = sf.read(audio_file, dtype="float32", always_2d=True)
    audio = data.mean(axis=1)
    if sr != 16_000:
        n = int(len(audio) * 16_000 / sr)
        audio = np.interp(np.linspace(0, len(audio) - 1, n), np.arange(len(audio)), audio).astype(np.float32)
    if family == "qwen2_audio":
        model = transformers.Qwen2AudioForConditionalGeneration.from_pretrained(checkpoint)
    else:
        config = transformers.AutoConfig.from_pretrained(checkpoint).thinker_config
        cls = (
            transformers.Qwen3OmniMoeThinkerForConditionalGeneration
            if family == "omni3"
            else transformers.Qwen2_5OmniThinkerForConditionalGeneration
        )
        model = cls.from_pretrained(checkpoint, config=config)
    model.eval()
    assert model.generation_config.repetition_penalty == GENERATION_CONFIG["repetition_penalty"]
    processor = direct_processor(checkpoint, family)
    conversation = [
        {"role": "system", "content": [{"type": "text", "text": STANDIN_LOGITS_SYSTEM}]},
        {
            "role": "user",
            "content": [
                {"type": "audio", "audio": "<audio>"},
                {"type": "text", "text": standin_item_text(item["dimension"], item["question"])},
            ],
        },
    ]
    text = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[text], audio=[audio], sampling_rate=16_000, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(
            **inputs, max_new_tokens=1, do_sample=False, return_dict_in_generate=True, output_scores=True
        )
    scores = out.scores[0][0].float()
    tok = processor.tokenizer

    def ids(word: str) -> list[int]:
        found = set()
        for variant in (word, " " + word, word.capitalize(), " " + word.capitalize(), word.upper(), " " + word.upper()):
            for tid in tok.encode(variant, add_special_tokens=False):
                if tok.decode([tid]).strip().lower() == word:
                    found.add(tid)
        return sorted(found)

    yes, no = scores[ids("yes")].max().item(), scores[ids("no")].max().item()
    m = max(yes, no)
    return float(np.exp(yes - m) / (np.exp(yes - m) + np.exp(no - m)))


@pytest.fixture(scope="module")
def bench_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("ref-bench")
    rng = np.random.default_rng(7)
    rows = []
    for i, (sr, channels) in enumerate([(44_100, 2), (16_000, 1), (22_050, 1)]):
        t = np.arange(int(1.2 * sr)) / sr
        wav = 0.4 * np.sin(2 * np.pi * (220 + 110 * i) * t) + 0.05 * rng.normal(size=t.shape)
        wav = np.stack([wav, 0.7 * wav], axis=1) if channels == 2 else wav
        path = root / f"clip{i}.wav"
        sf.write(path, wav.astype(np.float32), sr, subtype="PCM_16")
        rows.append(row(f"r{i}", f"clip{i}.wav", label="yes" if i % 2 == 0 else "no", rubric=RUBRIC))
    return write_jsonl(root / "bench.jsonl", rows), root


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FAMILIES))
def test_bench_under_reference_gives_the_release_p_yes(name, bench_files, tmp_path):
    from inspect_ai import eval

    from anyaudio_eval.tasks.bench import bench

    manifest, audio_root = bench_files
    family, layout = FAMILIES[name]
    checkpoint = save_tiny(tmp_path / name, family=family, layout=layout)
    gen_file = checkpoint / "generation_config.json"
    gen = json.loads(gen_file.read_text())
    gen.update(GENERATION_CONFIG)
    gen_file.write_text(json.dumps(gen))
    release, sha = write_standin(tmp_path / "release", tmp_path / "never-written")

    log = eval(
        bench(dataset=str(manifest), protocol="reference", reference=str(release), reference_sha256=sha),
        model=f"audiollm/{checkpoint}",
        display="none",
        log_dir=str(tmp_path / "logs"),
    )[0]
    assert log.status == "success", log.error
    assert log.eval.metadata and log.eval.metadata["protocol"] == "reference"
    assert log.samples and len(log.samples) == 3
    worst = 0.0
    for sample in log.samples:
        score = next(iter(sample.scores.values()))
        assert score.metadata and score.metadata["protocol"] == "reference"
        clip = audio_root / f"clip{str(sample.id)[1:]}.wav"
        for verdict, item in zip(score.metadata["items"], RUBRIC, strict=True):
            expected = release_like_p_yes(checkpoint, family, clip, item)
            worst = max(worst, abs(verdict["p_yes"] - expected))
    print(f"{name}: max |p_yes - release| = {worst:.2e}")
    assert worst < 1e-5, worst
