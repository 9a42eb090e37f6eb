"""The method's fixed facts, spelled once: the judge's sample rate, the bench's vocabulary, subsets' domains."""

from __future__ import annotations

SAMPLE_RATE = 16_000  # every clip the judge hears: mono, 16 kHz

LANGUAGES: tuple[str, ...] = ("en", "zh")  # bench configs
SUBSETS: tuple[str, ...] = ("speech", "speech_gen", "sound", "sound_gen", "music", "music_gen", "mix")
TYPES: tuple[str, ...] = ("pos", "pos_clap", "pos_gemini", "neg_swap", "neg_change", "neg_gemini")
LABELS: tuple[str, ...] = ("yes", "no")

DOMAINS: tuple[str, ...] = ("speech", "sound", "music", "mix")  # decomposition prompts
SUBSET_DOMAIN: dict[str, str] = {
    "speech": "speech",
    "speech_gen": "speech",
    "sound": "sound",
    "sound_gen": "sound",
    "music": "music",
    "music_gen": "music",
    "mix": "mix",
}

# GRPO reward terms (training/rewards.py), in the order TRL's `reward_weights` list follows; also the names TRL logs
# them under (`rewards/<term>/mean`) and the keys of a config's `reward_weights` mapping.
REWARD_FORMAT = "format"  # every item answered exactly once, in the answer-list format
REWARD_DECISION = "decision"  # the overall match decision read from the items is right
REWARD_ITEMS = "items"  # balanced accuracy over the items
REWARD_TERMS: tuple[str, ...] = (REWARD_FORMAT, REWARD_DECISION, REWARD_ITEMS)
