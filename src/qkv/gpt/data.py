"""Characters as tokens, and a built-in Chinese corpus the project generates itself."""

from __future__ import annotations

import random

from qkv.errors import InputError


class CharTokenizer:
    """One token per distinct character of the training text; stored with the checkpoint."""

    def __init__(self, chars: list[str]):
        self.chars = list(chars)
        self.index = {ch: i for i, ch in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def unknown(self, text: str) -> list[str]:
        """The characters of text that are not in the vocabulary, in order of appearance."""
        return list(dict.fromkeys(ch for ch in text if ch not in self.index))

    def encode(self, text: str, what: str = "text") -> list[int]:
        missing = self.unknown(text)
        if missing:
            shown = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise InputError(f"{what} has characters the model never saw: {shown}{more}")
        return [self.index[ch] for ch in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] for i in ids)


# The built-in corpus: short sentences about eating, drinking and going places. After 吃
# come foods, after 喝 drinks, after 去 places; 砖头 (bricks) appears only with building
# verbs, never after 吃, so a model that learns the corpus must rank 苹果 far above 砖头.
SUBJECTS = ["我", "你", "他", "她", "我们", "妈妈", "爸爸", "小明", "小红", "朋友们"]
ADVERBS = ["", "", "", "很", "最", "也", "都", "每天都"]
FOODS = [
    "苹果",
    "香蕉",
    "米饭",
    "面条",
    "饺子",
    "西瓜",
    "葡萄",
    "包子",
    "面包",
    "鸡蛋",
    "橘子",
    "草莓",
]
DRINKS = ["茶", "咖啡", "牛奶", "果汁", "水", "豆浆"]
PLACES = ["北京", "上海", "学校", "公园", "商店", "图书馆", "海边", "外婆家"]
VERBS = {"吃": FOODS, "喝": DRINKS, "去": PLACES}
WANTS = ["爱", "喜欢", "想", "要"]
BUILDING = [
    "工人搬砖头。",
    "他们用砖头盖房子。",
    "路边有一堆砖头。",
    "砖头很重。",
    "这面墙是砖头砌的。",
    "师傅把砖头运到工地。",
]


def builtin_corpus(sentences: int = 6000, seed: int = 0) -> str:
    """About 50,000 characters of generated sentences, the same for the same seed."""
    rng = random.Random(seed)
    out = []
    for _ in range(sentences):
        roll = rng.random()
        if roll < 0.06:
            out.append(rng.choice(BUILDING))
            continue
        verb = rng.choice(list(VERBS))
        obj = rng.choice(VERBS[verb])
        subject = rng.choice(SUBJECTS)
        want = rng.choice(WANTS)
        adverb = rng.choice(ADVERBS) if want in ("爱", "喜欢") else ""
        if roll < 0.12 and verb == "吃":
            out.append(
                f"{subject}不爱吃{rng.choice([f for f in FOODS if f != obj])},{subject}爱吃{obj}。"
            )
        else:
            out.append(f"{subject}{adverb}{want}{verb}{obj}。")
    return "".join(out)
