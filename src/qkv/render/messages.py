"""zh and en texts of the hand calculation. Both catalogs have the same keys (a test checks)."""

from __future__ import annotations

from qkv.catalog import Catalog

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "doc.title": "Attention, step by step",
        "doc.example": "Example: {name}",
        "doc.settings": "d_k = {d_k} · scale = {scale} · mask: {mask}",
        "mask.none": "none",
        "mask.bottom_right": "causal (bottom-right: query i sees keys j ≤ i + n_k - n_q, for n_q "
        "queries and n_k keys)",
        "mask.top_left": "causal (top-left: query i sees keys j ≤ i, like torch's is_causal)",
        "mask.given": "given",
        "step.x.title": "Input X",
        "step.x.text": "Each row is one token's vector of {cols} numbers.",
        "step.wq.title": "Projection W_Q",
        "step.wk.title": "Projection W_K",
        "step.wv.title": "Projection W_V",
        "step.w.text": "A learned matrix that turns each token vector into a {what}.",
        "step.bq.title": "Bias b_Q",
        "step.bk.title": "Bias b_K",
        "step.bv.title": "Bias b_V",
        "step.b.text": "A learned vector added to every token's {what}, after the matrix.",
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
        "step.scores.text": "Entry (i, j) is the dot product of query i with key j: multiply "
        "number by number and add. Larger means more similar.",
        "step.scaled.title": "Scaled scores",
        "step.scaled.text": "Multiply every score by {scale}, so that the scores do not grow with "
        "the dimension d_k and the softmax does not saturate.",
        "step.masked.title": "Masked scores",
        "step.masked.text": "Keys a query may not see get -∞"
        ", so that their weight becomes exactly 0.",
        "step.weights.title": "Attention weights {formula}",
        "step.weights.text": "Row by row: subtract the row's largest score m, take e^(s - m), "
        "divide by the row's sum. Every row sums to 1 (a row with nothing to see is all 0).",
        "step.weighted.title": "Weighted values",
        "step.weighted.text": "Each key's weight times its value: what it contributes.",
        "step.output.title": "Output O = A·V",
        "step.output.text": "Each row is the weighted average of the rows of V: the token's new "
        "position in the vector space.",
        "expand.title": "Entry ({row}, {col}):",
        "contrast.title": "What 1/√d_k changes",
        "contrast.text": "The article leaves out 1/√"
        "d_k. With it (here {scale}), the scores shrink and the weights spread out:",
        "contrast.after": "Without scaling, dot products grow with d_k and the softmax approaches "
        "one-hot: one key takes almost all the weight and the gradients of the others vanish. "
        "Dividing by √d_k keeps the scores' spread near 1 for random vectors.",
        "contrast.col.token": "token",
        "contrast.col.top": "attends most to",
        "contrast.col.before": "weight, unscaled",
        "contrast.col.after": "weight, × {scale}",
        "ranking.title": "Ranking",
        "ranking.text": "Keys sorted by weighted value, highest first: what the search shows on "
        "top.",
        "ranking.col.rank": "rank",
        "ranking.col.key": "key",
        "ranking.col.weight": "weight",
        "ranking.col.value": "weighted value",
        "examples.title": "Examples (qkv explain --example NAME)",
        "doc.heads": "{heads} heads, d_k per head",
        "doc.additive": "additive scores (Bahdanau)",
        "mask.lengths": "padding: query i sees its first n_i keys (n = {lengths})",
        "head.title": "{title} · head {head}",
        "head.again": "As in head 1, with head {head}'s columns.",
        "step.split.text": "Head {head} takes columns {span} of {what}: each head attends in "
        "its own smaller space.",
        "step.split.one": "Head {head} takes column {span} of {what}: each head attends in "
        "its own smaller space.",
        "step.concat.title": "Heads concatenated",
        "step.concat.text": "The {heads} heads' outputs side by side, row by row: one vector per "
        "token again.",
        "step.wo.title": "Output projection W_O",
        "step.wo.text": "A learned matrix that mixes what the heads found.",
        "step.attended.title": "Attention result A·V",
        "step.attended.text": "Each row is the weighted average of the rows of V; W_O comes next.",
        "step.projected.title": "Output O (through W_O)",
        "step.projected.text": "Each row times W_O: the heads' findings mixed into the output.",
        "step.wa_q.title": "Additive weights W_a^q",
        "step.wa_k.title": "Additive weights W_a^k",
        "step.wa.text": "Maps each row of {what} into the hidden space of the additive score "
        "(default: the identity).",
        "step.va.title": "Additive vector v_a",
        "step.va.text": "Weighs the hidden units into one score (default: all ones).",
        "step.qa.title": "Queries in the hidden space Q·W_a^q",
        "step.qa.text": "Each query mapped into the hidden space.",
        "step.ka.title": "Keys in the hidden space K·W_a^k",
        "step.ka.text": "Each key mapped into the hidden space.",
        "step.additive.title": "Additive scores S = v_aᵀ tanh(W_a^q q + W_a^k k)",
        "step.additive.text": "Entry (i, j): add query i's and key j's hidden vectors, take tanh "
        "of each number, weigh them by v_a and add (Bahdanau). Query and key may differ in "
        "length.",
        "lengths.note": "Valid lengths {lengths}: the keys beyond a query's length are padding "
        "(d2l's valid_lens), so they get -∞ and weight 0.",
        "model.title": "Inside {model}: layer {layer}, head {head}, by hand",
        "model.verified": "matches the model's attention to {error}",
        "model.source.title": "Where the numbers come from",
        "model.source.text": "X is what layer {layer}'s attention was given: {x}. Head {head} "
        "of {heads} takes columns {span} of the layer's W_Q, W_K and W_V and of their biases "
        "(d_head = {d}). Every number is the model's own (float32), computed on in float64.",
        "model.tokens": "token",
        "model.x.bert1": "the embeddings (token + position + segment) after their LayerNorm",
        "model.x.bert": "the output of layer {prev}, which ends in a LayerNorm (BERT normalises "
        "after each residual sum: post-LN)",
        "model.x.pre1": "the token and position embeddings, normalised by {norm} (the model "
        "normalises before attention: pre-LN)",
        "model.x.pre": "the residual stream (the embeddings plus what {before} added), "
        "normalised by {norm} (the model normalises before attention: pre-LN)",
        "model.before.one": "layer 1",
        "model.before.many": "layers 1–{prev}",
        "model.nopad": "One text, so no padding: every query sees every key.",
        "model.causal": "A decoder: each token sees itself and the tokens before it (a causal "
        "mask; the keys after it get −∞).",
        "model.gqa": "Keys and values are shared between heads (grouped-query attention): head "
        "{head} reads key/value head {group} of {kv}.",
        "model.query.hint": "--query I (a number or a token) writes out one query's row, "
        "product by product.",
        "model.columns": "Columns {shown} of {total} shown; --columns A-B (or all) shows "
        "others, --format json or html every one.",
        "model.rows": "Rows {shown} of {total} shown (X's columns: the same dimensions); "
        "--columns A-B (or all) shows others, --format json or html every one.",
        "model.expand.long": "Entry ({row}, {col}), a sum of {n} products and the bias:",
        "model.key": "key",
        "model.q.products.title": "Query {token}: q·k, product by product",
        "model.q.products.text": "Row t: the query's number q[t] and its product with each "
        "key's number k[t]; the sum of a column (Σ) is that key's score s, as in the neuron "
        "view.",
        "model.q.running.title": "Query {token}: the running sums",
        "model.q.running.text": "Row t: the sum of the first t products of each key; the last "
        "row is the score.",
        "model.q.softmax.title": "Query {token}: softmax, term by term",
        "model.q.softmax.text": "Each score times {scale}, minus the largest (m = {m}), then "
        "e^(s − m); each weight a is its term divided by their sum Σ = {total}.",
        "model.q.output.title": "Query {token}: the output, value by value",
        "model.q.output.text": "Row t: each key's weight times its value's number t (a·v); "
        "their sum o[t] is the query's output.",
        "model.next.text": "The {heads} heads' outputs are put side by side (head {head} is "
        "columns {span} of {width}) and multiplied by W_O ({width} × {d_model}){bias}. Head "
        "{head}'s part is its output times rows {span} of W_O. Then {after}.",
        "model.bo": ", plus its bias b_O once for all heads",
        "model.after.post": "the heads' parts, added up, are added to X (the residual) and "
        "normalised (LayerNorm)",
        "model.after.pre": "the heads' parts, added up, are added to the residual stream; the "
        "next LayerNorm comes before the feed-forward block",
        "model.wo.title": "Where it goes next: rows {span} of W_O",
        "model.share.title": "Head {head}'s part of the layer's output",
        "model.share.text": "Head {head}'s output times its rows of W_O: what this head adds to "
        "the attention's output, before the other heads' parts are added.",
        "model.check.title": "Checked against the model",
        "model.check.text": "qkv recomputed this head in float64 from the model's numbers. "
        "Its weights match the model's own (output_attentions) to {weights}; its output "
        "matches the head's output taken from the model by a hook (what W_O receives) to "
        "{output}; the layer's output recomputed from its {heads} heads through W_O matches to "
        "{projection}. Float32 rounding allows {wl}, {ol} and {pl}; more is an error.",
        "additive.note": "tanh is not a rational function, so these scores (and what follows) are "
        "floats, computed from the exact Q·W_a^q and K·W_a^k above.",
    },
    "zh": {
        "doc.title": "注意力机制,一步一步手算",
        "doc.example": "例子:{name}",
        "doc.settings": "d_k = {d_k} · 缩放 = {scale} · 掩码:{mask}",
        "mask.none": "无",
        "mask.bottom_right": (
            "因果(右下对齐:n_q 个查询、n_k 个键时,查询 i 看得见键 j ≤ i + n_k - n_q)"
        ),
        "mask.top_left": "因果(左上对齐:查询 i 看得见键 j ≤ i,同 torch 的 is_causal)",
        "mask.given": "用户给定",
        "step.x.title": "输入 X",
        "step.x.text": "每一行是一个字(token)的向量,共 {cols} 个数。",
        "step.wq.title": "投影矩阵 W_Q",
        "step.wk.title": "投影矩阵 W_K",
        "step.wv.title": "投影矩阵 W_V",
        "step.w.text": "学出来的矩阵,把每个字的向量变成{what}。",
        "step.bq.title": "偏置 b_Q",
        "step.bk.title": "偏置 b_K",
        "step.bv.title": "偏置 b_V",
        "step.b.text": "学出来的向量,乘完矩阵以后加到每个字的{what}上。",
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
        "step.weights.title": "注意力权重 {formula}",
        "step.weights.text": "逐行计算:减去这一行的最大值 m,取 e^(s - m),再除以这一行的和。每行之"
        "和为 1(什么都看不见的行全为 0)。",
        "step.weighted.title": "带权重的价值",
        "step.weighted.text": "每个键的权重乘以它的值:它贡献了多少。",
        "step.output.title": "输出 O = A·V",
        "step.output.text": "每一行是 V 各行的加权平均:这个字在高维空间里的新位置。",
        "expand.title": "第 ({row}, {col}) 个数:",
        "contrast.title": "1/√d_k 改变了什么",
        "contrast.text": "文章省略了 1/√d_k。加上它(这里是 {scale})以后,相似度变小,权重变得平缓:",
        "contrast.after": "不缩放时,点积随 d_k 增大,softmax 趋近 one-hot:一个键几乎拿走全部权重,其"
        "他键的梯度几乎为零。除以 √d_k 让随机向量的相似度保持在 1 左右的尺度。",
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
        "doc.heads": "{heads} 个头,d_k 为每个头的维度",
        "doc.additive": "加性相似度(Bahdanau)",
        "mask.lengths": "填充:查询 i 只看前 n_i 个键(n = {lengths})",
        "head.title": "{title} · 第 {head} 个头",
        "head.again": "和第 1 个头一样,用第 {head} 个头的列。",
        "step.split.text": "第 {head} 个头取 {what} 的第 {span} 列:"
        "每个头在自己更小的空间里做注意力。",
        "step.split.one": "第 {head} 个头取 {what} 的第 {span} 列:"
        "每个头在自己更小的空间里做注意力。",
        "step.concat.title": "拼接各个头",
        "step.concat.text": "把 {heads} 个头的输出逐行并排拼起来:每个字又是一个向量。",
        "step.wo.title": "输出投影 W_O",
        "step.wo.text": "学出来的矩阵,把各个头找到的东西混合起来。",
        "step.attended.title": "注意力结果 A·V",
        "step.attended.text": "每一行是 V 各行的加权平均;接下来乘 W_O。",
        "step.projected.title": "输出 O(经过 W_O)",
        "step.projected.text": "每一行乘以 W_O:各个头的结果混合成输出。",
        "step.wa_q.title": "加性权重 W_a^q",
        "step.wa_k.title": "加性权重 W_a^k",
        "step.wa.text": "把 {what} 的每一行映射到加性相似度的隐藏空间(默认:单位矩阵)。",
        "step.va.title": "加性向量 v_a",
        "step.va.text": "把隐藏单元加权合成一个相似度(默认:全为 1)。",
        "step.qa.title": "隐藏空间里的查询 Q·W_a^q",
        "step.qa.text": "每个查询映射到隐藏空间。",
        "step.ka.title": "隐藏空间里的键 K·W_a^k",
        "step.ka.text": "每个键映射到隐藏空间。",
        "step.additive.title": "加性相似度 S = v_aᵀ tanh(W_a^q q + W_a^k k)",
        "step.additive.text": "第 (i, j) 个数:把查询 i 和键 j 的隐藏向量相加,每个数取 tanh,用 v_a "
        "加权再相加(Bahdanau)。查询和键的长度可以不同。",
        "lengths.note": "有效长度 {lengths}:超出查询长度的键是填充(d2l 的 valid_lens),"
        "记为 -∞,权重为 0。",
        "model.title": "{model} 内部:第 {layer} 层,第 {head} 个头,手算",
        "model.verified": "和模型的注意力相差 {error}",
        "model.source.title": "这些数从哪里来",
        "model.source.text": "X 是第 {layer} 层的注意力拿到的输入:{x}。第 {head} 个头(共 "
        "{heads} 个)取这一层 W_Q、W_K、W_V 及其偏置的第 {span} 列(d_head = {d})。每个数都是"
        "模型自己的(float32),按 float64 计算。",
        "model.tokens": "词",
        "model.x.bert1": "词向量(词 + 位置 + 句子)经过 LayerNorm 之后",
        "model.x.bert": "第 {prev} 层的输出,它以 LayerNorm 结束(BERT 在每次残差相加之后归一化:"
        "post-LN)",
        "model.x.pre1": "词向量和位置向量之和,经过 {norm} 归一化(模型在注意力之前归一化:pre-LN)",
        "model.x.pre": "残差流(词向量加上{before}加上的东西),经过 {norm} 归一化(模型在"
        "注意力之前归一化:pre-LN)",
        "model.before.one": "第 1 层",
        "model.before.many": "第 1–{prev} 层",
        "model.nopad": "只有一段文字,没有填充:每个查询都看得见每个键。",
        "model.causal": "解码器:每个字只看得见自己和前面的字(因果掩码;后面的键记为 −∞)。",
        "model.gqa": "键和值由几个头共用(分组查询注意力):第 {head} 个头读第 {group} 个键值头"
        "(共 {kv} 个)。",
        "model.query.hint": "--query I(序号或词)把一个查询的那一行逐项写出来。",
        "model.columns": "显示第 {shown} 列(共 {total} 列);--columns A-B(或 all)显示其他列,"
        "--format json 或 html 显示全部。",
        "model.rows": "显示第 {shown} 行(共 {total} 行,即 X 的各列);--columns A-B(或 all)"
        "显示其他行,--format json 或 html 显示全部。",
        "model.expand.long": "第 ({row}, {col}) 个数,{n} 个乘积加偏置:",
        "model.key": "键",
        "model.q.products.title": "查询 {token}:q·k,一项一项乘",
        "model.q.products.text": "第 t 行:查询的第 t 个数 q[t],以及它和每个键的第 t 个数 k[t] "
        "的乘积;一列的和(Σ)就是这个键的相似度 s,和神经元视图一样。",
        "model.q.running.title": "查询 {token}:逐项累加",
        "model.q.running.text": "第 t 行:每个键前 t 个乘积之和;最后一行就是相似度。",
        "model.q.softmax.title": "查询 {token}:softmax,一项一项算",
        "model.q.softmax.text": "每个相似度乘以 {scale},减去最大的(m = {m}),取 e^(s − m);"
        "每个权重 a 等于它这一项除以所有项之和 Σ = {total}。",
        "model.q.output.title": "查询 {token}:输出,一个数一个数算",
        "model.q.output.text": "第 t 行:每个键的权重乘以它的值的第 t 个数(a·v);它们的和 o[t] "
        "就是这个查询的输出。",
        "model.next.text": "{heads} 个头的输出并排拼起来(第 {head} 个头是 {width} 列中的第 "
        "{span} 列),再乘以 W_O({width} × {d_model}){bias}。第 {head} 个头的那一份是它的"
        "输出乘以 W_O 的第 {span} 行。然后{after}。",
        "model.bo": ",再加上所有头共用的偏置 b_O",
        "model.after.post": "各个头的那一份加起来,加到 X 上(残差),再归一化(LayerNorm)",
        "model.after.pre": "各个头的那一份加起来,加到残差流上;下一个 LayerNorm 在前馈层之前",
        "model.wo.title": "接下来去哪里:W_O 的第 {span} 行",
        "model.share.title": "第 {head} 个头在这一层输出里的那一份",
        "model.share.text": "第 {head} 个头的输出乘以它在 W_O 里的那几行:这个头给注意力输出加上"
        "的东西,其他头的那一份之后再加。",
        "model.check.title": "和模型本身对照",
        "model.check.text": "qkv 用模型的数按 float64 重新算了这个头。权重和模型自己的"
        "(output_attentions)相差 {weights};输出和用钩子从模型里取出的这个头的输出(W_O 收到的)"
        "相差 {output};用 {heads} 个头经过 W_O 重新算出的这一层输出相差 {projection}。"
        "float32 的舍入误差允许 {wl}、{ol} 和 {pl};超过就是错误。",
        "additive.note": "tanh 不是有理函数,所以这些相似度(以及之后的结果)是浮点数,由上面精确的 "
        "Q·W_a^q 和 K·W_a^k 算出。",
    },
}

t = Catalog(MESSAGES)
