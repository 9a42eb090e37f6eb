"""Every prompt of the method, in Chinese and English, under one version string.

The judge rules follow the paper (answer only from what is audible; yes means "matches";
unsure means no); the wording is ours. PROMPT_VERSION goes into every log and cache key: change it
whenever any text below changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from anyaudio_eval.bench.schema import RubricItem
from anyaudio_eval.constants import DOMAINS  # noqa: F401  (re-exported)

PROMPT_VERSION = "aaj-prompts-v2"

PromptLanguage = Literal["zh", "en"]
PROMPT_LANGUAGES: tuple[str, ...] = ("zh", "en")

_RULES = {
    "zh": (
        "你是一名音频听辨评测员。你会先听到一段音频，再收到关于这段音频的判断题。\n"
        "作答规则：\n"
        "1. 只根据音频里实际听得到的内容判断，不要依靠常识、背景知识或题目的措辞去推测。\n"
        "2. 所有题目都按“音频是否符合描述”来提问：符合答 yes，不符合答 no。\n"
        "3. 如果某个特征听不清、无法确定，一律答 no。"
    ),
    "en": (
        "You are an audio listening examiner. You first hear a clip, then receive true/false checks about it.\n"
        "Rules:\n"
        "1. Judge only from what can actually be heard in the clip; do not infer from common sense, "
        "background knowledge or the wording of the check.\n"
        "2. Every check asks whether the audio matches a description: answer yes if it matches, no if it "
        "does not.\n"
        "3. If a feature cannot be heard clearly or you are not sure, answer no."
    ),
}

_LOGITS_TAIL = {
    "zh": "\n只输出一个词：yes 或 no。",
    "en": "\nReply with a single word: yes or no.",
}

_GENERATE_TAIL = {
    "zh": (
        "\n输出格式：可以先用几句话写下你听到了什么、如何判断；然后以一个 JSON 数组结束回答，每道题对应一个元素，"
        "顺序与题号一致，数组之后不要再写任何文字。"
        '元素格式为 {"id": 题号, "answer": "yes" 或 "no", "evidence": "一句话说明你听到的关键依据"}。'
    ),
    "en": (
        "\nOutput format: you may first write a few sentences on what you hear and how you decide; then end "
        "your reply with a JSON array with one element per check, in the order of the check numbers, and "
        "nothing after the array. Each element is "
        '{"id": <check number>, "answer": "yes" or "no", "evidence": "<one sentence on what you heard>"}.'
    ),
}

_ITEM = {"zh": "判断题：{label}{question}", "en": "Check: {label}{question}"}
_HOLISTIC = {
    "zh": "这段音频是否符合下面的描述？\n{caption}",
    "en": "Does this audio match the following description?\n{caption}",
}
_LIST_HEAD = {"zh": "请逐条回答下面 {n} 道判断题：", "en": "Answer each of the following {n} checks:"}
HOLISTIC_DIMENSION = {"zh": "整体", "en": "overall"}

# Generation budgets of the decomposer and the cleaning pass.
DECOMPOSE_MAX_TOKENS = 4096
CLEAN_MAX_TOKENS = 1024


def text_language(texts: Sequence[str]) -> str:
    """zh when the texts contain CJK characters, else en (what a rubric or a caption is written in)."""
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for text in texts for ch in text) else "en"


def check_language(language: str) -> str:
    if language not in _RULES:
        raise ValueError(f"unknown prompt language {language!r}; use one of {', '.join(PROMPT_LANGUAGES)}")
    return language


def judge_system_prompt(mode: str, language: str) -> str:
    """System prompt of the judge; `mode` is logits/holistic (one word) or generate (JSON array)."""
    language = check_language(language)
    tail = _GENERATE_TAIL if mode == "generate" else _LOGITS_TAIL
    return _RULES[language] + tail[language]


def _label(dimension: str, language: str) -> str:
    if not dimension:
        return ""
    return f"【{dimension}】" if language == "zh" else f"[{dimension}] "


def item_prompt(item: RubricItem, language: str) -> str:
    """The text after the audio for one item (logits mode): only this differs between a sample's items."""
    language = check_language(language)
    return _ITEM[language].format(label=_label(item.dimension, language), question=item.question)


