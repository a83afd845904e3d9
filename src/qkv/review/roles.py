"""What the words around a fragment say it is: the quantity, the token it belongs to, and the
setting the formula claims ("softmax(QKᵀ/√d_k)" claims scaling, "先不管分母" claims none).

Words name quantities in English and Chinese, in prose, in formulas and in code
(attn_weights, W_q, query_1). The most specific pattern wins: "weights for the query" is W_Q,
"attention weights" the softmax, "weighted values" the products a·v, "softmax(QKᵀ)V" the output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from qkv.review.kinds import Role
from qkv.review.words import ROLE_WORDS

_I = re.IGNORECASE
_SEP = r"[\s_\-]*"  # attention scores, attention_scores, attn-scores


def _compile(pattern: str, flags: int = _I) -> re.Pattern[str]:
    return re.compile(pattern, flags)


_AXES = re.compile(
    r"(?:行|列|\brows?|\bcolumns?)\s*(?:是|为|对应|are|=|:|：|for)?\s*(?:the\s+|each\s+|一个\s*)?"
    r"(?:quer(?:y|ies)|keys?|tokens?|查询|键)\b|\bquery\s*[\\/×x]\s*key\b",
    re.I,
)
_PARAMETER = re.compile(r"\.(?:weight|bias)\b")
_DIM = re.compile(r"\bd_\{?(k|v|q|model|head)\}?")


def _words(text: str) -> str:
    """attn_weights and query_1 hold the words weights and query: match on "attn weights".
    d_k and d_{model} are dimensions, no keys or models: one word each."""
    text = _PARAMETER.sub("", text).translate(_SUBSCRIPTS)  # W_q.weight is W_q; q₁ is q1
    text = _AXES.sub(" ", text)  # "rows are queries, columns keys" names axes, no quantity
    return _DIM.sub(r"d\1", text).replace("_", " ")


# (role, pattern), most specific first: the table of words is data (review/words.py)
_ROLES: list[tuple[Role, re.Pattern[str]]] = [(w.role, w.compiled()) for w in ROLE_WORDS]

_CN_DIGITS = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_INDEX = re.compile(
    r"(?:\binput|\btoken|\bword|\bquery|\bkey|\bvalue|\brow|\bposition|\boutput|\bvector"
    r"|\b[xqkvz]|\bx_i|\bq_i|\balpha(?=_)|α(?=_)|\b[aswpe](?=_))\s*#?\s*[_\s]?\{?\s*(\d{1,3})\}?(?!\d)|"
    r"\b[xqkvzXQKVZ]([₀-₉]+)|第\s*(\d{1,3}|[一二两三四五六七八九十]+)\s*(?:个|行|字|词|位)?",
    _I,
)
# "key 2", "k_2", "value 3": numbers of keys, not of the query a row belongs to
_KEY_INDEX = re.compile(r"^(?:key|value|column|col|[kv])", _I)
# "Q = K = V = X", "Q=K=V": one matrix under several names (self-attention, no projection)
_ALIASES = re.compile(
    r"(?<![\w\\])[QKVX](?:\s*=\s*[QKVX](?![\w(\[^ᵀ']))+(?!\s*(?:[=\[\d·*@×\\]|W))", _I
)
_QUOTED = re.compile(r"[\"“”'‘’「」『』](\S{1,20}?)[\"“”'‘’「」『』]")
_TRANSPOSED = re.compile(r"(?<![A-Za-z])[QKVX]\s*(?:\^\s*\{?\s*(?:T|\\top)\}?|ᵀ|\.T\b)", _I)

_DISPLAY_MATH = re.compile(r"\\\[.*?\\\]|\$\$.*?\$\$", re.DOTALL)
_SQRT = re.compile(r"√|\\sqrt|sqrt|\bscaled\b|缩放", _I)
_UNSCALED = re.compile(
    r"unscaled|without (?:the )?scal|no scaling|not scaled|skip\w* (?:the )?(?:1/)?\S*\s?scal|"
    r"(?:had|if) (?:we|you|I) (?:had )?(?:skipped|omitted|left out|dropped) (?:the )?\S*\s?scal|"
    r"不缩放|未缩放|不除以|没有除以|没除以|先不管分母|"
    r"忽略(?:了)?(?:分母|缩放)|ignor\w* (?:the )?(?:√|sqrt|\\sqrt|scal)",
    _I,
)
_FORMULA = re.compile(r"X\s*X\s*\^|Q\s*K\s*\^|XXᵀ|QKᵀ|X\s*X\^\{?\\top|Q\s*K\^?\{?\\top")
_CAUSAL = re.compile(
    r"causal|因果|\bmask(?:ed|ing)?\b|掩码|遮挡|下三角|lower[- ]triangular|autoregressive|"
    r"future tokens?|看不到(?:后面|未来)|看不见(?:后面|未来)",
    _I,
)
_NO_MASK = re.compile(r"no mask|without (?:a )?mask|unmasked|不加掩码|没有掩码|无掩码", _I)
_NAMED = re.compile(r"^\s*\$?\s*((?:[A-Za-z][\w^{}]*\s*=\s*)+)")
_MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
_FORMULA_WORDS = re.compile(r"softmax|√|sqrt|" + _FORMULA.pattern)

# One word for each role a name on the left of "=" can give directly.
_NAMES = {
    "x": "x", "q": "q", "k": "k", "v": "v", "s": "scores", "a": "weights", "o": "output",
    "z": "output", "p": "weights", "e": "x", "h": "x", "wq": "wq", "wk": "wk", "wv": "wv",
    "out": "output", "ctx": "output", "attn": "weights", "probs": "weights", "av": "output",
    "result": "output", "answer": "output", "sum": "norm",
}  # fmt: skip


@dataclass
class Description:
    """What the words say a fragment is. Every field may be unknown (None)."""

    role: str | None = None
    index: int | None = None  # 1-based token (query) the vector belongs to
    key_index: int | None = None  # 1-based key it belongs to ("key 2", or any number)
    indices: list[int] = field(default_factory=list)  # every token number ("q1·k2": 1, 2)
    token: str | None = None  # a quoted token the words name ("for “笔”")
    scale: str | None = None  # "sqrt" | "none" | None
    causal: bool | None = None
    names: list[str] = field(default_factory=list)  # roles of "Q = K = [...]"
    transposed: bool = False  # written as Kᵀ, X^T
    source: str = ""  # the words the role came from
    from_zero: bool = False  # the article counts tokens from 0 ("q₀", "row 0")


_FROM_ZERO = re.compile(
    r"(?:\b(?:row|token|query|key|position|input)\s+|\b[qkvxz]_?\{?)0\}?(?![\d.])|\b[qkvxz]₀", re.I
)


def counts_from_zero(texts: list[str]) -> bool:
    """Does the article number its tokens from 0 ("Row 0", "q₁·k₀", "x_0")?"""
    return any(_FROM_ZERO.search(t) for t in texts)


def from_zero(d: Description) -> Description:
    """The description with its token numbers counted from 1, as the checker counts."""
    return replace(
        d,
        index=None if d.index is None else d.index + 1,
        key_index=None if d.key_index is None else d.key_index + 1,
        indices=[i + 1 for i in d.indices],
        from_zero=True,
    )


def _segment(line: str) -> str:
    """The words nearest the fragment: the text after the last display formula, if any."""
    parts = _DISPLAY_MATH.split(line)
    tail = parts[-1].strip()
    return tail if tail else line


# "… to get the output", "softmax gives the weights": the words after it name the result
_RESULT = _compile(
    r"\b(?:turns?|converts?|maps?|transforms?|normali[sz]es?)\b[^.。]*?\binto\b|"
    r"\b(?:to\s+(?:get|obtain|produce|compute|find|form)|gives?|giving|yields?|"
    r"results?\s+in|we\s+(?:get|obtain|have)|produces?|becomes?|turns?\s+into)\b|"
    r"得到|求得|算出|就是|变成|即为|获得|得出"
)


def role_of(text: str) -> str | None:
    """The role the words name; after "to get", "gives", "得到"… the words that follow win."""
    text = _words(text)
    markers = list(_RESULT.finditer(text))
    if markers:
        role = _first_role(text[markers[-1].end() :])
        if role is not None:
            return role
    return _first_role(text)


STEPS = (
    "scores", "scaled", "masked", "exps", "norm", "weights", "sums", "weighted", "output",
)  # fmt: skip


def _first_role(text: str) -> str | None:
    """The role the words name. A match inside a more specific one does not count ("weights
    for the query" is W_Q, not the weights); a computed step wins over the inputs it is made
    of ("the scores QKᵀ (Q = K = X)" are scores); of two steps, the one named last ("点积得分"
    after "缩放因子"), unless the words make it what the step was computed from ("the output,
    with the weights printed above"; "softmax of the scores")."""
    spans: list[tuple[int, int]] = []
    found: list[tuple[str, int, int]] = []
    for role, pattern in _ROLES:
        for m in pattern.finditer(text):
            if any(a <= m.start() and m.end() <= b for a, b in spans):
                continue
            found.append((role, m.start(), m.end()))
            spans.append((m.start(), m.end()))
    if not found:
        return None
    steps = [f for f in found if f[0] in STEPS]
    made_of = [f for f in steps if _MADE_FROM.search(text[max(0, f[1] - 24) : f[1]])]
    steps = [f for f in steps if f not in made_of] or steps
    if steps:
        return max(steps, key=lambda f: f[2])[0]
    return found[0][0]


# words that make a step an ingredient: "with the weights", "of the scores", "用上表的权重"
_MADE_FROM = re.compile(
    r"\b(?:with|using|from|of|over)\s+(?:the\s+|these\s+|its\s+)?(?:\w+\s+)?$|"
    r"(?:用|根据|由|按|对)\S{0,4}$",
    re.I,
)


_MEM = next(p for r, p in _ROLES if r == "mem")
# a short name set equal to a formula: "A = E / rowsum", "out = Σ a_i v_i" (not "x = 2")
_ASSIGNED = re.compile(r"(?:^|[\s:：.)])([A-Za-z]\w{0,4})\s*=\s*(?![\s\d\[(−-])")
_IDENT = re.compile(r"^\\?[A-Za-z]\w*(?:[_^]\{?\w+\}?)*'?$")  # W_Q, q_1, attn_scores, W^{Q}
_LATEX_NAME = re.compile(r"\\(?:mathbf|boldsymbol|vec|mathrm|text|hat|bar)\s*\{([^{}]*)\}")


_SUBSCRIPTS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,2}[.)、])\s+")
_BRACKETED = re.compile(r"\\left\(.*?\\right\)|\([^()]*\)|\{[^{}]*\}")  # (e^1, e^0): no break
_SUBSCRIPT = re.compile(r"_\{([^{}]*)\}")  # α_{1\cdot}: row 1 of α


