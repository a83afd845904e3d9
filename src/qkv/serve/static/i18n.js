// The page's words in English and Chinese (the computed texts come from the server in the
// language asked for).
const WORDS = {
  en: {
    "tab.trace": "Hand calculation", "tab.scale": "Why √d_k", "tab.gpt": "Next token",
    "tab.model": "A real model", "tab.check": "Check an article", "lang.other": "中文",
    "trace.intro": "Change any number: every step is recomputed exactly. Click a cell to see its arithmetic and where it came from.",
    "preset": "Preset", "preset.custom": "my own", "mode.self": "self-attention (X)", "mode.cross": "cross-attention (Q, K, V)",
    "proj": "projections W_Q, W_K, W_V", "tokens": "tokens", "key_tokens": "key tokens",
    "add.token": "+ token", "del.token": "− token", "add.dim": "+ dimension", "del.dim": "− dimension",
    "add.key": "+ key", "del.key": "− key", "add.dk": "+ d_k", "del.dk": "− d_k", "add.dv": "+ d_v", "del.dv": "− d_v",
    "scale": "scale", "scale.preset": "as the preset", "scale.none": "none (1)", "scale.sqrt": "1/√d_k", "scale.number": "number",
    "mask": "mask", "mask.none": "none", "mask.causal": "causal", "mask.window": "window", "mask.grid": "my own (click cells)",
    "window": "keys on each side", "mask.hint": "1 = may attend; click to toggle",
    "download": "download", "arith.hint": "click a cell to see how it is computed",
    "scale.intro": "Random queries and keys with d_k numbers each (standard normal), 16 keys, 400 queries, measured with and without the 1/√d_k.",
    "scale.dk": "d_k", "scale.col.what": "", "scale.col.without": "without 1/√d_k", "scale.col.with": "with 1/√d_k",
    "scale.std": "spread of the scores (standard deviation)", "scale.top": "largest weight of a row (mean)",
    "scale.sat": "rows with one weight above 0.99", "scale.grad": "gradient that reaches the scores (‖diag(a) − a·aᵀ‖, mean)",
    "scale.note": "Unscaled, q·k spreads like √d_k = {root}: the softmax picks one key and the gradient through it fades. Scaled, the spread stays near 1 at every d_k.",
    "gpt.intro": "A tiny GPT trained on the project's own sentences (about 50,000 characters): after 吃 come foods, never 砖头.",
    "gpt.prompt": "prompt", "gpt.temperature": "temperature", "gpt.topk": "top-k", "gpt.all": "all", "gpt.greedy": "0 = greedy",
    "gpt.candidates": "compare words", "gpt.next": "next character", "gpt.prob": "probability",
    "gpt.words": "P(word | prompt), the model's own distribution (temperature 1)",
    "gpt.loading": "loading the tiny GPT…", "gpt.training": "training the tiny GPT on first use: step {step} of {steps}, loss {loss}",
    "gpt.ready": "tiny GPT: {layers} layers × {heads} heads, {width} wide, context {context}, {vocabulary} characters",
    "gpt.failed": "the tiny GPT is not available: {error}", "gpt.maps": "attention of every layer and head for the prompt",
    "view.model": "model view", "view.head": "head view",
    "model.intro": "all-MiniLM-L6-v2 (6 layers × 12 heads), offline. The first request loads it (some seconds).",
    "model.text": "sentence", "model.show": "show attention", "model.loading": "computing…",
    "check.intro": "Paste an article (Markdown, a notebook, an HTML page) or drop a file: every hand-computed number is recomputed.",
    "check.run": "check", "check.file": "or choose a file", "check.drop": "drop a file here",
    "check.summary": "{checked} numbers checked, {wrong} wrong", "check.none": "nothing could be checked in this text",
    "check.written": "written {claimed}, true value {expected}", "check.line": "line {line}",
    "check.follows": "follows from a mistake above", "check.unreadable": "this text cannot be read: {error}",
  },
  zh: {
    "tab.trace": "手算注意力", "tab.scale": "为什么除以 √d_k", "tab.gpt": "预测下一个字",
    "tab.model": "真实模型", "tab.check": "检查文章", "lang.other": "English",
    "trace.intro": "改任何一个数,每一步都会精确地重新计算。点一个格子,看它是怎么算出来的、来自哪里。",
    "preset": "例子", "preset.custom": "自己的", "mode.self": "自注意力(X)", "mode.cross": "交叉注意力(Q、K、V)",
    "proj": "投影矩阵 W_Q、W_K、W_V", "tokens": "词", "key_tokens": "键的词",
    "add.token": "+ 词", "del.token": "− 词", "add.dim": "+ 维", "del.dim": "− 维",
    "add.key": "+ 键", "del.key": "− 键", "add.dk": "+ d_k", "del.dk": "− d_k", "add.dv": "+ d_v", "del.dv": "− d_v",
    "scale": "缩放", "scale.preset": "按例子", "scale.none": "不缩放(1)", "scale.sqrt": "1/√d_k", "scale.number": "数",
    "mask": "遮挡", "mask.none": "无", "mask.causal": "因果", "mask.window": "窗口", "mask.grid": "自己点(点格子)",
    "window": "每边的键数", "mask.hint": "1 = 可以看;点一下切换",
    "download": "下载", "arith.hint": "点一个格子,看它的算式",
    "scale.intro": "随机的查询和键,每个 d_k 个数(标准正态分布),16 个键,400 个查询;分别测量不缩放和乘以 1/√d_k 的结果。",
    "scale.dk": "d_k", "scale.col.what": "", "scale.col.without": "不缩放", "scale.col.with": "乘以 1/√d_k",
    "scale.std": "得分的离散程度(标准差)", "scale.top": "每行最大的权重(平均)",
    "scale.sat": "有一个权重超过 0.99 的行", "scale.grad": "传到得分的梯度(‖diag(a) − a·aᵀ‖,平均)",
    "scale.note": "不缩放时,q·k 的离散程度约为 √d_k = {root}:softmax 只选一个键,经过它的梯度几乎消失。缩放后,任何 d_k 下离散程度都在 1 左右。",
    "gpt.intro": "一个很小的 GPT,用项目自己生成的句子训练(约五万字):“吃”后面是食物,从来不是“砖头”。",
    "gpt.prompt": "开头", "gpt.temperature": "温度", "gpt.topk": "top-k", "gpt.all": "全部", "gpt.greedy": "0 = 只取最大",
    "gpt.candidates": "比较词语", "gpt.next": "下一个字", "gpt.prob": "概率",
    "gpt.words": "P(词 | 开头),模型自己的分布(温度 1)",
    "gpt.loading": "正在加载小 GPT……", "gpt.training": "第一次使用,正在训练小 GPT:第 {step} / {steps} 步,损失 {loss}",
    "gpt.ready": "小 GPT:{layers} 层 × {heads} 个头,宽 {width},上下文 {context},{vocabulary} 个字",
    "gpt.failed": "小 GPT 不可用:{error}", "gpt.maps": "这个开头在每一层、每个头的注意力",
    "view.model": "模型视图", "view.head": "注意力头视图",
    "model.intro": "all-MiniLM-L6-v2(6 层 × 12 个头),离线。第一次请求要加载模型(几秒钟)。它的词表缺少大部分汉字,请用英文句子。",
    "model.text": "句子", "model.show": "显示注意力", "model.loading": "计算中……",
    "check.intro": "粘贴一篇文章(Markdown、notebook、HTML 网页)或拖进一个文件:每个手算的数都会重新计算。",
    "check.run": "检查", "check.file": "或选择文件", "check.drop": "把文件拖到这里",
    "check.summary": "检查了 {checked} 个数,{wrong} 个错误", "check.none": "这段文字里没有可以检查的数",
    "check.written": "写的是 {claimed},正确值 {expected}", "check.line": "第 {line} 行",
    "check.follows": "由上面的错误导致", "check.unreadable": "无法读取:{error}",
  },
};

export function words(lang) {
  const table = WORDS[lang] || WORDS.en;
  return (key, vars = {}) => (table[key] ?? WORDS.en[key] ?? key).replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

export function defaultLang() {
  return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}
