"""Map a bilingual (zh / en) yes-no rubric question to one acoustic measurement.

``parse_question`` returns a :class:`Query` naming the measurement key, the asserted direction or value,
negation and a degree factor, or ``None`` when the question is about something the acoustic judge cannot
measure (emotion, instrument, ...). Words spoken (a quoted phrase) and the language spoken are parsed into
``speech_content`` and ``language`` queries, which only a judge with ASR answers. The rules are keyword tables,
not a model: they are meant to be readable and to fail closed (None) rather than guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# measurement keys
KEYS = (
    "event_count",
    "duration",
    "tempo",
    "key",
    "dynamics",
    "speaking_rate",
    "gender",
    "loudness",
    "pitch",
    "silence",
    "brightness",
    "noise",
    "speech_presence",
    "speech_content",
    "language",
)


@dataclass(frozen=True)
class Query:
    key: str  # one of KEYS
    direction: str | None = None  # fast/slow/high/low/male/female/loud/quiet/present/increasing/...
    value: float | None = None  # number asserted (BPM, seconds, count, Hz)
    unit: str | None = None  # "bpm", "s", "count", "hz"
    comparator: str = "approx"  # approx | gt | lt
    target: str | None = None  # e.g. "C major", "minor" for key; "leading"/"trailing"/"pause"/"whole" for silence
    negated: bool = False
    degree: float = 1.0  # >1 tightens (very), <1 loosens (slightly)


_EN_NUM = {
    "zero": 0,
    "one": 1,
    "a single": 1,
    "single": 1,
    "two": 2,
    "a couple of": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "twice": 2,
    "once": 1,
    "thrice": 3,
}
_ZH_DIGIT = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def _zh_num(s: str) -> float | None:
    """Chinese numerals up to 999 ('三', '十二', '一百二十', '两')."""
    if not s:
        return None
    total, cur = 0, 0
    for ch in s:
        if ch in _ZH_DIGIT:
            cur = _ZH_DIGIT[ch]
        elif ch == "十":
            total += (cur or 1) * 10
            cur = 0
        elif ch == "百":
            total += (cur or 1) * 100
            cur = 0
        else:
            return None
    return float(total + cur)


_NUM = r"(\d+(?:\.\d+)?|[零一二两三四五六七八九十百]+|半)"


def _to_num(tok: str) -> float | None:
    if tok == "半":
        return 0.5
    try:
        return float(tok)
    except ValueError:
        return _zh_num(tok)


def _normalize(q: str) -> str:
    q = q.strip().lower()
    q = q.translate(str.maketrans("０１２３４５６７８９，。？！：；（）", "0123456789,.?!:;()"))
    q = q.replace("’", "'").replace("‘", "'")
    # English number words -> digits (before counting / duration rules)
    for w, n in sorted(_EN_NUM.items(), key=lambda kv: -len(kv[0])):
        q = re.sub(rf"\b{w}\b", str(n), q)
    return q


# --- negation -------------------------------------------------------------------------------------------------
# question forms that contain a negation word but are not negations
_ZH_NEUTRAL = (
    "是不是", "是否", "有没有", "有无", "能不能", "会不会", "对不对",
    "是不", "不同", "不断", "不停", "无论", "非常", "并非常",
)  # fmt: skip
_ZH_NEG = re.compile(r"(没有|没|无|不|未|非|毫无)")
_EN_NEG = re.compile(
    r"\b(no|not|without|isn't|aren't|doesn't|don't|didn't|never|none|free of|lacks?|absent|absence of|nothing)\b|n't\b"
)
_EN_NEUTRAL = re.compile(r"\bor not\b|\bwhether or not\b")

_DEG_STRONG = re.compile(
    r"\b(very|extremely|really|highly|super|particularly|exceptionally|noticeably)\b|非常|特别|极其|极为|极|十分|"
    r"相当|超级|格外"
)
_DEG_MILD = re.compile(
    r"\b(slightly|a bit|a little|somewhat|moderately|fairly|rather|kind of)\b|略|稍|有点|有些|些许|较为|比较"
)


def _strip(q: str, words: tuple[str, ...]) -> str:
    for w in words:
        q = q.replace(w, " ")
    return q


def _negated(q: str, topic_words: tuple[str, ...] = ()) -> bool:
    q = _EN_NEUTRAL.sub(" ", q)
    q = _strip(q, _ZH_NEUTRAL + topic_words)
    return bool(_EN_NEG.search(q) or _ZH_NEG.search(q))


def _degree(q: str) -> float:
    if _DEG_STRONG.search(q):
        return 1.6
    if _DEG_MILD.search(q):
        return 0.6
    return 1.0


def _comparator(q: str) -> str:
    if re.search(
        r"more than|longer than|over|at least|exceed|greater than|above|faster than|超过|多于|以上|大于|至少|高于|长于",
        q,
    ):
        return "gt"
    if re.search(
        r"less than|shorter than|under|at most|within|below|fewer than|slower than|少于|不到|以内|以下|小于|至多|"
        r"低于|短于|不超过",
        q,
    ):
        return "lt"
    return "approx"


# --- topic vocab ----------------------------------------------------------------------------------------------
R = re.compile
SPEECHY = R(
    r"speak|speech|spoken|talk|voice|vocal|narrat|read(s|ing)? |says|said|utter|words|speaker|说|讲|语|念|读|人声|嗓|"
    r"口播|朗读|声线|发音"
)
MUSICY = R(
    r"music|tempo|bpm|beat|rhythm|song|melod|tune|piece|track|drum|groove|音乐|乐曲|歌|旋律|节奏|节拍|拍子|曲|鼓|乐"
)
FAST = R(r"fast|quick|rapid|(?<!un)hurried|brisk|swift|upbeat|speedy|high tempo|快|急促|迅速|飞快|急")
SLOW = R(r"slow|leisurely|unhurried|relaxed pace|drawn[- ]out|sluggish|low tempo|慢|缓|舒缓|拖沓|徐")


_QUOTED = R(r"[“\"「『]([^”\"」』]{2,}?)[”\"」』]|(?<![a-z])'([^']{3,}?\s[^']*?)'(?![a-z])", re.I)
# words that make a quoted phrase something said (not a title, a sign or a sung lyric)
SAYS = R(
    r"\bsay|said|\bspeak|spoken|utter|pronounc|\bread(s|ing)?\b|announc|content|words?\b|phrase|sentence|"
    r"\bline\b|dialogue|说|讲|念|读|内容|台词|话|播报|喊"
)
SUNG = R(r"\bsing|sung|lyric|唱|歌词")
# language names -> Whisper language codes; Cantonese and dialects have no code in Whisper base (abstain)
LANGUAGES = (
    (R(r"\bmandarin|\bchinese\b|普通话|中文|汉语|国语|华语"), "zh"),
    (R(r"\benglish\b|英语|英文"), "en"),
    (R(r"\bspanish\b|西班牙语|西语"), "es"),
    (R(r"\bfrench\b|法语"), "fr"),
    (R(r"\bitalian\b|意大利语"), "it"),
    (R(r"\brussian\b|俄语"), "ru"),
    (R(r"\bgerman\b|德语"), "de"),
    (R(r"\bjapanese\b|日语"), "ja"),
    (R(r"\bkorean\b|韩语|朝鲜语"), "ko"),
    (R(r"\bportuguese\b|葡萄牙语"), "pt"),
    (R(r"\bcantonese\b|粤语|广东话|方言|dialect"), "yue"),
)
LANGUAGE_CONTEXT = R(
    r"\blanguage|\bspeak|spoken|speech|\bsay|said|talk|voice|narrat|\bin (english|chinese|mandarin|"
    r"spanish|french|italian|russian|german|japanese|korean|portuguese|cantonese)\b|语言|说|讲|语音|发音|口语"
)


def _content_query(question: str, dimension: str | None) -> Query | None:
    """A question about words said: the quoted phrase as the target (None for titles, signs, lyrics)."""
    m = _QUOTED.search(question)
    if not m:
        return None
    phrase = (m.group(1) or m.group(2) or "").strip()
    ctx = f"{dimension or ''} {question[: m.start()]} {question[m.end() :]}".lower()
    if not phrase or SUNG.search(ctx) or not (SAYS.search(ctx) or SPEECHY.search(ctx)):
        return None
    rest = _normalize(question[: m.start()] + " " + question[m.end() :])
    return Query(key="speech_content", target=phrase, negated=_negated(rest), degree=1.0)


def _language_query(q: str, dim: str) -> Query | None:
    if MUSICY.search(q) and not re.search(r"speak|speech|spoken|说|讲|语音|口语", q):
        return None
    if re.search(r"accent|口音|腔调", q):
        return None
    found = {code for pat, code in LANGUAGES if pat.search(q)}
    if len(found) != 1 or not (LANGUAGE_CONTEXT.search(q) or re.search(r"language|语言|语种", dim)):
        return None
    return Query(key="language", target=found.pop(), negated=_negated(q), degree=1.0)


def parse_question(question: str, dimension: str | None = None) -> Query | None:
    """Parse one rubric question (zh or en) into a :class:`Query`, or ``None`` if not understood."""
    if not question or not question.strip():
        return None
    if _QUOTED.search(question):
        # a quoted phrase: the words spoken, or nothing this judge can measure
        return _content_query(question, dimension)
    q = _normalize(question)
    lang = _language_query(q, _normalize(dimension or ""))
    if lang is not None:
        return lang
    # music-vs-speech separation is not measured: background music / instruments are left to other judges
    if re.search(r"background music|music (in|playing in) the background|背景音乐|配乐|伴奏", q):
        return None
    dim = _normalize(dimension or "")
    both = f"{dim} | {q}"
    # words whose "不/无/没" is not a negation, or emotion words containing 快
    q = _strip(q, ("愉快", "欢快", "快乐", "畅快", "凉快"))
    deg = _degree(q)

    def mk(key: str, **kw) -> Query:
        tw = kw.pop("topic_words", ())
        return Query(key=key, negated=_negated(q, tw), degree=deg, **kw)

    # 1. event counting: "three beeps", "3 knocks", "响了三声", "敲了四下"
    m = re.search(
        r"(\d+)\s*(?:distinct |separate |short |loud |soft |quick |sharp |clear )*(beeps?|knocks?|hits?|clicks?|"
        r"taps?|claps?|tones?|bangs?|rings?|chimes?|dings?|pulses?|bursts?|strikes?|sounds?|events?|times)\b",
        q,
    )
    if m:
        return mk("event_count", value=float(m.group(1)), unit="count")
    m = re.search(_NUM + r"\s*(声|下|次|个(?:声音|音|哔|提示音|敲击|脉冲|音符|鼓点|响声))", q)
    if m and re.search(r"哔|嘀|滴|敲|响|击|拍|提示音|蜂鸣|声|脉冲|咚", q) and "秒" not in q[m.start() : m.end() + 2]:
        n = _to_num(m.group(1))
        if n is not None and n >= 1:
            return mk("event_count", value=n, unit="count")

    # 2. tempo as a number
    m = (
        re.search(r"(\d+(?:\.\d+)?)\s*(?:bpm|beats per minute|beats/min)", q)
        or re.search(r"每分钟\s*" + _NUM + r"\s*拍", q)
        or re.search(_NUM + r"\s*(?:拍每分钟|拍/分钟|bpm)", q)
    )
    if m:
        v = _to_num(m.group(1))
        if v:
            return mk("tempo", value=v, unit="bpm", comparator=_comparator(q))

    # 3. duration as a number ("3 seconds", "三秒", "2.5 s long")
    m = re.search(r"(\d+(?:\.\d+)?)\s*(?:-\s*)?(seconds?|secs?|s)\b", q) or re.search(_NUM + r"\s*(秒|秒钟)", q)
    if m:
        v = _to_num(m.group(1))
        if v is not None:
            if re.search(r"pause|silence|silent|gap|break|停顿|静音|间隙|空白|安静", q):
                tgt = _silence_target(q)
                return mk(
                    "silence",
                    direction="present",
                    value=v,
                    unit="s",
                    target=tgt,
                    comparator=_comparator(q),
                    topic_words=("无声",),
                )
            return mk("duration", value=v, unit="s", comparator=_comparator(q))

    # 4. key / mode
    m = re.search(r"\b([A-G])\s*(#|♯|b|♭|-sharp| sharp|-flat| flat)?\s*([Mm]ajor|[Mm]inor)\b", question)
    if m:
        tonic = m.group(1).upper() + _acc(m.group(2))
        return mk("key", target=_canon_key(tonic, m.group(3).lower()))
    m = re.search(r"(升|降)?\s*([A-Ga-g])\s*(#|♯|b|♭)?\s*(大调|小调|大|小)调?", q)
    if m:
        acc = {"升": "#", "降": "b"}.get(m.group(1) or "", "") or _acc(m.group(3))
        mode = "major" if m.group(4).startswith("大") else "minor"
        return mk("key", target=_canon_key(m.group(2).upper() + acc, mode))
    if re.search(r"\bmajor (key|mode|tonality|scale)\b|\bin (a )?major\b|大调|大三和弦|\bmajor\b", q) and not re.search(
        r"minor|小调", q
    ):
        return mk("key", target="major")
    if re.search(r"\bminor (key|mode|tonality|scale)\b|\bin (a )?minor\b|小调|小三和弦|\bminor\b", q) and not re.search(
        r"major|大调", q
    ):
        return mk("key", target="minor")

    # 5. dynamics over time
    if re.search(
        r"fade[sd]? in|fading in|gets? louder|getting louder|grows? louder|growing louder|increas\w* in (volume|"
        r"loudness)|crescendo|swell|builds? up|rises? in volume|louder and louder|渐强|淡入|越来越(大|响)|"
        r"逐渐(变)?(大|响|增强)|音量(逐渐|慢慢)?(增大|升高|变大)|由弱(到|变)强|由小(到|变)大",
        q,
    ):
        return mk("dynamics", direction="increasing")
    if re.search(
        r"fade[sd]? out|fading out|fades? away|gets? quieter|getting quieter|grows? quieter|softer and softer|"
        r"quieter and quieter|decrescendo|diminuendo|dies? (away|down)|decreas\w* in (volume|loudness)|tapers? off|"
        r"渐弱|淡出|越来越(小|轻|弱)|逐渐(变)?(小|轻|弱|消失)|音量(逐渐|慢慢)?(减小|降低|变小)|由强(到|变)弱|由大(到|变)小",
        q,
    ):
        return mk("dynamics", direction="decreasing")
    if re.search(r"(steady|constant|even|consistent|stable) (volume|loudness|level)|音量(平稳|稳定|一致|均匀)", q):
        return mk("dynamics", direction="steady")

    # 6. speaking rate vs tempo (fast / slow)
    fast, slow = bool(FAST.search(q)), bool(SLOW.search(q))
    rate_word = re.search(
        r"speaking rate|speech rate|rate of speech|speaking speed|pace|语速|说话速度|讲话速度|语流", both
    )
    if (fast ^ slow) or (rate_word and (fast or slow)):
        direction = "fast" if fast and not slow else "slow" if slow and not fast else None
        if direction is None:  # "fast or slow" style: last word wins
            direction = "fast" if FAST.search(q[-8:]) else "slow"
        speechy = SPEECHY.search(q) or re.search(r"语速|rate|speech|说话|speaker", dim)
        musicy = MUSICY.search(q) or re.search(r"tempo|节奏|速度|节拍|music|音乐|bpm|rhythm", dim)
        if rate_word and (speechy or "语速" in both):
            return mk("speaking_rate", direction=direction)
        if speechy and not musicy:
            return mk("speaking_rate", direction=direction)
        if musicy:
            return mk("tempo", direction=direction)
        if re.search(r"速度|speed", q):
            return mk("tempo", direction=direction)
        return None

    # 7. gender
    male = re.search(r"\b(male|man|men|boy|boys|masculine|gentleman|guy|father|husband)\b|男", q)
    female = re.search(r"\b(female|woman|women|girl|girls|feminine|lady|mother|wife)\b|女", q)
    if male and not female:
        return mk("gender", direction="male")
    if female and not male:
        return mk("gender", direction="female")

    # 8. loudness
    if re.search(r"whisper|耳语|低语|悄悄|窃窃", q):
        return mk("loudness", direction="quiet")
    loud = re.search(
        r"\bloud|booming|blaring|shout|yell|大声|响亮|洪亮|音量(很|较|偏|非常|特别|十分|相当)?(大|高)|声音(很|较|偏|"
        r"非常|特别|十分|相当)?(大|响)|很响|高声",
        q,
    )
    quiet = re.search(
        r"\bquiet|\bsoft(ly)?\b|faint|low volume|gentle volume|hushed|轻声|小声|音量(很|较|偏|非常|特别|十分|"
        r"相当)?(小|低)|声音(很|较|偏|非常|特别|十分|相当)?(小|轻|弱)|微弱|轻柔|低声",
        q,
    )
    if loud and not quiet:
        return mk("loudness", direction="loud")
    if quiet and not loud:
        return mk("loudness", direction="quiet")

    # 9. pitch
    m = re.search(r"(\d+(?:\.\d+)?)\s*(?:hz|赫兹)", q)
    if m:
        return mk("pitch", value=float(m.group(1)), unit="hz", comparator=_comparator(q))
    hi = re.search(
        r"high[- ]pitched|high pitch|higher pitch|pitch is high|\bshrill|squeak|piercing|\bhigh\b.*\b(voice|tone|"
        r"note|beep|pitch|frequency)|高音|音调(很|较|偏|非常|特别|十分|相当)?高|音高(很|较|偏|非常|特别|十分|"
        r"相当)?高|声调(很|较|偏)?高|尖|高亢|高频|嗓音(很|较|偏)?高|声音(很|较|偏|非常)?高",
        q,
    )
    lo = re.search(
        r"low[- ]pitched|low pitch|lower pitch|pitch is low|\bdeep\b|\bbass(y)?\b|\blow\b.*\b(voice|tone|note|beep|"
        r"pitch|frequency|rumble)|rumbl|低音|音调(很|较|偏|非常|特别|十分|相当)?低|音高(很|较|偏|非常|特别|十分|"
        r"相当)?低|声调(很|较|偏)?低|低沉|浑厚|低频|嗓音(很|较|偏)?低|声音(很|较|偏|非常)?低",
        q,
    )
    if hi and not lo:
        return mk("pitch", direction="high")
    if lo and not hi:
        return mk("pitch", direction="low")

    # 10. silence / pauses
    if re.search(r"pause|silence|silent|\bgap\b|\bbreak\b|停顿|静音|无声|间隙|空白|停歇|间断|安静片段", q):
        return mk("silence", direction="present", target=_silence_target(q), topic_words=("无声",))

    # 11. brightness / timbre
    if re.search(r"bright|brilliant|crisp|sharp timbre|tinny|明亮|清脆|尖锐|亮", q):
        return mk("brightness", direction="bright")
    if re.search(r"\bdark|muffled|dull|mellow|warm timbre|murky|沉闷|闷|暗|浑浊|厚重", q):
        return mk("brightness", direction="dark")

    # 12. noise / cleanliness
    if re.search(r"noise|noisy|hiss|static|crackl|噪|杂音|嘈杂|嘶嘶|沙沙|底噪", q):
        return mk("noise", direction="noisy")
    if re.search(r"\bclean\b|\bclear recording|pristine|干净|纯净", q):
        return mk("noise", direction="clean")

    # 13. speech presence
    if re.search(r"instrumental|纯音乐|纯乐器", q):
        return mk("speech_presence", direction="absent")
    if SPEECHY.search(q) or re.search(r"\bsomeone\b|\bperson\b|有人|人在", q):
        if re.search(
            r"emotion|emotional|sad|happy|angry|excit|calm|tone of voice|accent|language|english|chinese|mandarin|情|"
            r"悲|伤|开心|高兴|愤怒|生气|激动|平静|口音|语言|英语|汉语|普通话|中文|内容|说的是|说了|“|\"|'.+'|"
            r"synthetic|robotic|合成|机器",
            q,
        ):
            return None
        return mk("speech_presence", direction="present")
    if re.search(r"speech|人声|语音", dim) and re.search(r"\b(is there|does|contain)|有", q):
        return mk("speech_presence", direction="present")
    return None


def _acc(tok: str | None) -> str:
    if not tok:
        return ""
    tok = tok.strip(" -")
    return "#" if tok in ("#", "♯", "sharp") else "b" if tok in ("b", "♭", "flat") else ""


_FLAT_TO_SHARP = {
    "Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#", "Cb": "B", "Fb": "E", "E#": "F", "B#": "C",
}  # fmt: skip


def _canon_key(tonic: str, mode: str) -> str:
    return f"{_FLAT_TO_SHARP.get(tonic, tonic)} {mode}"


def _silence_target(q: str) -> str:
    if re.search(r"begin|start|open|lead|before|开头|开始|起始|前面|开始前|最初", q):
        return "leading"
    if re.search(r"\bend\b|ending|finish|trail|after|结尾|末尾|最后|结束", q):
        return "trailing"
    if re.search(r"entire|whole|completely|all silent|only silence|nothing but|全程|完全|整段|全部|纯静音", q):
        return "whole"
    return "pause"