def _clean_subscripts(text: str) -> str:
    r"""α_{1\cdot} is α_{1}: a dot or a command in a subscript marks no index."""
    return _SUBSCRIPT.sub(lambda m: "_{" + re.sub(r"\\\w+|[·•\s]", "", m.group(1)) + "}", text)


def named_roles(label: str) -> list[str]:
    """The names the fragment is set equal to, read back from its end: 'Q = K =' -> [q, k];
    'W_Q =' -> [wq]; 'd_k = 2 → Output ≈' -> [output]; prose -> []."""
    label = _BULLET.sub("", label.translate(_SUBSCRIPTS))  # "- z₁ =" names z1
    label = _clean_subscripts(label)
    text = _LATEX_NAME.sub(r"\1", label).strip().rstrip("=≈:：").strip()
    if not text or not re.search(r"[=≈:：]\s*$", label.strip()):
        return []
    parts = re.split(r"\s*(?:=|≈|:|：)\s*", text)
    names: list[str] = []
    for part in reversed(parts):
        part = part.strip().strip("`$").strip()
        if _IDENT.match(part):
            names.append(part)
        elif re.search(r"[→,;，；。]|\s(?:and|then|so|gives)\s", _BRACKETED.sub("", part)):
            # "d_k = 2 → Output =": the word after the break, and nothing before it
            # "… pulled towards $x_2 =": the last word, unless it ends a product "q_1·k_2 ="
            m = re.search(r"([A-Za-z][\w^{}]*)[\s`$]*$", part)
            if m and not re.search(r"(?:[·*@×+\-/]|\\cdot|\\times)[\s`$]*$", part[: m.start()]):
                names.append(m.group(1))
            break
        # else an expression such as "X W_Q": the fragment equals it too; read on
    out: list[str] = []
    for name in reversed(names):
        key = re.sub(r"\d+$", "", re.sub(r"[\s_^{}\\']", "", name).lower())
        base = re.split(r"[_^]", name.lstrip("\\"))[0].lower()  # z_{我}: z
        role = _NAMES.get(key) or role_of(name) or _NAMES.get(base)
        if role and role not in out:
            out.append(role)
    return out


