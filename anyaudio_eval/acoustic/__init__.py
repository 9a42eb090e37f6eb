"""Offline acoustic judge: answers yes/no rubric items from signal measurements (numpy + scipy).

>>> feats = ClipFeatures(wav, 16000)
>>> answer_item(feats, "Is the speaker male?").p_yes
"""

from .answer import AcousticAnswer, answer_item, answer_items
from .features import ClipFeatures, KeyEstimate, PitchStats
from .lexicon import Query, parse_question

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
