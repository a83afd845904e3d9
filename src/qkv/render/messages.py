"""zh and en texts for every renderer. Both catalogs have the same keys (a test checks)."""

from __future__ import annotations

import os

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "doc.title": "Attention, step by step",
        "doc.example": "Example: {name}",
        "doc.settings": "d_k = {d_k} · scale = {scale} · mask: {mask}",
        "mask.none": "none",
        "mask.bottom_right": "causal (bottom-right: query i sees keys j ≤ i + S - L)",
        "mask.top_left": "causal (top-left: query i sees keys j ≤ i, like torch's is_causal)",
        "mask.given": "given",
        "step.x.title": "Input X",
        "step.x.text": "Each row is one token's vector of {cols} numbers.",
        "step.wq.title": "Projection W_Q",
        "step.wk.title": "Projection W_K",
        "step.wv.title": "Projection W_V",
        "step.w.text": "A learned matrix that turns each token vector into a {what}.",
        "what.q": "query",
        "what.k": "key",
        "what.v": "value",
        "step.q.title": "Queries Q",
        "step.k.title": "Keys K",
        "step.v.title": "Values V",
        "step.q.text": "What each token is looking for (the search box in the article).",
        "step.k.text": "What each token offers to be found by (the product keywords).",
        "step.v.text": "What each token hands over once it is chosen (the product's value).",
        "step.same.text": "No projection here: {id} = X, exactly as the article computes it.",
        "step.scores.title": "Scores S = Q·Kᵀ",
        "step.scores.text": "Entry (i, j) is the dot product of query i with key j: "
        "multiply number by number and add. Larger means more similar.",
        "step.scaled.title": "Scaled scores",
        "step.scaled.text": "Multiply every score by {scale}, so that the scores do not grow "
        "with the dimension d_k and the softmax does not saturate.",
        "step.masked.title": "Masked scores",
        "step.masked.text": "Keys a query may not see get -∞, so that their weight becomes "
        "exactly 0.",
        "step.weights.title": "Attention weights A = softmax(S)",
        "step.weights.text": "Row by row: subtract the row's largest score m, take e^(s - m), "
        "divide by the row's sum. Every row sums to 1 (a row with nothing to see is all 0).",
        "step.weighted.title": "Weighted values",
        "step.weighted.text": "Each key's weight times its value: what it contributes.",
        "step.output.title": "Output O = A·V",
        "step.output.text": "Each row is the weighted average of the rows of V: the token's "
        "new position in the vector space.",
        "expand.title": "Entry ({row}, {col}):",
        "contrast.title": "What 1/√d_k changes",
        "contrast.text": "The article leaves out 1/√d_k. With it (here {scale}), the scores "
        "shrink and the weights spread out:",
        "contrast.after": "Without scaling, dot products grow with d_k and the softmax "
        "approaches one-hot: one key takes almost all the weight and the gradients of the "
        "others vanish. Dividing by √d_k keeps the scores' spread near 1 for random vectors.",
        "contrast.col.token": "token",
        "contrast.col.top": "attends most to",
        "contrast.col.before": "weight, unscaled",
        "contrast.col.after": "weight, × {scale}",
        "ranking.title": "Ranking",
        "ranking.text": "Keys sorted by weighted value, highest first: what the search "
        "shows on top.",
        "ranking.col.rank": "rank",
        "ranking.col.key": "key",
        "ranking.col.weight": "weight",
        "ranking.col.value": "weighted value",
        "examples.title": "Examples (qkv explain --example NAME)",
    },
    "zh": {
        "doc.title": "注意力机制,一步一步手算",
        "doc.example": "例子:{name}",
        "doc.settings": "d_k = {d_k} · 缩放 = {scale} · 掩码:{mask}",
        "mask.none": "无",
        "mask.bottom_right": "因果(右下对齐:查询 i 看得见键 j ≤ i + S - L)",
        "mask.top_left": "因果(左上对齐:查询 i 看得见键 j ≤ i,同 torch 的 is_causal)",
        "mask.given": "用户给定",
        "step.x.title": "输入 X",
        "step.x.text": "每一行是一个字(token)的向量,共 {cols} 个数。",
        "step.wq.title": "投影矩阵 W_Q",
        "step.wk.title": "投影矩阵 W_K",
        "step.wv.title": "投影矩阵 W_V",
        "step.w.text": "学出来的矩阵,把每个字的向量变成{what}。",
        "what.q": "查询(query)",
        "what.k": "键(key)",
        "what.v": "值(value)",
        "step.q.title": "查询 Q",
        "step.k.title": "键 K",
        "step.v.title": "值 V",
        "step.q.text": "每个字要找什么(文章里的搜索框)。",
        "step.k.text": "每个字凭什么被找到(商品的关键字)。",
        "step.v.text": "每个字被选中后交出什么(商品的价值)。",
        "step.same.text": "这里不做投影:{id} = X,和文章的算法完全一样。",
        "step.scores.title": "相似度 S = Q·Kᵀ",
        "step.scores.text": "第 (i, j) 个数是查询 i 和键 j 的点积:对应位置相乘再相加。越大越相似。",
        "step.scaled.title": "缩放后的相似度",
        "step.scaled.text": "每个数乘以 {scale},让相似度不随维度 d_k 变大,softmax 不至于饱和。",
        "step.masked.title": "加掩码后的相似度",
        "step.masked.text": "查询看不见的键记为 -∞,它的权重就正好是 0。",
        "step.weights.title": "注意力权重 A = softmax(S)",
        "step.weights.text": "逐行计算:减去这一行的最大值 m,取 e^(s - m),再除以这一行的和。"
        "每行之和为 1(什么都看不见的行全为 0)。",
        "step.weighted.title": "带权重的价值",
        "step.weighted.text": "每个键的权重乘以它的值:它贡献了多少。",
        "step.output.title": "输出 O = A·V",
        "step.output.text": "每一行是 V 各行的加权平均:这个字在高维空间里的新位置。",
        "expand.title": "第 ({row}, {col}) 个数:",
        "contrast.title": "1/√d_k 改变了什么",
        "contrast.text": "文章省略了 1/√d_k。加上它(这里是 {scale})以后,相似度变小,权重变得平缓:",
        "contrast.after": "不缩放时,点积随 d_k 增大,softmax 趋近 one-hot:"
        "一个键几乎拿走全部权重,其他键的梯度几乎为零。除以 √d_k 让随机向量的相似度"
        "保持在 1 左右的尺度。",
        "contrast.col.token": "字",
        "contrast.col.top": "最关注",
        "contrast.col.before": "不缩放的权重",
        "contrast.col.after": "× {scale} 后的权重",
        "ranking.title": "排序",
        "ranking.text": "按带权重的价值从高到低排序:搜索结果最先显示的在最上面。",
        "ranking.col.rank": "名次",
        "ranking.col.key": "键",
        "ranking.col.weight": "权重",
        "ranking.col.value": "带权重的价值",
        "examples.title": "例子(qkv explain --example 名字)",
    },
}

LANGS = tuple(MESSAGES)


def default_lang() -> str:
    """zh when the locale says Chinese, else en."""
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = os.environ.get(var)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def t(lang: str, key: str, **kwargs: object) -> str:
    text = MESSAGES[lang][key]
    return text.format(**kwargs) if kwargs else text
