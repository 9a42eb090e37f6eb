"""Answer parsers: documented formats only; nothing unparseable becomes a verdict."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anyaudio_eval.rubric.parsing import (
    nonfinite_logprob,
    p_yes_from_top_logprobs,
    parse_answer_list,
    word_answer,
)


def test_word_answers():
    assert word_answer("Yes.") == "yes" and word_answer(" no") == "no" and word_answer("是") == "yes"
    assert word_answer("yes, but no") is None and word_answer("") is None and word_answer(None) is None


def test_p_yes_sums_variants():
    top = [("yes", math.log(0.3)), (" Yes", math.log(0.3)), ("no", math.log(0.2)), ("maybe", math.log(0.2))]
    assert p_yes_from_top_logprobs(top) == 0.6 / 0.8
    assert p_yes_from_top_logprobs([("maybe", 0.0)]) is None


def test_list_parser_fences_trailing_commas_and_reasoning():
    text = (
        'The clip has a tone.\n```json\n[{"id": 0, "answer": "yes", "evidence": "tone"}, {"id": 1, "answer": "No"},]'
        "\n```"
    )
    parsed = parse_answer_list(text, 2)
    assert {i: a.answer for i, a in parsed.answers.items()} == {0: "yes", 1: "no"}
    assert parsed.answers[0].evidence == "tone"


def test_list_parser_takes_the_final_array_after_reasoning_with_brackets():
    """Trained judges reason before the array; brackets in the reasoning must not hide the answer."""
    answer = '[{"id": 0, "answer": "no", "evidence": "female voice"}, {"id": 1, "answer": "yes"}]'
    for reasoning in (
        "I hear [laughs] then a voice.",
        "Levels [1, 2] look fine,",
        'Draft: [{"id": 0, "answer": "yes"}]',
    ):
        parsed = parse_answer_list(f"{reasoning}\n{answer}", 2)
        assert {i: a.answer for i, a in parsed.answers.items()} == {0: "no", 1: "yes"}, reasoning
    # A trailing comma in the answer and a plain list in the reasoning.
    parsed = parse_answer_list('Pauses at [0.5, 1.2] s.\n[{"id": 0, "answer": "yes"},]', 1)
    assert parsed.answers[0].answer == "yes"


def test_training_targets_read_back_with_their_rationale():
    from anyaudio_eval.training.data import TrainItem, answer_target

    items = [TrainItem(dimension="d", question="q?", label="no", evidence="[silence] at 2 s")]
    target = answer_target(items, rationale="There is a gap [about 1 s] in the middle.")
    assert parse_answer_list(target, 1).answers[0].answer == "no"


def test_list_parser_accepts_digit_string_ids():
    assert parse_answer_list('[{"id": "1", "answer": "yes"}, {"id": "x", "answer": "no"}]', 2).answers.keys() == {1}


def test_list_parser_ids_are_checked_not_guessed():
    text = json.dumps(
        [{"id": 0, "answer": "yes"}, {"id": 0, "answer": "no"}, {"id": 7, "answer": "yes"}, {"answer": "yes"}]
    )
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


def test_rubric_reply_shapes():
    from anyaudio_eval.rubric.parsing import parse_clean_reply, parse_rubric_reply

    assert parse_rubric_reply('{"items": [{"dimension": "d", "question": "q?", "basis": "b"}]}') == [
        {"dimension": "d", "question": "q?", "basis": "b"}
    ]
    assert parse_rubric_reply('{"Question_List": [{"Dimension": "d", "Question": "q?"}]}') == [
        {"dimension": "d", "question": "q?"}
    ]
    assert parse_rubric_reply("Sure! The rubric is: is it loud? yes") is None
    assert parse_rubric_reply('{"a": [], "b": []}') is None  # two lists: ambiguous, not guessed
    assert parse_clean_reply('{"results": [{"id": 1, "judgment": "remove"}, {"id": 9, "judgment": "remove"}]}', 3) == {
        1
    }
    assert parse_clean_reply("remove 1", 3) is None


@given(st.text(max_size=300))
def test_random_text_never_becomes_rubric_items(text):
    from anyaudio_eval.rubric.parsing import parse_rubric_reply

    items = parse_rubric_reply(text)
    if items:
        assert "question" in text.lower() or "题目" in text


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "id": st.one_of(st.integers(-3, 6), st.booleans(), st.none()),
                "answer": st.sampled_from(["yes", "no", "Yes", "maybe", "", "yes!"]),
            }
        ),
        max_size=8,
    )
)
def test_adversarial_arrays_only_yield_checked_ids(elements):
    text = json.dumps(elements)
    parsed = parse_answer_list(text, 4)
    for i, answer in parsed.answers.items():
        assert 0 <= i < 4
        sources = [e for e in elements if e["id"] == i and not isinstance(e["id"], bool)]
        assert len(sources) == 1 and answer.answer == sources[0]["answer"].strip("!").lower()


@pytest.mark.parametrize(
    "top",
    [
        [("yes", math.inf), ("no", -3.0)],
        [("yes", math.nan), ("no", -0.1)],
        [("Yes", -0.2), (" no", -math.inf)],
        [("yes", None), ("no", -1.0)],
    ],
    ids=["+inf-yes", "nan-yes", "-inf-no", "none-yes"],
)
def test_non_finite_logprob_on_either_side_is_never_a_verdict(top):
    assert p_yes_from_top_logprobs(top) is None
    assert "non-finite logprob" in nonfinite_logprob(top)


def test_non_finite_logprob_of_another_token_does_not_matter():
    assert p_yes_from_top_logprobs([("yes", -0.1), ("no", -2.3), ("maybe", math.nan)]) == pytest.approx(
        math.exp(-0.1) / (math.exp(-0.1) + math.exp(-2.3))
    )
    assert nonfinite_logprob([("the", math.inf), ("yes", -1.0)]) is None