def index_of(text: str) -> int | None:
    """The number of the token (query) the words are about: "input 2", "q_2", "第2个"."""
    for m in _INDEX.finditer(text):
        if _KEY_INDEX.match(m.group(0)):
            continue
        found = indices_of(m.group(0))
        if found:
            return found[0]
    return None


def key_index_of(text: str) -> int | None:
    """The number of a key or value: "key 2", "k_2", "Value for input 3"."""
    found = indices_of(text)
    return found[0] if found else None


_CODE_INDEX = re.compile(r"\w\[(\d{1,3})\]")  # weighted[0]: 0-based, as in code


def indices_of(text: str) -> list[int]:
    """Every token number the words give, in order: "q1 · k2" -> [1, 2]."""
    text = _clean_subscripts(text)
    out = [int(m.group(1)) + 1 for m in _CODE_INDEX.finditer(text)]
    for m in _INDEX.finditer(text):
        digits, sub, zh = m.group(1), m.group(2), m.group(3)
        if digits:
            out.append(int(digits))
        elif sub:
            out.append(int(sub.translate(str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789"))))
        elif zh:
            n = int(zh) if zh.isdigit() else _chinese_number(zh)
            if n is not None:
                out.append(n)
    return out


def _chinese_number(text: str) -> int | None:
    if text == "十":
        return 10
    if text.startswith("十"):
        return 10 + _CN_DIGITS.get(text[1:], 0)
    if len(text) == 1:
        return _CN_DIGITS.get(text)
    return None


def scale_claim(seg: str, role: str | None) -> str | None:
    """What the formula nearest the fragment says about 1/√d_k; words when there is none.

    "先不管分母 $\\sqrt{d_k}$。$softmax(XX^T)$ 就是:" is unscaled: its last formula has no √.
    """
    if role not in ("scores", "scaled", "masked", "weights", "output", "weighted"):
        return None
    formulas = [next(g for g in m.groups() if g is not None) for m in _MATH.finditer(seg)]
    formulas = [f for f in formulas if _FORMULA_WORDS.search(f)]
    if formulas:
        last = formulas[-1]
        if _SQRT.search(last):
            return "sqrt"
        return "none" if _FORMULA.search(last) and role not in ("scores",) else None
    if _UNSCALED.search(seg):
        return "none"
    if _SQRT.search(seg) or (role == "scaled" and re.search(r"divid|除以", seg)):
        return "sqrt"
    if _FORMULA.search(seg) and role not in ("scores", "scaled"):
        return "none"  # a formula written without √d_k
    return None


def unscaled(text: str) -> bool:
    """Do the words say the numbers are not scaled ("no scaling", "没有除以 √d_k")?"""
    return bool(_UNSCALED.search(text))


def causal_claim(seg: str) -> bool | None:
    if _NO_MASK.search(seg):
        return False
    return True if _CAUSAL.search(seg) else None


_MATH_DEF = re.compile(r"\$([^$]*?)\s=\s*([^$=]+)\$")


def _defining_formula(seg: str) -> str | None:
    """The step a formula in the words defines: "$b_i = \\sum_j \\alpha_{ij} v_j$, using the
    weights above" is the output, whatever the words after it name."""
    for m in _MATH_DEF.finditer(seg):
        role = role_of(m.group(2))
        if role in STEPS:
            return role
    return None


_COLUMN = r"(?:[A-Za-z]{0,3}_?\d{1,3}|[A-Za-z])"  # K1, k_2, x3, a
_HEADER = re.compile(rf"^\s*{_COLUMN}(?:\s+{_COLUMN})+\s*$")
_ROW_LABEL = re.compile(r"^\s*\S{1,12}\s*(?:→|->|⟶)\s*$")


def _aliases(text: str) -> list[str]:
    """The roles one matrix plays by the words "Q = K = V = X": X alone when X is among them
    (Q, K and V are then X itself), else every name ("Q = K = V")."""
    for m in _ALIASES.finditer(text):
        names = re.findall(r"[QKVX]", m.group(0), re.I)
        roles = list(dict.fromkeys(n.lower() for n in names))
        if len(roles) > 1:
            return ["x"] if "x" in roles else roles
    return []


def describe(label: str, context: list[str]) -> Description:
    """The label (same line) first, then the lines above, nearest first."""
    if _ROW_LABEL.match(label):
        label = ""  # "Q1 →  [1 1 1 1]": the row of query 1, not Q
    names = named_roles(label)
    if not names and _IDENT.match(label.strip()):
        names = named_roles(label + " =")  # "probs [[…]]": printed after its name
    context = [c for c in context if not _HEADER.match(c)]  # "K1   K2   K3": column names
    for source in [label, *context[:2]]:
        seg = _segment(source) if source is not label else source
        role = names[0] if names and source is label else role_of(seg)
        defined = _defining_formula(seg) if source is not label else None
        role = defined or role
        if source is not label and (named := _ASSIGNED.search(seg)):
            step = _NAMES.get(named.group(1).lower())
            scores = ("scores", "scaled", "masked")  # "S = QKᵀ/√2": the words say more than S
            if step in STEPS and not (step in scores and role in scores):
                role = step  # "Step 5. A = E / rowsum": A, the weights
        if role == "x" and _MEM.search(seg):
            role = "mem"  # "encoder outputs: H = …": H is what keys and values come from
            names = ["mem" if n == "x" else n for n in names]
        if role is None:
            continue
        alias = _aliases(seg) if source is not label and role in ("q", "k", "v", "x") else []
        role = alias[0] if alias else role
        quoted = _QUOTED.findall(seg)
        return Description(
            role=role,
            index=index_of(seg),
            key_index=key_index_of(seg),
            indices=indices_of(seg),
            token=quoted[-1] if quoted else None,
            scale=scale_claim(seg, role),
            causal=causal_claim(seg),
            names=names if source is label else alias,
            transposed=bool(_TRANSPOSED.search(seg)) and role in ("q", "k", "v", "x", "xt"),
            source=seg,
        )
    return Description()
