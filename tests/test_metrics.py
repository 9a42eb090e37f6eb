"""Metric functions against hand-computed values."""

from __future__ import annotations

import math

import pytest

from anyaudio_eval.scorers.metrics import (
    Record,
    accuracy,
    auroc,
    balanced_accuracy,
    bench_summary,
    expected_calibration_error,
    macro_accuracy,
)


def R(score, label, subset="sound", type_="pos", n_items=2, n_unparsed=0):
    return Record(score=score, label=label, subset=subset, type=type_, n_items=n_items, n_unparsed=n_unparsed)


def test_auroc_hand_values_and_ties():
    assert auroc([0.9, 0.8, 0.3, 0.1], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == 0.0
    # One tie between a positive and a negative counts half: pairs (p,n): (0.5,0.5)=.5, (0.5,0.2)=1, (0.9,*)=1,1.
    assert auroc([0.5, 0.9, 0.5, 0.2], [True, True, False, False]) == pytest.approx(3.5 / 4)
    assert auroc([0.7] * 4, [True, False, True, False]) == 0.5  # all tied: chance


def test_auroc_one_class_or_empty_is_nan():
    assert math.isnan(auroc([0.2, 0.9], [True, True]))
    assert math.isnan(auroc([], []))


def test_accuracy_macro_vs_micro():
    # speech: 3 samples, 2 right; music: 1 sample, right. micro 3/4, macro (2/3 + 1)/2.
    records = [R(0.9, "yes", "speech"), R(0.2, "no", "speech"), R(0.7, "no", "speech"), R(0.1, "no", "music")]
    assert accuracy(records, 0.5) == 0.75
    assert macro_accuracy(records, 0.5) == pytest.approx((2 / 3 + 1) / 2)
    assert accuracy(records, 0.8) == 1.0  # 0.7 is now "no"
    assert math.isnan(accuracy([], 0.5))


def test_balanced_accuracy_needs_both_classes():
    records = [R(0.9, "yes"), R(0.1, "yes"), R(0.1, "no"), R(0.2, "no"), R(0.3, "no"), R(0.9, "no")]
    assert balanced_accuracy(records, 0.5) == pytest.approx((0.5 + 0.75) / 2)
    assert math.isnan(balanced_accuracy([R(0.9, "yes")], 0.5))


def test_ece_hand_value():
    # Bin 9: scores 0.9, 0.95 (mean .925), labels 1,0 (rate .5) -> .425 * 2/4; bin 1: .1, .15, labels 0,0 -> .125 * 2/4.
    ece = expected_calibration_error([0.9, 0.95, 0.1, 0.15], [True, False, False, False])
    assert ece == pytest.approx(0.5 * 0.425 + 0.5 * 0.125)
    assert expected_calibration_error([1.0], [True]) == 0.0


def test_summary_names_and_every_type():
    records = [
        R(0.9, "yes", type_="pos"),
        R(0.6, "no", type_="neg_change", n_unparsed=1),
        R(0.1, "no", type_="neg_swap"),
        R(0.3, "yes", "music"),
    ]
    s = bench_summary(records, 0.5)
    assert s["accuracy"] == 0.5
    assert s["acc_neg_swap"] == 1.0 and s["acc_neg_change"] == 0.0
    assert s["acc_pos"] == 0.5  # every type gets its accuracy, positives included
    assert s["acc_sound"] == pytest.approx(2 / 3) and s["acc_music"] == 0.0
    assert s["unparsed_item_share"] == 1 / 8
    assert s["accuracy_at_0.8"] == 0.75  # at 0.8 the 0.6 negative becomes right


def test_item_summary_by_dimension_counts_abstentions_as_wrong_overall():
    from anyaudio_eval.scorers.metrics import ItemRecord, item_summary

    items = [
        ItemRecord("pitch", "yes", 0.9),
        ItemRecord("pitch", "no", 0.8),  # wrong
        ItemRecord("tempo", "yes", 0.5),  # abstention
        ItemRecord("tempo", "no", 0.1),
        ItemRecord("key", "no", None),  # unparsed: an abstention too
    ]
    out = item_summary(items)
    assert out["item_accuracy_answered"] == 2 / 3
    assert out["item_accuracy_all"] == 2 / 5
    assert out["item_abstention_share"] == 2 / 5
    assert out["item_acc_pitch"] == 0.5 and out["item_acc_tempo"] == 1.0
    assert "item_acc_key" not in out  # nothing answered
    assert out["item_abstention_tempo"] == 0.5 and out["item_abstention_key"] == 1.0
    assert "item_abstention_pitch" not in out  # no abstentions: not listed


def test_metric_names_are_identifiers():
    from anyaudio_eval.scorers.metrics import ItemRecord, item_summary, metric_key

    assert metric_key("speaking rate") == "speaking_rate" and metric_key("Speaker_A-性别") == "speaker_a_性别"
    out = item_summary([ItemRecord("speaking rate", "yes", 0.9), ItemRecord("speaking rate", "no", 0.5)])
    assert out["item_acc_speaking_rate"] == 1.0 and out["item_abstention_speaking_rate"] == 0.5
    assert all(" " not in key for key in out)