def holistic_prompt(caption: str, language: str) -> str:
    language = check_language(language)
    return _HOLISTIC[language].format(caption=caption)


def item_list_prompt(items: Sequence[RubricItem], language: str) -> str:
    """All items in one message (generate mode); ids start at 0."""
    language = check_language(language)
    lines = [_LIST_HEAD[language].format(n=len(items))]
    for i, item in enumerate(items):
        lines.append(f"{i}. {_label(item.dimension, language)}{item.question}")
    return "\n".join(lines)


# -- decomposition: instruction -> atomic yes/no rubric items ---------------------------------------


_DECOMPOSE_COMMON = """You turn a description of an audio clip into a checklist of atomic yes/no questions that a \
listener can answer by ear.

Rules:
1. One feature per question. "A fast, angry male voice" gives three questions (fast, angry, male).
2. Be faithful: ask only about what the description states or strongly implies. Do not add details, and do not \
infer one attribute from another (a "doctor" is not necessarily male; an "office" is not necessarily quiet).
3. Be complete: every audible feature the description mentions gets a question.
4. "Yes" must always mean the audio matches the description. When the description says something is absent \
("no background music", "without pauses"), ask the negated question ("Is there no background music?").
5. Keep degree words: "very slow" gives "Is the speech very slow (not just somewhat slow)?".
6. Ask only about what can be heard: no questions about intent, meaning or things outside the sound.
{domain_rules}
Write every "dimension", "question" and "basis" in {language_name}. "dimension" is a short name of the \
attribute (for example {dimension_examples}); "basis" quotes or paraphrases the words of the description the \
question comes from.

Reply with JSON only, in this shape:
{{"items": [{{"dimension": "...", "question": "...", "basis": "..."}}]}}"""

_DOMAIN_RULES = {
    "speech": "7. This is speech. Cover the speaker (gender, age), the voice (pitch, timbre), the delivery "
    "(speaking rate, volume, pauses, emphasis), the emotion and the speaking style, and the words if quoted.",
    "sound": "7. These are sound effects or ambience. Cover each sound source, what it does, how loud or near it "
    'is, the order of events ("then", "after"), repetitions and the acoustic scene.',
    "music": "7. This is music. Cover genre, instruments, vocals (present or absent, gender), tempo, key or mode, "
    "mood, dynamics and structure (intro, build-up, ending).",
    "mix": "7. This clip mixes speech, sound and music. Cover each layer separately, which speaker says what, and "
    "the order of events. Every quoted line of dialogue is its own question naming its speaker, e.g. "
    "\"Does Speaker A say 'are you all right?'\".",
}

_LANGUAGE_NAMES = {"zh": "Simplified Chinese", "en": "English"}
_DIMENSION_EXAMPLES = {
    "zh": "性别、语速、情绪、乐器、节奏、音量、声音事件",
    "en": "gender, speaking rate, emotion, instrument, tempo, volume, sound event",
}

_CLEAN_SYSTEM = """You review checklists built from an audio description. For each question decide:
- "keep" if everything the question asks about is stated in the description or is a faithful paraphrase of it;
- "remove" if the question brings in anything the description does not mention (an instrument, an emotion, a \
scene, a speaker trait, a sound).
Judge only the question, not its dimension or basis.

Reply with JSON only: {"results": [{"id": <question number>, "judgment": "keep" or "remove"}]}"""


def _check_domain(domain: str) -> str:
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; use one of {', '.join(DOMAINS)}")
    return domain


def decompose_system_prompt(domain: str, language: str) -> str:
    language = check_language(language)
    return _DECOMPOSE_COMMON.format(
        domain_rules=_DOMAIN_RULES[_check_domain(domain)],
        language_name=_LANGUAGE_NAMES[language],
        dimension_examples=_DIMENSION_EXAMPLES[language],
    )


def decompose_user_prompt(caption: str) -> str:
    return f"Description:\n{caption}"


def clean_system_prompt() -> str:
    return _CLEAN_SYSTEM


def clean_user_prompt(caption: str, items: Sequence[RubricItem]) -> str:
    lines = [f"Description:\n{caption}", "", "Questions:"]
    lines += [f"{i}. {item.question}" for i, item in enumerate(items)]
    return "\n".join(lines)
