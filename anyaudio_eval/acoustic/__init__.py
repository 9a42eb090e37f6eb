"""Offline acoustic judge: answers yes/no rubric items from signal measurements (numpy + scipy).

>>> feats = ClipFeatures(wav, 16000)
>>> answer_item(feats, "Is the speaker male?").p_yes
"""

from anyaudio_eval.acoustic.answer import AcousticAnswer, answer_item, answer_items
from anyaudio_eval.acoustic.features import ClipFeatures, KeyEstimate, PitchStats
from anyaudio_eval.acoustic.lexicon import Query, parse_question

__all__ = [
    "AcousticAnswer",
    "ClipFeatures",
    "KeyEstimate",
    "PitchStats",
    "Query",
    "answer_item",
    "answer_items",
    "parse_question",
]
