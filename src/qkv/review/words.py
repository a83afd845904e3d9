"""The words that name each step of attention, as data: a table of regular expressions,
most specific first, each with phrases it must name that way (tests/test_review_words.py
holds them to it).

A match inside the span of an earlier (more specific) entry does not count: "weights for the
query" is W_Q, not the weights; "weighted values" the products a·v, not the weights. The
entries are English and Chinese, prose, formulas and code (attn_weights, W_q, query_1), as
articles write them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qkv.review.kinds import Role


@dataclass(frozen=True)
class RoleWords:
    role: Role
    pattern: str  # a regular expression
    says: tuple[str, ...] = ()  # phrases the words name as this step (they are tested)
    case: bool = False  # match the case as written (K, not k)

    def compiled(self) -> re.Pattern[str]:
        return re.compile(self.pattern, 0 if self.case else re.IGNORECASE)


ROLE_WORDS: tuple[RoleWords, ...] = (
    RoleWords(
        Role.MEM,
        (
            r"\bencoder(?:'s)?\s+(?:outputs?|states?|hidden\s+states?|positions?|memory)\b|"
            r"\bmemory\b|编码器(?:的)?(?:输出|状态|隐状态|隐藏状态|位置|表示)|源(?:序列|句子?)(?:的)?表示"
        ),
        says=("the encoder outputs H", "编码器的输出"),
    ),
    RoleWords(
        Role.X,
        (
            r"\bdecoder(?:'s)?\s+(?:states?|inputs?|hidden\s+states?|positions?)\b|"
            r"解码器(?:的)?(?:状态|输入|隐状态|隐藏状态|位置)"
        ),
        says=("the decoder states Y", "解码器的状态"),
    ),
    RoleWords(
        Role.NORM,
        (
            r"\brow[-\s]?sums?\s+of\s+(?:the\s+)?(?:E\b|exp\w*)|"
            r"\bnormali[sz](?:er|ing\s+constants?)|\bpartition\s+functions?|"
            r"softmax(?:'s)?\s+denominators?|(?:softmax|指数)\s*的?分母|归一化(?:因子|常数)|指数(?:之|的)?和|"
            r"(?:\\Sigma|Σ)[_\s]?\{?\d+\}?"
        ),
        says=("the softmax denominators", "指数之和"),
    ),
    RoleWords(
        Role.EXPS,
        (
            r"\bexp\s*\(\s*(?:S\b|scores?|Q\s*K|X\s*X|s_)|\bexponentia\w*|"
            r"\be\^\{?\s*(?:s_|S\b|score|x_?i\b)|(?:取|做|计算)?指数(?!和)"
        ),
        says=("exp(scores)", "取指数"),
    ),
    RoleWords(
        Role.SUMS,
        (
            r"\.sum\s*\(\s*(?:(?:axis|dim)\s*=\s*)?(?:-1|1)\s*(?:,\s*keepdims?\s*=\s*\w+\s*)?\)|"
            r"\b(?:np|torch)\.sum\s*\(\s*[\w.]+\s*,\s*(?:axis|dim)\s*=\s*-?1\s*\)|"
            r"\brow[-\s]?(?:wise\s+)?sums?\b(?:\s+of\s+(?:the\s+)?(?:attention\s+)?weights)?|"
            r"\bsum\s+of\s+(?:each|every)\s+row\b|(?:每行|每一行|各行)(?:权重)?(?:之|的)?(?:和|求和|加起来)|按行求和|行和"
        ),
        says=("P.sum(axis=1)", "row sums of the weights", "每行之和"),
    ),
    RoleWords(
        Role.Q,
        (r"(?:[·@*×]|\\cdot|\btimes|\bX\s*)\s*`?\\?W\s*[_^]?\s*\{?\s*(?:[Qq]\b|query)"),
        says=("x · W_Q", "w_q(x)"),
    ),
    RoleWords(
        Role.K,
        (r"(?:[·@*×]|\\cdot|\btimes|\bX\s*)\s*`?\\?W\s*[_^]?\s*\{?\s*(?:[Kk]\b|key)"),
        says=("X @ W_k", "w_k(x)", "Kᵀ", "K^T"),
    ),
    RoleWords(
        Role.V,
        (r"(?:[·@*×]|\\cdot|\btimes|\bX\s*)\s*`?\\?W\s*[_^]?\s*\{?\s*(?:[Vv]\b|value)"),
        says=("input times W_V", "w_v(x)"),
    ),
    RoleWords(
        Role.Q,
        (r"\bw[_\s]?[Qq]\s*\(\s*\w"),
        says=("w_q(x)", "self.W_q(x)"),
    ),
    RoleWords(
        Role.K,
        (r"\bw[_\s]?[Kk]\s*\(\s*\w"),
        says=("w_k(x)",),
    ),
    RoleWords(
        Role.V,
        (r"\bw[_\s]?[Vv]\s*\(\s*\w"),
        says=("w_v(x)",),
    ),
    RoleWords(
        Role.WQ,
        (
            r"W\s*[_^]?\s*\{?\s*(?:Q|q|query)\b\}?|W[_\s]?\{?quer|"
            r"(?:weights?|matrix|projection)\s+(?:for|of)\s+(?:the\s+)?quer(?:y|ies)|"
            r"quer(?:y|ies)[\s_\-]*(?:weights?|projection|proj)\b|查询(?:的)?(?:权重|投影)"
        ),
        says=("W_Q", "weights for the query", "查询的权重"),
    ),
    RoleWords(
        Role.WK,
        (
            r"W\s*[_^]?\s*\{?\s*(?:K|k|key)\b\}?|"
            r"(?:weights?|matrix|projection)\s+(?:for|of)\s+(?:the\s+)?keys?|"
            r"keys?[\s_\-]*(?:weights?|projection|proj)\b|键(?:的)?(?:权重|投影)"
        ),
        says=("W_K", "key projection", "键的权重"),
    ),
    RoleWords(
        Role.WV,
        (
            r"W\s*[_^]?\s*\{?\s*(?:V|v|value)\b\}?|"
            r"(?:weights?|matrix|projection)\s+(?:for|of)\s+(?:the\s+)?values?|"
            r"values?[\s_\-]*(?:weights?|projection|proj)\b|值(?:的)?(?:权重|投影)"
        ),
        says=("W_V", "value weights", "值的投影"),
    ),
    RoleWords(
        Role.WEIGHTED,
        (
            r"weighted[\s_\-]*(?:values?|value[\s_\-]*vectors?|vectors?)|"
            r"\bweighted\b(?![\s_\-]*sum)|"
            r"(?:multiply|multiplied|times|scale[sd]?)\b.{0,30}\bvalues?\b(?:.{0,25}\bweights?\b)?|"
            r"values?\s+(?:multiplied|times|scaled|weighted)|加权(?:后的|的)?(?:值|价值|向量)|带权重的(?:价值|值)|"
            r"权重乘以?值"
        ),
        says=("weighted values", "加权后的值"),
    ),
    RoleWords(
        Role.OUTPUT,
        (
            r"softmax.*\)\s*\$?\s*(?:[XV]|\\mathbf\{[XV]\})(?![A-Za-z_^])|\boutputs?\b|"
            r"\bcontext[\s_\-]*(?:vectors?|representations?|embeddings?)\b|weighted[\s_\-]*sums?|"
            r"\bz[_\s]?\{?\d+\}?|\bz\s*=|\battn[\s_\-]*out|"
            r"new\s+(?:vectors?|representations?|embeddings?)|"
            r"(?:\b(?:attn|attention|weights?|probs|p_attn)|权重|注意力)\s*(?:@|\.dot|·|\\cdot|\*|×|tim"
            r"es|乘以?)\s*(?:[vVxX]|values?|value[_\s]?vectors?)\b|"
            r"\bmultipl\w*\s+(?:\w+\s+){0,3}?by\s+(?:the\s+)?V\b(?!\s*[_^])|乘以?\s*V\b|"
            r"\bhead[\s-]*\d+\s*\(\s*\\?[xX]|\battended\s+values?\b|"
            r"(?:\\sum|Σ|∑)(?:[_\s]*\{?\w*\}?)?\s*(?:\\alpha|α|\b[awp])[_\s]?\{?\w*\}?\s*(?:\\cdot"
            r"|·|\*)?\s*(?:v|\\mathbf\{v\})[_\s]|"
            r"\b(?!X\b)[A-Za-z]\w*\s*(?:@|·|×|\\cdot)\s*(?:V|values)\b(?!\s*[_^])|"
            r"\b(?:matmul|dot)\(\s*(?!X\b)\w+\s*,\s*(?:V|values)\s*\)|输出|最终|加权和|加权求和|上下文向量|"
            r"新的(?:向量|表示)"
        ),
        says=("the output", "context vector", "weights @ V", "加权和"),
    ),
    RoleWords(
        Role.MASKED,
        (
            r"masked[\s_\-]*(?:scores?|logits|attention[\s_\-]*scores?)|after\s+(?:the\s+)?mask|"
            r"(?:掩码后|加掩码后?的|遮挡后)的?(?:注意力)?(?:分数|得分|相似度|点积)?"
        ),
        says=("masked scores", "掩码后"),
    ),
    RoleWords(
        Role.WEIGHTS,
        (
            r"softmax\}?\s*(?:\\left\s*)?(?:[(\[{](?:[^(){}\[\]]|[(\[{](?:[^(){}\[\]]|[(\[{][^(){}"
            r"\[\]]*[)\]}])*[)\]}])*[)\]}]|\\[dt]?frac\{(?:[^{}]|\{[^{}]*\})*\}\{(?:[^{}]|\{[^{}]*\})*\})?|"
            r"\bdistributions?\b|\bweights?\b|probabilit|"
            r"attention\s+(?:matrix|distribution|map|pattern)|e\^\s*\{?[^{}/]*\}?\s*/\s*\(|"
            r"\\frac\s*\{\s*e\^|"
            r"\battn\b(?![_\s-]*(?:out|scores?|logits))(?!\.\s*(?:W|[qkvc]\b|proj|in\b|out\b))|"
            r"\bα|\\alpha|权重|概率|归一化"
        ),
        says=("attention weights", "softmax(QKᵀ/√d_k)", "注意力权重"),
    ),
    RoleWords(
        Role.SCALED,
        (
            r"(?<!un)\bscaled(?:\s+(?:dot[- ]product\s+)?(?:attention\s+)?(?:scores?|logits))?\b|"
            r"(?:XXᵀ|QKᵀ|X\s*X\s*\^\s*\{?(?:T|\\top)\}?|Q\s*K\s*\^\s*\{?(?:T|\\top)\}?)\s*/\s*[\d√\\]|"
            r"\bdivid(?:e|ed|es|ing)\b|/\s*(?:√|\\sqrt|sqrt|np\.sqrt|math\.sqrt)|"
            r"\bscores?\s*/\s*\d|"
            r"(?:@|\.T\b|matmul|transpose|\bdot\b)[^=\n]*?(?:/\s*[\w.(]|\*\s*(?:scale|0\.\d))|"
            r"\\frac\s*\{(?:[^{}]|\{[^{}]*\})*\}\s*\{\s*\\sqrt|"
            r"(?<![不未])缩放(?:后|之后|过)?的?(?:相似度|得分|分数|点积|注意力分数)?|(?<![不未])除以"
        ),
        says=("scaled scores", "QKᵀ/√2", "缩放后的得分"),
    ),
    RoleWords(
        Role.SCORES,
        (
            r"X\s*X\s*\^|X\s*Xᵀ|Q\s*K\s*\^|Q\s*Kᵀ|X\s*X\^\{?\\top|Q\s*@\s*K|"
            # code: x @ x.T, np.dot(q, k.T), torch.matmul(x, x.transpose(-2, -1))
            r"\b[xq]\w{0,8}\s*@\s*[xk]\w{0,8}\s*(?:\.T\b|\.t\(\)|\.transpose|\.mT\b)|"
            r"(?:\bdot|matmul|\bmm|\bbmm)\(\s*[xq]\w{0,8}\s*,\s*[xk]\w{0,8}\s*"
            r"(?:\.T\b|\.t\(\)|\.transpose|\.mT\b)|"
            r"\b[qx][_\s]?\{?\d*\}?\s*(?:[·@*]|\\cdot)\s*[kx][_\s]?\{?\d|"
            r"\bq[_\s]?\{?\d*\}?\s*(?:[·@*]|\\cdot)\s*k|"
            r"\b[qx][_\s]?\{?[ijt]\}?\s*(?:[·@*]|\\cdot)\s*[kx][_\s]?\{?[ijs]\b|\bscores?\b|"
            r"dot[\s_\-]*products?|similarit|\blogits\b|compatibilit|\brelevance\b|"
            r"\bq\s+\.\s+k(?:eys?)?\b|相似度|得分|分数|点积|打分|内积"
        ),
        says=("scores", "Q·Kᵀ", "dot products", "相似度"),
    ),
    RoleWords(
        Role.K,
        (r"(?<![A-Za-z])K\s*\^\s*\{?\s*(?:T|\\top)\b\}?|Kᵀ|\bK\.T\b|键矩阵的?转置"),
        case=True,
        says=("Kᵀ", "K^T", "K.T"),
    ),
    RoleWords(
        Role.XT,
        (r"(?<![A-Za-z])X\s*\^\s*\{?\s*(?:T|\\top)\b|Xᵀ|X\.T\b|转置|\btranspose"),
        says=("Xᵀ", "X transposed"),
    ),
    RoleWords(
        Role.MASK,
        (r"\bmask\b(?![\s_\-]*(?:ed|ing))|掩码矩阵|掩码|causal[\s_\-]*mask"),
        says=("the causal mask", "掩码矩阵"),
    ),
    RoleWords(
        Role.Q,
        (
            r"(?<![A-Za-z\\])Q(?![A-Za-z_^ᵀ])|\bquer(?:y|ies|ys)\b|\bq[_\s]?\{?\d+\}?\b|\bq[₀-₉]+|"
            r"\bq\s*=|查询"
        ),
        says=("Q", "queries", "q1 =", "查询"),
    ),
    RoleWords(
        Role.K,
        (r"(?<![A-Za-z\\])K(?![A-Za-z_^ᵀ])|\bkeys?\b|\bk[_\s]?\{?\d+\}?\b|\bk[₀-₉]+|\bk\s*=|键"),
        says=("K", "keys", "k2 =", "键"),
    ),
    RoleWords(
        Role.V,
        (
            r"(?<![A-Za-z\\])V(?![A-Za-z_^ᵀ])|\bvalues?\b|\bv[_\s]?\{?\d+\}?\b|\bv[₀-₉]+|\bv\s*=|"
            r"(?<!价)值(?!得)"
        ),
        says=("V", "values", "v3 =", "值"),
    ),
    RoleWords(
        Role.X,
        (
            r"(?<![A-Za-z\\])X(?![A-Za-z_^ᵀ])|\binputs?\b|\bembeddings?\b|\bx[_\s]?\{?\d+\}?\b|"
            r"\bx[₀-₉]+|\bx\s*=|token\s+vectors?|word\s+vectors?|输入|词向量|嵌入|向量表示|"
            r"(?:字|词|token)(?:[”\"」』]|\s)*(?:的|各自的)?(?:特征)?向量|"
            r"\d+\s*[-‐]?\s*(?:dim(?:ension(?:al|s)?)?\b|维)"
        ),
        says=("X", "the input", "word embeddings", "词向量"),
    ),
)
