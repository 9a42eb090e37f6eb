"""Answer parsers: documented formats only; nothing unparseable becomes a verdict."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from anyaudio_eval.rubric.parsing import p_yes_from_top_logprobs, parse_answer_list, word_answer


def test_word_answers():
    assert word_answer("Yes.") == "yes" and word_answer(" no") == "no" and word_answer("是") == "yes"
    assert word_answer("yes, but no") is None and word_answer("") is None and word_answer(None) is None


def test_p_yes_sums_variants():
    top = [("yes", math.log(0.3)), (" Yes", math.log(0.3)), ("no", math.log(0.2)), ("maybe", math.log(0.2))]
    assert p_yes_from_top_logprobs(top) == 0.6 / 0.8
    assert p_yes_from_top_logprobs([("maybe", 0.0)]) is None


def test_list_parser_fences_trailing_commas_and_reasoning():
    text = 'The clip has a tone.\n```json\n[{"id": 0, "answer": "yes", "evidence": "tone"}, {"id": 1, "answer": "No"},]\n```'
    parsed = parse_answer_list(text, 2)
    assert {i: a.answer for i, a in parsed.answers.items()} == {0: "yes", 1: "no"}
    assert parsed.answers[0].evidence == "tone"


def test_list_parser_ids_are_checked_not_guessed():
    text = json.dumps([{"id": 0, "answer": "yes"}, {"id": 0, "answer": "no"}, {"id": 7, "answer": "yes"}, {"answer": "yes"}])
    assert parse_answer_list(text, 2).answers == {}  # repeated id 0 is dropped, 7 out of range, no id
    assert parse_answer_list("yes yes yes", 3).answers == {}
    assert parse_answer_list('[{"id": 1, "answer": "maybe"}]', 2).answers == {}


@given(st.text(max_size=300))
def test_random_text_never_becomes_a_verdict_unless_it_holds_a_json_array(text):
    parsed = parse_answer_list(text, 3)
    if parsed.answers:
        assert "[" in text and "]" in text and '"answer"' in text


@given(st.lists(st.tuples(st.text(max_size=8), st.floats(allow_nan=True, allow_infinity=True)), max_size=6))
def test_p_yes_is_a_probability_or_none(top):
    p = p_yes_from_top_logprobs(top)
    assert p is None or 0.0 <= p <= 1.0
