"""Answer one yes/no rubric item from signal measurements.

``p_yes`` is a logistic function of a scaled margin between the measurement and the threshold that the
question asserts, clipped to [0.02, 0.98] and flipped for negated questions. Items the lexicon does not
understand, or whose measurement is unavailable or unreliable, get ``p_yes = 0.5`` and ``measured = False``.
Every answer names the tool behind it (``dsp`` signal measurements, ``vad`` silero VAD, ``asr`` Whisper), and
its evidence starts with that tag ("[asr] heard: '...'").
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import asdict, dataclass
from difflib import SequenceMatcher

import numpy as np

from anyaudio_eval.acoustic.features import ClipFeatures
from anyaudio_eval.acoustic.lexicon import Query, parse_question
from anyaudio_eval.acoustic.speech import Transcript, has_cjk

P_MIN, P_MAX = 0.02, 0.98
NO_SPEECH_P = 0.1  # a question about a speaker when no speech is detected
# Real voices overlap here: an expressive male prompt voice reads 145-210 Hz, female ones 170-270 Hz
# (calibration set); synthetic voices sit at 80-115 and 180-290 Hz. Inside the band the judge abstains.
GENDER_AMBIGUOUS_HZ = (155.0, 200.0)
# A recording's level is set by whoever mastered it: real prompts spoken at a normal level measure -25 to -16
# LUFS, while the synthetic probes' loud clips measure -20 to -13 and their quiet ones -36. Between the ends
# of each band the level alone does not tell, and the judge abstains.
LOUD_BAND = (-21.0, -14.0)  # loud below -21 -> no, above -14 -> yes
QUIET_BAND = (-31.0, -25.0)  # quiet below -31 -> yes, above -25 -> no


@dataclass(frozen=True)
class AcousticAnswer:
    p_yes: float
    evidence: str
    measured: bool
    dimension_key: str | None
    tool: str = "dsp"  # dsp | vad | asr | none (not understood)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _logistic(margin: float) -> float:
    margin = max(-30.0, min(30.0, margin))
    return 1.0 / (1.0 + math.exp(-margin))


def _clip(p: float) -> float:
    return float(min(P_MAX, max(P_MIN, p)))


def _abstain(key: str | None, why: str, tool: str = "dsp") -> AcousticAnswer:
    return AcousticAnswer(0.5, f"[{tool}] {why}", False, key, tool)


def answer_item(features: ClipFeatures, question: str, dimension: str | None = None) -> AcousticAnswer:
    """Answer one rubric item (zh or en) about the clip behind ``features``."""
    q = parse_question(question, dimension)
    if q is None:
        return AcousticAnswer(0.5, "not an acoustically measurable attribute; abstained", False, None, "none")
    try:
        res = _HANDLERS[q.key](features, q)
    except Exception as exc:  # a measurement bug must not crash a run; abstain and say why
        return _abstain(q.key, f"measurement of {q.key} failed: {type(exc).__name__}: {exc}")
    if isinstance(res, AcousticAnswer):
        return res
    p, evidence, tool = res if len(res) == 3 else (*res, "dsp")
    if q.negated:
        p = 1.0 - p
        evidence += " (question negated)"
    return AcousticAnswer(_clip(p), f"[{tool}] {evidence}", True, q.key, tool)


# each handler returns (p_yes before negation, evidence) or an AcousticAnswer (abstention)
def _thr(base: float, q: Query, up: bool, step: float) -> float:
    """Shift a threshold for degree words: 'very fast' needs more, 'slightly fast' less."""
    shift = (q.degree - 1.0) * step
    return base + shift if up else base - shift


def _speech_gate(f: ClipFeatures, key: str) -> AcousticAnswer | tuple | None:
    if f.vad_speech_s is not None:
        if f.vad_speech_s < f.MIN_SPEECH_S:
            return NO_SPEECH_P, f"silero VAD found no speech ({f.vad_speech_s:.2f} s), so no {key} to match", "vad"
        return None
    if f.speech_score < 0.15:
        return NO_SPEECH_P, f"no speech detected (speech score {f.speech_score:.2f}), so no {key} to match"
    return None


def _h_speech(f: ClipFeatures, q: Query):
    if f.vad_speech_s is not None:
        t = f.vad_speech_s
        p = _logistic((t - f.MIN_SPEECH_S) / 0.08)
        if q.direction == "absent":
            p = 1 - p
        return p, f"silero VAD: {t:.2f} s of speech in {len(f.vad_segments or [])} region(s)", "vad"
    s = f.speech_score
    p = _logistic((s - 0.35) / 0.1)
    if q.direction == "absent":
        p = 1 - p
    return (
        p,
        f"speech score {s:.2f} (voiced ratio {f.pitch.voiced_ratio:.2f}, syllabic modulation {f.modulation_ratio:.2f})",
    )


# ------------------------------------------------------------------------------------------- ASR-backed items
ASR_MIN_LOGPROB = -1.0  # Whisper's mean token log-probability below this: the transcript is not trusted
LANG_MIN_P = 0.7  # detected-language probability below this: the language is not trusted (real prompts
# misdetected as Hebrew or Spanish came with p 0.58-0.64; right detections mostly above 0.9)


def _heard(f: ClipFeatures, key: str) -> Transcript | AcousticAnswer | tuple:
    """Shared gate of content and language items: the transcript when it can be trusted, else the answer
    for no ASR, no speech, or an unsure transcript."""
    if f.tools is None or f.tools.asr_model is None:
        return _abstain(key, "ASR is off: spoken words and language are not judged", "asr")
    if f.vad_speech_s is not None and f.vad_speech_s < f.MIN_SPEECH_S:
        return NO_SPEECH_P, f"silero VAD found no speech ({f.vad_speech_s:.2f} s), so nothing is said", "vad"
    tr = f.transcript
    if tr is None or not tr.text.strip():
        return _abstain(key, "ASR heard no words", "asr")
    if tr.avg_logprob < ASR_MIN_LOGPROB:
        return _abstain(key, f"ASR unsure (mean log-prob {tr.avg_logprob:.2f}) of {tr.text[:60]!r}", "asr")
    return tr


def _norm_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[^\w\s]|_", " ", text)
    # spelled-out letters ("u s b") against the word ASR writes ("usb")
    return re.sub(r"\b(?:[^\W\d_] ){1,}[^\W\d_]\b", lambda m: m.group(0).replace(" ", ""), text)


def _coverage(target: str, heard: str) -> float:
    """Share of the target phrase found in the transcript: characters in order for Chinese and Japanese,
    words (each matched fuzzily, ratio >= 0.75, to absorb spelling and accent slips) otherwise."""
    t, h = _norm_text(target), _norm_text(heard)
    if has_cjk(t):
        t, h = re.sub(r"\s+", "", t), re.sub(r"\s+", "", h)
        if not t:
            return 0.0
        blocks = SequenceMatcher(None, t, h, autojunk=False).get_matching_blocks()
        return sum(b.size for b in blocks) / len(t)
    words, heard_words = t.split(), h.split()
    if not words:
        return 0.0
    found = sum(
        any(w == x or (len(w) > 2 and SequenceMatcher(None, w, x).ratio() >= 0.75) for x in heard_words) for w in words
    )
    return found / len(words)


def _h_content(f: ClipFeatures, q: Query):
    tr = _heard(f, "speech_content")
    if not isinstance(tr, Transcript):
        return tr
    target = q.target or ""
    heard = f"heard: {tr.text[:160]!r}"
    if _PINYIN.search(target):
        return _abstain("speech_content", f"{heard}; the quoted words are romanised (pinyin), not compared", "asr")
    cjk = has_cjk(target)
    cov = _coverage(target, tr.text)
    lo, hi = (0.25, 0.45) if cjk else (0.4, 0.6)
    if cov < hi:  # a "no" needs a transcript that can be trusted
        if tr.multilingual and tr.language_p < LANG_MIN_P:
            return _abstain("speech_content", f"{heard}; language unsure ({tr.language}, p={tr.language_p:.2f})", "asr")
        if cjk and not has_cjk(tr.text):
            return _abstain("speech_content", f"{heard}; no Chinese/Japanese heard ({tr.language})", "asr")
        # between "clearly said" and "clearly other words" ASR slips and paraphrase look alike
        if cov > lo:
            return _abstain(
                "speech_content", f"{heard}; {cov * 100:.0f}% of the quoted words: too close to call", "asr"
            )
    mid = (lo + hi) / 2
    return _logistic((cov - mid) / 0.06), f"{heard} ({cov * 100:.0f}% of the quoted words)", "asr"


_PINYIN = re.compile(r"\b[a-zü]+[1-5]\b.*\b[a-zü]+[1-5]\b", re.I)


def _h_language(f: ClipFeatures, q: Query):
    tr = _heard(f, "language")
    if not isinstance(tr, Transcript):
        return tr
    if not tr.multilingual:
        return _abstain("language", f"ASR model {tr.model} is English-only: cannot tell the language", "asr")
    if q.target == "yue":
        return _abstain("language", "Cantonese and dialects are not told apart by this ASR model", "asr")
    if tr.language_p < LANG_MIN_P:
        return _abstain("language", f"language unsure: {tr.language}, p={tr.language_p:.2f}", "asr")
    p_target = tr.language_probs.get(q.target or "", 0.0)
    return p_target, f"language {tr.language}, p={tr.language_p:.2f}; P({q.target})={p_target:.2f}", "asr"


def _h_gender(f: ClipFeatures, q: Query):
    g = _speech_gate(f, "speaker")
    if g:
        return g
    f0 = f.pitch.median_hz
    if f0 is None:
        return _abstain("gender", "speech found but no voiced frames: cannot estimate F0 for gender")
    lo, hi = GENDER_AMBIGUOUS_HZ
    if lo <= f0 <= hi:
        return _abstain(
            "gender", f"median F0 {f0:.0f} Hz: between typical male and female voices ({lo:.0f}-{hi:.0f} Hz)"
        )
    semis = 12 * math.log2(math.sqrt(lo * hi) / f0)  # >0: below the band, male-like
    m = semis / 1.5
    p = _logistic(m if q.direction == "male" else -m)
    return p, f"median F0 {f0:.0f} Hz (male < {lo:.0f} Hz, female > {hi:.0f} Hz)"


_PITCH_REF = {"male": 105.0, "female": 205.0}


def _h_pitch(f: ClipFeatures, q: Query):
    speech = f.speech_present
    if speech:
        f0 = f.pitch.median_hz
        if f0 is None:
            return _abstain("pitch", "speech found but no voiced frames: pitch not measurable")
        src = "median F0"
    else:
        if f.is_silent:
            return _abstain("pitch", "clip is silent: pitch not measurable")
        flat = f.spectral_flatness or 0.0
        if flat > 0.3:
            f0, src = f.spectral_centroid_hz, "noise-like; spectral centroid"
        elif f.pitch.median_hz is not None and f.pitch.voiced_ratio > 0.5 and f.pitch.median_hz < 900:
            f0, src = f.pitch.median_hz, "median F0"
        else:
            f0, src = f.dominant_freq_hz, "dominant frequency"
        if f0 is None:
            return _abstain("pitch", "no pitched content found")
    if q.value is not None:
        d = abs(12 * math.log2(f0 / q.value))
        if q.comparator == "gt":
            m = 12 * math.log2(f0 / q.value) / 0.5
        elif q.comparator == "lt":
            m = -12 * math.log2(f0 / q.value) / 0.5
        else:
            m = (1.0 - d) / 0.4
        return _logistic(m), f"{src} {f0:.0f} Hz vs asserted {q.value:g} Hz"
    if speech:
        ref = _PITCH_REF["male" if f0 < 165 else "female"]
        rel = 12 * math.log2(f0 / ref)  # semitones above the gender-typical median
        t = _thr(1.5, q, True, 2.0)
        m = (rel - t) / 0.8 if q.direction == "high" else (-rel - t) / 0.8
        return (
            _logistic(m),
            f"{src} {f0:.0f} Hz, {rel:+.1f} semitones vs a typical {'male' if f0 < 165 else 'female'} voice "
            f"({ref:.0f} Hz)",
        )
    # non-speech: absolute scale around 500 Hz (one octave either way is clearly high / low)
    rel = 12 * math.log2(f0 / 500.0)
    t = _thr(3.0, q, True, 4.0)
    m = (rel - t) / 3.0 if q.direction == "high" else (-rel - t) / 3.0
    return _logistic(m), f"{src} {f0:.0f} Hz ({rel:+.1f} semitones vs 500 Hz)"


def _h_rate(f: ClipFeatures, q: Query):
    g = _speech_gate(f, "speech rate")
    if g:
        return g
    r = f.speaking_rate
    if r is None:
        return _abstain("speaking_rate", "speech too short or unclear to count syllables")
    if q.direction == "fast":
        t = _thr(5.6, q, True, 0.8)
        m = (r - t) / 0.3
    else:
        t = _thr(3.2, q, False, 0.5)
        m = (t - r) / 0.3
    evidence = f"{r:.1f} syllables/s over {f.active_duration:.1f} s of speaking time"
    words = f.word_rate
    if words is not None:  # shown beside the decision; no labelled real rates yet to decide from words
        unit = "characters" if f.transcript and has_cjk(f.transcript.text) else "words"
        evidence += f"; ASR heard {words[0]} {unit}, {words[1]:.1f}/s of VAD speech"
    return _logistic(m), evidence


def _h_loud(f: ClipFeatures, q: Query):
    L = f.loudness_lufs
    if L is None:
        if f.is_silent:
            p = NO_SPEECH_P if q.direction == "loud" else 0.9
            return p, "digital silence (no measurable loudness)"
        return _abstain("loudness", "clip too short for integrated loudness")
    lo, hi = LOUD_BAND if q.direction == "loud" else QUIET_BAND
    shift = (q.degree - 1.0) * 5.0  # "very loud" needs more, "slightly quiet" less
    lo, hi = (lo + shift, hi + shift) if q.direction == "loud" else (lo - shift, hi - shift)
    if lo < L < hi:
        return _abstain(
            "loudness",
            f"integrated loudness {L:.1f} LUFS: an ordinary level, {q.direction} or not is "
            f"not told by level alone ({lo:.0f} to {hi:.0f} LUFS)",
        )
    t = (lo + hi) / 2
    m = (L - t) / 2.5 if q.direction == "loud" else (t - L) / 2.5
    return _logistic(m), f"integrated loudness {L:.1f} LUFS"


def _h_tempo(f: ClipFeatures, q: Query):
    bpm, conf = f.tempo
    if bpm is None or len(f.onsets) < 3:
        return _abstain("tempo", "too few onsets to estimate a tempo")
    asserted = q.value
    if asserted is not None:
        cands = {bpm: "", bpm * 2: " (x2 octave)", bpm / 2: " (x1/2 octave)"}
        if q.comparator == "approx":
            best = min(cands, key=lambda b: abs(b / asserted - 1))
            err = abs(best / asserted - 1)
            m = (0.06 - err) / 0.025
            note = cands[best]
        else:
            m = math.log2(bpm / asserted) / 0.08 * (1 if q.comparator == "gt" else -1)
            note = ""
        return _logistic(m), f"tempo {bpm:.0f} BPM{note}, octave-tolerant, vs asserted {asserted:g} BPM"
    rel = math.log2(bpm / 100.0)  # octaves above 100 BPM
    t = _thr(0.15, q, True, 0.2)
    m = (rel - t) / 0.1 if q.direction == "fast" else (-rel - t) / 0.1
    return _logistic(m), f"tempo {bpm:.0f} BPM (fast > ~110, slow < ~90), {f.note_rate:.1f} onsets/s"


def _h_key(f: ClipFeatures, q: Query):
    k = f.key
    if k is None:
        return _abstain("key", "no tonal content for a key estimate")
    if f.speech_present and not f.tempo[0]:
        return _abstain("key", "speech, not music: key not measured")
    scores = k.scores
    if q.target in ("major", "minor"):
        best_same = max(v for n, v in scores.items() if n.endswith(q.target))
        best_other = max(v for n, v in scores.items() if not n.endswith(q.target))
        m = (best_same - best_other) / 0.04
        return _logistic(m), f"estimated key {k.name} (r={k.correlation:.2f}); asserted mode {q.target}"
    if q.target not in scores:
        return _abstain("key", f"unknown key {q.target!r}")
    other = max(v for n, v in scores.items() if n != q.target)
    m = (scores[q.target] - other) / 0.04
    return _logistic(m), f"estimated key {k.name} (r={k.correlation:.2f}); {q.target} r={scores[q.target]:.2f}"


def _h_duration(f: ClipFeatures, q: Query):
    d = f.duration
    v = q.value
    if v is None or v <= 0:
        return _abstain("duration", "no duration value in the question")
    # the audible part counts, leading/trailing silence is ignored for "lasts about X s"
    s = f.silence
    audible = max(d - s["leading"] - s["trailing"], 0.0) if not f.is_silent else 0.0
    if q.comparator == "gt":
        m = (d - v) / max(0.1 * v, 0.2)
        return _logistic(m), f"duration {d:.2f} s (> {v:g} s asserted)"
    if q.comparator == "lt":
        m = (v - d) / max(0.1 * v, 0.2)
        return _logistic(m), f"duration {d:.2f} s (< {v:g} s asserted)"
    tol = max(0.5, 0.2 * v)
    err = min(abs(d - v), abs(audible - v))
    m = (tol - err) / (tol / 3)
    return _logistic(m), f"duration {d:.2f} s (audible {audible:.2f} s) vs about {v:g} s"


def _h_silence(f: ClipFeatures, q: Query):
    s = f.silence
    tgt = q.target or "pause"
    if tgt == "whole":
        frac = s["total"] / max(f.duration, 1e-6)
        return _logistic((frac - 0.9) / 0.04), f"{frac * 100:.0f}% of the clip is silent"
    amount = {"leading": s["leading"], "trailing": s["trailing"], "pause": s["longest_pause"]}[tgt]
    label = {"leading": "leading silence", "trailing": "trailing silence", "pause": "longest internal pause"}[tgt]
    if q.value is not None:
        v = q.value
        if q.comparator == "gt":
            m = (amount - v) / max(0.15 * v, 0.1)
        elif q.comparator == "lt":
            m = (v - amount) / max(0.15 * v, 0.1)
        else:
            tol = max(0.3, 0.3 * v)
            m = (tol - abs(amount - v)) / (tol / 3)
        return _logistic(m), f"{label} {amount:.2f} s vs {v:g} s"
    t = _thr(0.4, q, True, 0.4)
    return _logistic((amount - t) / 0.1), f"{label} {amount:.2f} s ({s['n_pauses']} pauses >= 0.2 s)"


def _h_bright(f: ClipFeatures, q: Query):
    c = f.spectral_centroid_hz
    if c is None:
        return _abstain("brightness", "silent clip: no spectrum")
    rel = math.log2(c / 1800.0)
    t = _thr(0.25, q, True, 0.3)
    m = (rel - t) / 0.2 if q.direction == "bright" else (-rel - t) / 0.2
    return _logistic(m), f"spectral centroid {c:.0f} Hz (bright > ~2100 Hz, dark < ~1500 Hz)"


def _h_noise(f: ClipFeatures, q: Query):
    nz = f.noisiness
    if nz is None:
        p, ev = 0.05, "digital silence"
    else:
        nf = f.noise_floor
        whole = (nz - 0.42) / 0.04  # the clip itself is noise-like
        # a steady noise floor under other sound: quiet frames are noise-like and not far below the peaks
        floor = min((nf["floor_flatness"] - 0.42) / 0.04, (nf["floor_db"] + 70.0) / 5.0)
        p = _logistic(max(whole, floor))
        ev = (
            f"noise-likeness {nz:.2f} (noise ~0.56, tonal < 0.35); quietest frames at {nf['floor_db']:.0f} dBFS, "
            f"noise-likeness {nf['floor_flatness']:.2f}"
        )
    if q.direction == "clean":
        p = 1 - p
    return p, ev


def _h_dynamics(f: ClipFeatures, q: Query):
    tr = f.energy_trend
    d = tr["delta_db"]
    if not np.isfinite(tr["first_db"]):
        return _abstain("dynamics", "too little signal to follow loudness over time")
    if q.direction == "increasing":
        m = (d - _thr(4.0, q, True, 3.0)) / 1.5
    elif q.direction == "decreasing":
        m = (-d - _thr(4.0, q, True, 3.0)) / 1.5
    else:
        m = (3.0 - abs(d)) / 1.0
    return _logistic(m), (
        f"level {tr['first_db']:.1f} dB in the first half vs {tr['second_db']:.1f} dB in the "
        f"second; last third minus first third {d:+.1f} dB"
    )


def _h_count(f: ClipFeatures, q: Query):
    n = f.event_count
    v = q.value or 0
    m = (0.5 - abs(n - v)) / 0.25
    return _logistic(m), f"{n} separate sound events counted (asserted {v:g})"


_HANDLERS = {
    "speech_presence": _h_speech,
    "gender": _h_gender,
    "pitch": _h_pitch,
    "speaking_rate": _h_rate,
    "loudness": _h_loud,
    "tempo": _h_tempo,
    "key": _h_key,
    "duration": _h_duration,
    "silence": _h_silence,
    "brightness": _h_bright,
    "noise": _h_noise,
    "dynamics": _h_dynamics,
    "event_count": _h_count,
    "speech_content": _h_content,
    "language": _h_language,
}


def answer_items(features: ClipFeatures, items: list[tuple[str, str | None]]) -> list[AcousticAnswer]:
    """Answer several (question, dimension) items about one clip; measurements are shared."""
    return [answer_item(features, qq, dd) for qq, dd in items]
