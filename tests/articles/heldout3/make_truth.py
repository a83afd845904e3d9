#!/usr/bin/env python3
"""Generator for corpus3: hand-worked attention articles and their truth files.

numpy (float64) + standard library only.  Run `python3 make_truth.py` in this
folder: it writes every article, every <name>.truth.json and README.md, and
verifies that each claimed string stands on the line its truth file names
(1-based; raw JSON lines for .ipynb, source lines for .html).

How it works.  Each article is built from "leaves" (the given inputs: X, W,
Q/K/V ...) and derived matrices created with Art.op(f, inputs, ...).  For every
derived number the framework keeps
  * exact  : f applied to the exact values (float64, from the leaves),
  * honest : f applied to the numbers as printed in the article before it,
  * author : what the imagined author printed (honest, unless a planted slip
             or a different, wrong computation is given),
  * clean  : what the author would have printed without any planted slip.
Each printed number is then classified with the judging rules of corpus2's
README ("How each printed number is judged"):
  right    |printed - exact| <= 0.48 ulp
  carried  wrong vs exact (>= 0.55 ulp), follows from printed inputs that are
           themselves right / carried
  cons     wrong vs exact, follows from printed inputs, depends on a wrong
           input, and >= 0.6 ulp away from the result with the wrong inputs
           corrected (checked for several readings of "corrected")
  root     does not follow from the printed inputs even with every printed
           derived input moved half an ulp (linearised), with a wide margin
Anything that falls between these bands raises BuildError, so no number in the
corpus sits near a rounding boundary or is ambiguous.
"""
import json
import math
import os
import re
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MARK = '\u27e6{}\u27e7'
MARK_RE = re.compile('\u27e6(\\d+)\u27e7')
TOK_RE = re.compile(r'-?inf|-?\d+\.?\d*(?:[eE][+-]?\d+)?')


class BuildError(Exception):
    pass


def softmax(S, axis=-1):
    S = np.asarray(S, float)
    m = np.max(S, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(S - m)
    return e / e.sum(axis=axis, keepdims=True)


def causal_mask(n):
    return np.triu(np.ones((n, n), bool), 1)


def masked(S, mask):
    S = np.array(S, float)
    return np.where(mask, -np.inf, S)


def tok_info(t):
    """(own ulp, decimals, is_sci) of a printed token"""
    t = t.strip()
    m = re.fullmatch(r'-?(\d+)(?:\.(\d*))?(?:[eE]([+-]?\d+))?', t)
    if not m:
        raise BuildError('cannot parse token %r' % t)
    dec = len(m.group(2) or '')
    ex = int(m.group(3) or 0)
    return 10.0 ** (ex - dec), dec, m.group(3) is not None


def fix_negzero(s):
    if s.startswith('-') and re.fullmatch(r'-0\.?0*', s.split('e')[0]):
        raise BuildError('negative zero printed: %r' % s)
    return s


def strip_zeros(s):
    if '.' in s and 'e' not in s.lower():
        s = s.rstrip('0').rstrip('.')
    return s


class M:
    """a printed (or printable) array of numbers"""

    def __init__(self, art, exact, val, clean, text, eid, style, dec, A, leaf):
        self.art = art
        self.exact = exact
        self.val = val
        self.clean = clean
        self.text = text
        self.eid = eid
        self.style = style
        self.dec = dec
        self.A = A          # author's unrounded values (layout for numpy prints)
        self.leaf = leaf
        self.shape = exact.shape

    # --- single cells -------------------------------------------------
    def c(self, *idx, show=None):
        """text of one entry, with a marker if it is a derived number"""
        idx = tuple(idx)
        t = self.text[idx]
        if show is not None and t.strip() == '-inf':
            t = show
        e = self.eid[idx]
        if e >= 0:
            return self.art.mark(e) + t
        return t

    def row(self, i, open='[', close=']', sep=', ', show=None):
        return open + sep.join(self.c(i, j, show=show) for j in range(self.shape[1])) + close

    def vec(self, open='[', close=']', sep=', ', show=None):
        return open + sep.join(self.c(j, show=show) for j in range(self.shape[0])) + close


class Art:
    def __init__(self, name, lang, kind, desc, notes=''):
        self.name = name
        self.lang = lang
        self.kind = kind
        self.desc = desc
        self.notes = notes
        self.E = []        # derived entries
        self.occ = []      # marker occurrence -> eid
        self.deps = []     # (eid, [input eids]) for chain ops

    # ------------------------------------------------------------ leaves
    def leaf(self, values, dec=0, style='fixed', texts=None):
        A = np.array(values, float)
        if texts is None:
            texts = self.format(A, style, dec)
        else:
            texts = np.array(texts, dtype=object).reshape(A.shape)
        ex = np.asarray(np.vectorize(float, otypes=[float])(texts), float).reshape(A.shape)
        if not np.allclose(ex[np.isfinite(ex)], A[np.isfinite(A)], atol=0, rtol=0):
            raise BuildError('leaf text does not equal value in %s' % self.name)
        eid = np.full(A.shape, -1, int)
        return M(self, ex.copy(), ex.copy(), ex.copy(), texts, eid, style, dec, A, True)

    # ------------------------------------------------------------ format
    def format(self, A, style, dec, upper=False):
        A = np.asarray(A, float)
        out = np.empty(A.shape, dtype=object)
        if style in ('np', 'npraw'):
            s = np.array2string(A, precision=dec, suppress_small=(style == 'np'),
                                max_line_width=100000, threshold=100000)
            toks = TOK_RE.findall(s)
            if len(toks) != A.size:
                raise BuildError('numpy tokens: %d vs %d' % (len(toks), A.size))
            for k, idx in enumerate(np.ndindex(A.shape)):
                out[idx] = toks[k]
            return out
        if style == 'pd':
            # pandas: per column, as many decimals as needed (<= dec), at least 1
            B = np.atleast_2d(A)
            o2 = np.empty(B.shape, dtype=object)
            for j in range(B.shape[1]):
                col = [strip_zeros('%.*f' % (dec, x)) for x in B[:, j]]
                d = max([1] + [len(t.split('.')[1]) if '.' in t else 0 for t in col])
                for i in range(B.shape[0]):
                    o2[i, j] = fix_negzero('%.*f' % (d, B[i, j]))
            return o2.reshape(A.shape)
        for idx in np.ndindex(A.shape):
            x = A[idx]
            if x == -np.inf:
                out[idx] = '-inf'
                continue
            if style == 'fixed':
                t = '%.*f' % (dec, x)
            elif style == 'tint':
                t = '%.0f.' % x
            elif style == 'py':
                t = repr(float(round(float(x), dec)))
            elif style == 'strip':
                t = strip_zeros('%.*f' % (dec, x))
            elif style == 'sci':
                t = '%.*e' % (dec, x)
            elif style == 'SCI':
                t = '%.*E' % (dec, x)
            else:
                raise BuildError('style ' + style)
            out[idx] = fix_negzero(t)
        return out

    # ---------------------------------------------------------------- op
    def op(self, f, ins, dec=2, style='fixed', author=None, mode='chain', over=None,
           what=None, allow_root_chain=False):
        ins = list(ins)
        ex_in = [m.exact for m in ins]
        pv_in = [m.val for m in ins]
        cl_in = [m.clean for m in ins]
        E = np.asarray(f(*ex_in), float)
        H = np.asarray(f(*pv_in), float)
        if mode == 'chain':
            A = np.asarray((author or f)(*pv_in), float)
            C = np.asarray(f(*cl_in), float)
        elif mode == 'exact':
            A = np.asarray((author or f)(*ex_in), float)
            C = E.copy()
        elif mode == 'internal':
            # code computing from its own unrounded (possibly wrong) internal values
            A = np.asarray((author or f)(*[m.A for m in ins]), float)
            C = E.copy()
        else:
            raise BuildError(mode)
        texts = self.format(A, style, dec)
        ctexts = self.format(C, style, dec)
        whats = {}
        for idx, tw in (over or {}).items():
            idx = idx if isinstance(idx, tuple) else (idx,)
            if len(idx) != A.ndim:
                idx = tuple(idx)
            t, w = tw
            texts[idx] = t
            whats[idx] = w
        val = np.asarray(np.vectorize(float, otypes=[float])(texts), float).reshape(A.shape)
        clean = np.asarray(np.vectorize(float, otypes=[float])(ctexts), float).reshape(A.shape)
        # judged ulp (most decimals of the matrix for stripped styles) and own ulp
        own = np.zeros(A.shape)
        judged = np.zeros(A.shape)
        maxdec = 0
        for idx in np.ndindex(A.shape):
            if texts[idx].strip().endswith('inf'):
                continue
            u, d, sci = tok_info(texts[idx])
            own[idx] = u
            if not sci:
                maxdec = max(maxdec, d)
        for idx in np.ndindex(A.shape):
            if texts[idx].strip().endswith('inf'):
                continue
            u, d, sci = tok_info(texts[idx])
            judged[idx] = u if sci else 10.0 ** (-maxdec)

        # Jacobian of f at the printed inputs
        Js = []
        for k, m in enumerate(ins):
            Jk = np.zeros(E.shape + m.val.shape)
            for idx in np.ndindex(m.val.shape):
                x = m.val[idx]
                if not np.isfinite(x):
                    continue
                h = 1e-6 * max(1.0, abs(x))
                v1 = [p.copy() for p in pv_in]
                v2 = [p.copy() for p in pv_in]
                v1[k][idx] = x + h
                v2[k][idx] = x - h
                with np.errstate(invalid='ignore'):
                    d = (np.asarray(f(*v1), float) - np.asarray(f(*v2), float)) / (2 * h)
                d = np.where(np.isfinite(d), d, 0.0)
                Jk[(Ellipsis,) + idx] = d
            Js.append(Jk)

        # corrected inputs (wrong entries replaced by clean / exact / true)
        corr_sets = []
        for mode_c in ('clean', 'exact', 'true'):
            vs = []
            for m in ins:
                v = m.val.copy()
                for idx in np.ndindex(m.shape):
                    e = m.eid[idx]
                    if e >= 0 and self.E[e]['kind'] in ('root', 'cons'):
                        if mode_c == 'clean':
                            v[idx] = m.clean[idx]
                        elif mode_c == 'exact':
                            v[idx] = m.exact[idx]
                        else:
                            v[idx] = self.E[e]['true']
                vs.append(v)
            corr_sets.append(np.asarray(f(*vs), float))

        eid = np.full(A.shape, -1, int)
        for idx in np.ndindex(A.shape):
            e = E[idx]
            t = texts[idx]
            if not np.isfinite(e):
                if t.strip() != '-inf':
                    raise BuildError('%s: masked entry printed as %r' % (self.name, t))
                continue
            p = val[idx]
            # dependencies
            r_j = 0.0
            deps = []
            wrong = set()
            for k, m in enumerate(ins):
                Jk = Js[k][idx]
                for jdx in np.ndindex(m.shape):
                    g = Jk[jdx]
                    if abs(g) <= 1e-9:
                        continue
                    ie = m.eid[jdx]
                    if ie >= 0:
                        deps.append(int(ie))
                        ent = self.E[ie]
                        r_j += abs(g) * 0.5 * ent['ulp']
                        if ent['kind'] in ('root', 'cons'):
                            wrong |= ent['roots']
            kinds = []
            for u in sorted({judged[idx], own[idx]}):
                kinds.append(self.classify(p, e, u, H[idx], r_j, bool(wrong),
                                           [c[idx] for c in corr_sets], idx, t))
            if len(set(kinds)) != 1:
                raise BuildError('%s: %r classified %s depending on precision' % (self.name, t, kinds))
            kind = kinds[0]
            ent = dict(kind=kind, text=t, exact=float(e), honest=float(H[idx]),
                       ulp=float(judged[idx]), occ=[], deps=deps)
            if kind == 'root':
                if wrong and not allow_root_chain:
                    raise BuildError('%s: root %r depends on wrong inputs' % (self.name, t))
                ent['true'] = float(H[idx])
                w = whats.get(idx, what)
                if callable(w):
                    w = w(idx)
                if not w:
                    raise BuildError('%s: root %r without description' % (self.name, t))
                ent['what'] = w
                ent['roots'] = {len(self.E)} | (wrong if allow_root_chain else set())
            elif kind == 'cons':
                ent['true'] = float(e)
                ent['roots'] = set(wrong)
            else:
                ent['true'] = float(e)
                ent['roots'] = set()
                if idx in whats:
                    raise BuildError('%s: override %r at %s is not a mistake (%s)' % (self.name, t, idx, kind))
            if mode == 'chain':
                self.deps.append((len(self.E), deps))
            eid[idx] = len(self.E)
            self.E.append(ent)
        return M(self, E, val, clean, texts, eid, style, dec, A, False)

    def classify(self, p, e, u, h, r, wrong, corr, idx, t):
        de = abs(p - e) / u
        if de <= 0.48:
            return 'right'
        if de < 0.55:
            raise BuildError('%s: %r at %s is %.3f ulp from exact %.6g (boundary)' % (self.name, t, idx, de, e))
        dh = abs(p - h) / u
        if dh <= 0.5 or abs(p - h) <= 0.5 * u + 0.8 * r:
            if not wrong:
                return 'carried'
            for c in corr:
                if abs(p - c) / u < 0.6:
                    raise BuildError('%s: consequence %r at %s only %.3f ulp from corrected %.6g'
                                     % (self.name, t, idx, abs(p - c) / u, c))
            return 'cons'
        if (abs(p - h) - r) / u >= 0.85:
            return 'root'
        raise BuildError('%s: %r at %s ambiguous: %.3f ulp from honest %.6g, r=%.3f ulp'
                         % (self.name, t, idx, dh, h, r / u))

    # -------------------------------------------------------------- marks
    def mark(self, eid):
        self.occ.append(eid)
        return MARK.format(len(self.occ) - 1)

    # ------------------------------------------------------------ finish
    def finish(self, raw, ext, expect, exit_code=None):
        """raw: file text with markers.  Returns (clean text, truth dict, stats)"""
        lines = raw.split('\n')
        occ_pos = {}
        out = []
        for ln, line in enumerate(lines, 1):
            pieces = []
            pos = 0
            cur = ''
            for m in MARK_RE.finditer(line):
                cur += line[pos:m.start()]
                occ_pos[int(m.group(1))] = (ln, len(cur))
                pos = m.end()
            cur += line[pos:]
            out.append(cur)
        text = '\n'.join(out)
        if len(occ_pos) != len(self.occ):
            raise BuildError('%s: %d markers in text, %d made' % (self.name, len(occ_pos), len(self.occ)))
        per_e = {}
        for o, e in enumerate(self.occ):
            ln, col = occ_pos[o]
            t = self.E[e]['text']
            if not out[ln - 1][col:].startswith(t.strip()):
                raise BuildError('%s: claimed %r not at line %d col %d' % (self.name, t, ln, col))
            per_e.setdefault(e, []).append(ln)
        # a non-right number must be printed exactly once
        line_of = {}
        for e, ent in enumerate(self.E):
            if ent['kind'] in ('root', 'cons', 'carried'):
                n = len(per_e.get(e, []))
                if n > 1:
                    raise BuildError('%s: wrong/carried %r printed %d times' % (self.name, ent['text'], n))
                if n == 1:
                    line_of[e] = per_e[e][0]
        # chain inputs must have been printed (or be exact)
        for e, deps in self.deps:
            if e not in per_e:
                continue
            for d in deps:
                if d not in per_e and self.E[d]['text'] is not None:
                    ent = self.E[d]
                    if abs(float(ent['text']) - ent['exact']) > 0:
                        raise BuildError('%s: %r computed from unprinted rounded %r'
                                         % (self.name, self.E[e]['text'], ent['text']))
        roots, cons, carried = [], [], []
        for e, ent in enumerate(self.E):
            if e not in per_e:
                if ent['kind'] in ('root', 'cons'):
                    # an unprinted wrong number must not feed a printed one
                    raise BuildError('%s: unprinted %s %r' % (self.name, ent['kind'], ent['text']))
                continue
            if ent['kind'] == 'root':
                roots.append(dict(line=line_of[e], claimed=ent['text'].strip(),
                                  true=round(ent['true'], 6), what=ent['what']))
            elif ent['kind'] == 'cons':
                ff = sorted({line_of[r] for r in ent['roots']})
                cons.append(dict(line=line_of[e], claimed=ent['text'].strip(),
                                 true=round(ent['true'], 6), follows_from=ff))
            elif ent['kind'] == 'carried':
                carried.append(dict(line=line_of[e], claimed=ent['text'].strip()))
        for L in (roots, cons, carried):
            L.sort(key=lambda d: d['line'])
        judged = len(self.occ)
        if exit_code is None:
            exit_code = 3 if judged == 0 else (1 if (roots or cons) else 0)
        got = (len(roots), len(cons), len(carried))
        if expect is not None and tuple(expect) != got:
            raise BuildError('%s: expected roots/cons/carried %s, got %s' % (self.name, expect, got))
        truth = dict(exit=exit_code, roots=roots, consequences=cons,
                     right_carried=carried, notes=self.notes)
        return text, truth, dict(judged=judged, roots=len(roots), cons=len(cons),
                                 carried=len(carried), exit=exit_code)


# ======================================================================
# renderers
# ======================================================================

def gfm(m, rows=None, cols=None, corner='', lead=True, align='---', show=None, rowsel=None):
    """GitHub-flavoured Markdown table of a 2-D M (or list of row label/M pairs)"""
    n, k = m.shape
    lines = []
    def mk(cells):
        s = ' | '.join(cells)
        return ('| ' + s + ' |') if lead else s
    if cols is not None:
        head = ([corner] if rows is not None else []) + list(cols)
        lines.append(mk(head))
        lines.append(mk([align] * len(head)))
    for i in (rowsel if rowsel is not None else range(n)):
        cells = ([rows[i]] if rows is not None else []) + [m.c(i, j, show=show) for j in range(k)]
        lines.append(mk(cells))
    return lines


def latex(m, env='bmatrix', show='-\\infty', tail=' \\\\', one_line=False, colspec=None):
    """LaTeX matrix, one row per line (or a single line)"""
    if m.art and len(m.shape) == 1:
        rows_ = [' & '.join(m.c(j, show=show) for j in range(m.shape[0]))]
    else:
        rows_ = [' & '.join(m.c(i, j, show=show) for j in range(m.shape[1])) for i in range(m.shape[0])]
    if env == 'array':
        begin = '\\left[\\begin{array}{%s}' % (colspec or 'c' * (m.shape[-1]))
        end = '\\end{array}\\right]'
    else:
        begin = '\\begin{%s}' % env
        end = '\\end{%s}' % env
    if one_line:
        return begin + ' ' + ' \\\\ '.join(rows_) + ' ' + end
    out = [begin]
    for i, r in enumerate(rows_):
        out.append(r + (tail if i < len(rows_) - 1 else ''))
    out.append(end)
    return out


def np_print(m, repr_=False, sep=None):
    """numpy print()/repr layout of an M made with style np/npraw"""
    st = m.style if m.style in ('np', 'npraw') else 'np'
    if repr_:
        s = np.array2string(m.A, precision=m.dec, suppress_small=(st == 'np'), separator=', ',
                            prefix='array(', max_line_width=75, threshold=100000)
        s = 'array(' + s + ')'
    else:
        s = np.array2string(m.A, precision=m.dec, suppress_small=(st == 'np'),
                            separator=sep or ' ', max_line_width=75, threshold=100000)
    toks = list(TOK_RE.finditer(s))
    if len(toks) != m.A.size:
        raise BuildError('np_print token count')
    out = []
    pos = 0
    for k, idx in enumerate(np.ndindex(m.A.shape)):
        t = toks[k]
        out.append(s[pos:t.start()])
        if t.group(0) != m.text[idx]:
            # planted slip: keep the layout width
            pass
        out.append(m.c(*idx))
        pos = t.end()
    out.append(s[pos:])
    return ''.join(out)


def torch_print(m, grad_fn=None, name='tensor', extra=None):
    """torch tensor layout; m texts should be 'fixed' 4 decimals or 'sci'"""
    shape = m.shape
    w = max(len(t) for t in m.text.flat)
    def cell(idx):
        t = m.text[idx]
        return ' ' * (w - len(t)) + m.c(*idx)
    nd = len(shape)
    base = len(name) + 1
    def rec(prefix, depth):
        ind = ' ' * (base + depth + 1)
        if depth == nd - 1:
            return '[' + ', '.join(cell(prefix + (j,)) for j in range(shape[depth])) + ']'
        parts = [rec(prefix + (i,), depth + 1) for i in range(shape[depth])]
        sep = ',\n' + ('\n' if nd - depth > 2 else '') + ind
        return '[' + sep.join(parts) + ']'
    s = name + '(' + rec((), 0)
    tail = []
    if extra:
        tail.append(extra)
    if grad_fn:
        tail.append('grad_fn=<%s>' % grad_fn)
    if tail:
        s += ', ' + ', '.join(tail)
    return s + ')'


def pd_print(m, index, columns):
    """pandas DataFrame text of a 2-D M made with style 'pd' (or fixed)"""
    n, k = m.shape
    iw = max(len(str(x)) for x in index)
    widths = []
    for j in range(k):
        widths.append(max([len(str(columns[j]))] + [len(m.text[i, j]) for i in range(n)]))
    head = ' ' * iw + ''.join('  ' + str(columns[j]).rjust(widths[j]) for j in range(k))
    lines = [head]
    for i in range(n):
        s = str(index[i]).ljust(iw)
        for j in range(k):
            t = m.text[i, j]
            s += '  ' + ' ' * (widths[j] - len(t)) + m.c(i, j)
        lines.append(s)
    return lines


def aligned(m, labels=None, width=8, lw=None, show=None, rowsel=None, head=None):
    """whitespace-aligned rows"""
    n, k = m.shape
    lw = lw or (max(len(x) for x in labels) + 2 if labels else 0)
    lines = []
    if head is not None:
        lines.append(' ' * lw + ''.join(h.rjust(width) for h in head))
    for i in (rowsel if rowsel is not None else range(n)):
        s = (labels[i].ljust(lw) if labels else '')
        for j in range(k):
            t = m.text[i, j] if show is None or m.text[i, j] != '-inf' else show
            s += ' ' * (width - len(t)) + m.c(i, j, show=show)
        lines.append(s)
    return lines


def pylit(m, indent='', multiline=True, show=None):
    """Python nested-list literal of an M, outer level one item per line"""
    nd = len(m.shape)
    def rec(prefix):
        d = len(prefix)
        if d == nd - 1:
            return '[' + ', '.join(m.c(*(prefix + (j,)), show=show) for j in range(m.shape[d])) + ']'
        return '[' + ', '.join(rec(prefix + (i,)) for i in range(m.shape[d])) + ']'
    if nd == 1 or not multiline:
        return rec(())
    parts = [rec((i,)) for i in range(m.shape[0])]
    return '[' + (',\n' + indent + ' ').join(parts) + ']'


def html_escape(s):
    return s.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')


def html_table(m, rows=None, cols=None, corner='', show=None, indent='  '):
    n, k = m.shape
    out = [indent + '<table>']
    if cols is not None:
        hc = ([corner] if rows is not None else []) + list(cols)
        out.append(indent + '  <thead><tr>' + ''.join('<th>%s</th>' % h for h in hc) + '</tr></thead>')
    out.append(indent + '  <tbody>')
    for i in range(n):
        cells = ''.join('<td>%s</td>' % m.c(i, j, show=show) for j in range(k))
        lab = ('<th>%s</th>' % rows[i]) if rows is not None else ''
        out.append(indent + '    <tr>' + lab + cells + '</tr>')
    out.append(indent + '  </tbody>')
    out.append(indent + '</table>')
    return out


# ======================================================================
# notebooks
# ======================================================================

def split_lines(text):
    ls = text.split('\n')
    return [l + '\n' for l in ls[:-1]] + ([ls[-1]] if ls[-1] else [])


def md_cell(text):
    return {'cell_type': 'markdown', 'metadata': {}, 'source': split_lines(text)}


def code_cell(src, count, outputs=()):
    outs = []
    for kind, text in outputs:
        if kind == 'stream':
            outs.append({'name': 'stdout', 'output_type': 'stream', 'text': split_lines(text)})
        elif kind == 'result':
            outs.append({'data': {'text/plain': split_lines(text)}, 'execution_count': count,
                         'metadata': {}, 'output_type': 'execute_result'})
        else:
            raise BuildError(kind)
    return {'cell_type': 'code', 'execution_count': count, 'metadata': {},
            'outputs': outs, 'source': split_lines(src)}


def notebook(cells, colab=False, kaggle=False, lang='en'):
    meta = {'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'},
            'language_info': {'codemirror_mode': {'name': 'ipython', 'version': 3},
                              'file_extension': '.py', 'mimetype': 'text/x-python',
                              'name': 'python', 'nbconvert_exporter': 'python',
                              'pygments_lexer': 'ipython3', 'version': '3.10.12'}}
    if colab:
        meta['colab'] = {'provenance': [], 'toc_visible': True}
        meta['accelerator'] = 'GPU'
    if kaggle:
        meta['kaggle'] = {'accelerator': 'none', 'dataSources': [], 'isGpuEnabled': False,
                          'isInternetEnabled': True, 'language': 'python', 'sourceType': 'notebook'}
    nb = {'cells': cells, 'metadata': meta, 'nbformat': 4, 'nbformat_minor': 5}
    for i, c in enumerate(nb['cells']):
        c['id'] = '%08x' % (0x3a7c0000 + i * 7919)
        # nbformat 4.5: id goes first for readability
        nb['cells'][i] = dict([('id', c.pop('id'))] + list(c.items()))
    return json.dumps(nb, indent=1, ensure_ascii=False) + '\n'


ARTICLES = []


def article(fn):
    ARTICLES.append(fn)
    return fn


# ARTICLES_START

SUB = '₀₁₂₃₄₅₆₇₈₉'


def par(t):
    return '(%s)' % t if t.startswith('-') else t


def sub(i):
    return ''.join(SUB[int(c)] for c in str(i))


# ----------------------------------------------------------------------
@article
def zh01():
    a = Art('zh01_zhihu_kv_cache_decode', 'zh', 'correct, carried',
            '知乎专栏:KV Cache 解码一步,单个查询对 4 个缓存键,逐项写出点积、e^x、求和与加权,缩放 1/√4,三位小数逐步带入',
            notes='Single query q (d_k=4) against 4 cached keys; scores written as q·k_i = ... = s; '
                  'scaled by 1/sqrt(4)=0.5; e^x to 3 decimals, their sum and the weights are computed '
                  'from the rounded printed values (sum 13.825 vs exact 13.826 is carried), output from 3-decimal weights '
                  '(all three output components are carried).')
    q = a.leaf([1, 0, 2, 1])
    K = a.leaf([[0, 1, 0, 0], [0, 1, 1, 0], [1, 1, 0, 1], [2, 0, 1, 0]])
    V = a.leaf([[1, 0, 2], [0, 2, 1], [1, 1, 0], [2, 0, 1]])
    s = a.op(lambda q, K: K @ q, [q, K], dec=0)
    sc = a.op(lambda s: s / 2, [s], dec=1)
    ex = a.op(np.exp, [sc], dec=3)
    tot = a.op(lambda e: e.sum(), [ex], dec=3)
    w = a.op(lambda e, t: e / t, [ex, tot], dec=3)
    o = a.op(lambda w, V: w @ V, [w, V], dec=3)
    assert abs(sum(float(t) for t in w.text) - 1.0) < 1e-9
    assert float(w.text[3]) > 0.5
    L = []
    L += ['# 手撕 KV Cache:解码时的一步注意力到底算了什么',
          '',
          '> 本文首发于知乎专栏「大模型推理那些事」,转载请注明出处。',
          '',
          '很多同学看 vLLM、TensorRT-LLM 的源码时卡在 KV Cache 这一步:为什么解码阶段每次只算一个 query?'
          '为什么 K、V 可以缓存而 Q 不用?这篇用一个能手算的小例子把它讲透。',
          '',
          '## 1. 场景',
          '',
          '假设模型已经生成了 3 个 token,现在要生成第 4 个。第 4 个位置的隐藏状态经过投影后得到它自己的 $q$、$k$、$v$。'
          '$k$、$v$ 追加进缓存,于是缓存里一共有 4 个键、4 个值;而 $q$ 只用这一次,算完就扔,所以不用缓存。',
          '',
          '为了好算,取 $d_k = 4$,所有数都取小整数:',
          '',
          '```text',
          'q  = ' + q.vec(),
          '',
          'K_cache (每行一个位置):',
          ]
    for i in range(4):
        L.append('  k%d = %s' % (i + 1, K.row(i)))
    L += ['', 'V_cache:']
    for i in range(4):
        L.append('  v%d = %s' % (i + 1, V.row(i)))
    L += ['```', '',
          '## 2. 打分:一个 query 对所有缓存的 key 做点积', '']
    for i in range(4):
        terms = ' + '.join('%s×%s' % (q.c(j), K.c(i, j)) for j in range(4))
        L.append('- $q\\cdot k_%d$ = %s = %s' % (i + 1, terms, s.c(i)))
    L += ['',
          '注意这里只有一行打分,而不是预填充(prefill)阶段的 $n\\times n$ 矩阵——这就是解码阶段省算力的地方。',
          '',
          '## 3. 缩放',
          '',
          '$\\sqrt{d_k}=\\sqrt{4}=2$,每个分数除以 2:',
          '',
          '$$\\tilde s = (%s)$$' % ', '.join(sc.c(i) for i in range(4)),
          '',
          '## 4. softmax',
          '',
          '先求指数(保留三位小数):',
          '']
    for i in range(4):
        L.append('- $e^{%s} = %s$' % (sc.text[i], ex.c(i)))
    L += ['',
          '求和:$\\sum = %s = %s$' % (' + '.join(ex.text[i] for i in range(4)), tot.c()),
          '',
          '再逐个相除:',
          '']
    for i in range(4):
        L.append('- $\\alpha_%d = e^{%s} / \\sum = %s$' % (i + 1, sc.text[i], w.c(i)))
    L += ['',
          '四个权重加起来正好是 1.000。第 4 个位置的 key 和 query 最像,拿走了一半以上的注意力。',
          '',
          '## 5. 加权求和得到输出',
          '',
          '$$o = \\sum_i \\alpha_i v_i = %s$$' % ' + '.join('%s\\,v_%d' % (w.text[i], i + 1) for i in range(4)),
          '',
          '按分量算:',
          '',
          '```text',
          'o = ' + o.vec(),
          '```',
          '',
          '## 6. 小结',
          '',
          '- 解码时每一步只有 1 个 query,打分是 $1\\times n$ 的一行,复杂度从 $O(n^2)$ 降到 $O(n)$;',
          '- K、V 每一步都要被后续所有 query 反复使用,所以值得缓存;',
          '- Q 只在当前步使用一次,缓存它没有意义。',
          '',
          '下一篇讲 PagedAttention 是怎么管理这些缓存块的,欢迎关注。',
          '',
          '*编辑于 2024-03-18 · 著作权归作者所有*',
          '']
    return dict(art=a, ext='.md', raw='\n'.join(L), expect=(0, 0, None))


# ----------------------------------------------------------------------
@article
def en02():
    a = Art('en02_medium_cross_attention_bmatrix', 'en', 'correct',
            'Medium post: cross-attention by hand, decoder queries Y·W_Q against encoder keys/values H·W_K, H·W_V, $$bmatrix$$, scaled by 1/sqrt(2), 3-decimal weights',
            notes='Cross-attention: 2 decoder states Y, 3 encoder states H, projections to d_k=2; scores scaled by 1/sqrt(2); '
                  'all rounded numbers are rounded from full precision (spreadsheet), nothing carried.')
    Y = a.leaf([[1, 0, 1], [0, 2, 1]])
    H = a.leaf([[1, 1, 0], [0, 1, 2], [2, 0, 1]])
    WQ = a.leaf([[1, 0], [0, 1], [1, 1]])
    WK = a.leaf([[0, 1], [1, 0], [1, 1]])
    WV = a.leaf([[1, 0], [0, 1], [1, 2]])
    Q = a.op(lambda y, w: y @ w, [Y, WQ], dec=0)
    K = a.op(lambda h, w: h @ w, [H, WK], dec=0)
    V = a.op(lambda h, w: h @ w, [H, WV], dec=0)
    S = a.op(lambda q, k: q @ k.T, [Q, K], dec=0)
    Ss = a.op(lambda q, k: q @ k.T / np.sqrt(2), [Q, K], dec=3, mode='exact')
    W = a.op(lambda q, k: softmax(q @ k.T / np.sqrt(2)), [Q, K], dec=3, mode='exact')
    Z = a.op(lambda q, k, v: softmax(q @ k.T / np.sqrt(2)) @ v, [Q, K, V], dec=3, mode='exact')
    L = ['# Cross-Attention, Finally Explained With Numbers You Can Check',
         '',
         '*Priya Raman · 9 min read · Follow*',
         '',
         '![Photo by Jason Leung on Unsplash](https://miro.medium.com/v2/resize:fit:1400/0*placeholder.jpg)',
         '',
         'Self-attention gets all the love. But if you have ever trained a translation model, a speech recognizer or '
         'a text-to-image diffusion model, the layer that actually connects the two halves of the network is '
         '**cross-attention**. In this post we compute one cross-attention layer completely by hand, with numbers small '
         'enough that you can check every step on paper.',
         '',
         '## The setup',
         '',
         'We translate the French sentence *"le chat dort"* into English. The encoder has already turned the three '
         'source tokens into vectors (rows of $H$). The decoder has produced two target tokens so far, `<s>` and '
         '"the" (rows of $Y$).',
         '',
         '$$',
         'H = ']
    L += latex(H)
    L += [r'\qquad Y = ']
    L += latex(Y)
    L += ['$$',
          '',
          'The difference from self-attention is only **where** the three projections come from:',
          '',
          '- queries come from the decoder: $Q = Y W_Q$',
          '- keys and values come from the encoder: $K = H W_K$, $V = H W_V$',
          '',
          'Our (made-up, not trained) weight matrices:',
          '',
          '$$', r'W_Q = ']
    L += latex(WQ)
    L += [r'\quad W_K = ']
    L += latex(WK)
    L += [r'\quad W_V = ']
    L += latex(WV)
    L += ['$$', '',
          '## Step 1: project', '',
          '$$', 'Q = YW_Q = ']
    L += latex(Q)
    L += [r'\qquad K = HW_K = ']
    L += latex(K)
    L += [r'\qquad V = HW_V = ']
    L += latex(V)
    L += ['$$', '',
          'Notice the shapes: $Q$ is $2\\times 2$ (two decoder positions), while $K$ and $V$ are $3\\times 2$ '
          '(three encoder positions). The attention matrix will therefore be $2\\times 3$ — not square!',
          '',
          '## Step 2: scores', '',
          '$$', 'QK^\\top = ']
    L += latex(S)
    L += ['$$', '',
          'Row $i$ tells us how much decoder position $i$ "likes" each source word.', '',
          '## Step 3: scale and softmax', '',
          'With $d_k = 2$ we divide by $\\sqrt{2}\\approx 1.414$. I did the rest in a spreadsheet and rounded only '
          'for display:',
          '',
          '$$', '\\frac{QK^\\top}{\\sqrt{2}} = ']
    L += latex(Ss)
    L += ['$$', '', '$$', 'A = \\operatorname{softmax}\\!\\left(\\frac{QK^\\top}{\\sqrt{2}}\\right) = ']
    L += latex(W)
    L += ['$$', '',
          'When the decoder is at `<s>` (first row), it puts almost all of its attention on the second source word, '
          '"chat". At "the" (second row) the attention spreads over "chat" and "dort".', '',
          '## Step 4: mix the values', '',
          '$$', 'Z = AV = ']
    L += latex(Z)
    L += ['$$', '',
          'Each row of $Z$ is a blend of the encoder value vectors, and it is what the decoder adds to its residual '
          'stream before predicting the next English word.', '',
          '## Takeaways', '',
          '1. Cross-attention is the same formula as self-attention; only the inputs of $W_K$ and $W_V$ change.',
          '2. The attention matrix is $n_{\\text{target}}\\times n_{\\text{source}}$.',
          '3. The encoder keys and values are computed once per source sentence and reused at every decoding step.',
          '',
          '*If this helped, give it a clap and follow for the next post on multi-query attention.*',
          '']
    assert W.text[0, 1] > W.text[0, 0] and W.text[0, 1] > W.text[0, 2]
    assert float(W.text[1, 2]) > 0.5
    return dict(art=a, ext='.md', raw='\n'.join(L), expect=(0, 0, 0))


# ----------------------------------------------------------------------
@article
def zh03():
    a = Art('zh03_csdn_torch_linear_causal', 'zh', 'correct, carried',
            'CSDN 博客:nn.Linear 的 (out,in) 权重布局 x·Wᵀ,因果掩码 -inf,tensor(..., grad_fn=...) 输出,再按打印的 4 位小数手算第 3 行',
            notes='PyTorch outputs with grad_fn, nn.Linear weights of shape (out, in) so q = x @ W.T; causal mask '
                  'with -inf; scaled by 1/sqrt(2). The hand check of row 3 uses the printed 4-decimal scaled scores '
                  'and printed exponentials.')
    x = a.leaf([[1.0, 0.5, 0.0, 2.0], [0.0, 1.0, 1.5, 0.5], [2.0, 0.0, 1.0, 1.0]], dec=1)
    Wq = a.leaf([[0.5, 0.0, 1.0, 0.5], [0.0, 1.0, -0.5, 0.5]], dec=1)
    Wk = a.leaf([[1.0, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 1.0]], dec=1)
    Wv = a.leaf([[1.0, 0.0, 0.0, 1.0], [0.0, 0.5, 1.0, 0.0]], dec=1)
    T4 = dict(dec=4, mode='exact')
    q = a.op(lambda x, w: x @ w.T, [x, Wq], **T4)
    k = a.op(lambda x, w: x @ w.T, [x, Wk], **T4)
    v = a.op(lambda x, w: x @ w.T, [x, Wv], **T4)
    sc = a.op(lambda q, k: q @ k.T / np.sqrt(2), [q, k], **T4)
    msk = causal_mask(3)
    scm = a.op(lambda q, k: masked(q @ k.T / np.sqrt(2), msk), [q, k], **T4)
    att = a.op(lambda q, k: softmax(masked(q @ k.T / np.sqrt(2), msk)), [q, k], **T4)
    out = a.op(lambda q, k, v: softmax(masked(q @ k.T / np.sqrt(2), msk)) @ v, [q, k, v], **T4)
    # hand check of row 3 from printed scaled scores
    ex3 = a.op(lambda s: np.exp(s[2] - s[2].max()), [scm], dec=4)
    sm3 = a.op(lambda e: e.sum(), [ex3], dec=4)
    w3 = a.op(lambda e, t: e / t, [ex3, sm3], dec=4)
    L = ['# 【PyTorch】从 nn.Linear 的权重布局说起:手把手实现带因果掩码的自注意力(附完整输出)',
         '',
         '![在这里插入图片描述](https://img-blog.csdnimg.cn/direct/attn_cover.png)',
         '',
         '版权声明:本文为博主原创文章,遵循 CC 4.0 BY-SA 版权协议,转载请附上原文出处链接和本声明。',
         '',
         '**文章目录**',
         '- 一、为什么是 x @ W.T',
         '- 二、准备数据',
         '- 三、完整代码与输出',
         '- 四、手算验证第 3 行',
         '- 五、踩坑总结',
         '',
         '## 一、为什么是 x @ W.T',
         '',
         '很多教程里写 $Q = XW^Q$,其中 $W^Q$ 的形状是 $(d_{model}, d_k)$。但 PyTorch 的 `nn.Linear(in_features, out_features)` '
         '把权重存成 **(out_features, in_features)**,前向计算是 `y = x @ weight.T + bias`。所以自己手动设置权重时,'
         '每一**行**对应一个输出维度,千万别按教程的 $W^Q$ 直接抄进去,否则结果是错的(维度碰巧相等时还不报错!)。',
         '',
         '## 二、准备数据',
         '',
         '3 个 token,每个 4 维;$d_k = d_v = 2$,不加 bias,方便手算。',
         '',
         '## 三、完整代码与输出',
         '',
         '```python',
         'import math',
         'import torch',
         'import torch.nn as nn',
         'import torch.nn.functional as F',
         '',
         'x = torch.tensor([' + x.row(0) + ',',
         '                  ' + x.row(1) + ',',
         '                  ' + x.row(2) + '])',
         '',
         'W_q = nn.Linear(4, 2, bias=False)',
         'W_k = nn.Linear(4, 2, bias=False)',
         'W_v = nn.Linear(4, 2, bias=False)',
         'with torch.no_grad():',
         '    # 形状 (out, in) = (2, 4)',
         '    W_q.weight.copy_(torch.tensor([' + Wq.row(0) + ', ' + Wq.row(1) + ']))',
         '    W_k.weight.copy_(torch.tensor([' + Wk.row(0) + ', ' + Wk.row(1) + ']))',
         '    W_v.weight.copy_(torch.tensor([' + Wv.row(0) + ', ' + Wv.row(1) + ']))',
         '',
         'q, k, v = W_q(x), W_k(x), W_v(x)   # 等价于 x @ W.T',
         'print(q); print(k); print(v)',
         '```',
         '',
         '输出:',
         '',
         '```',
         torch_print(q, 'MmBackward0'),
         torch_print(k, 'MmBackward0'),
         torch_print(v, 'MmBackward0'),
         '```',
         '',
         '接着算打分并缩放($\\sqrt{d_k}=\\sqrt{2}$):',
         '',
         '```python',
         'd_k = q.size(-1)',
         'scores = q @ k.T / math.sqrt(d_k)',
         'print(scores)',
         '```',
         '',
         '```',
         torch_print(sc, 'DivBackward0'),
         '```',
         '',
         '因果掩码:第 $i$ 个位置只能看见 $j\\le i$ 的位置,上三角填 `-inf`:',
         '',
         '```python',
         'mask = torch.triu(torch.ones(3, 3, dtype=torch.bool), diagonal=1)',
         'scores = scores.masked_fill(mask, float("-inf"))',
         'print(scores)',
         'attn = F.softmax(scores, dim=-1)',
         'print(attn)',
         'out = attn @ v',
         'print(out)',
         '```',
         '',
         '```',
         torch_print(scm, 'MaskedFillBackward0'),
         torch_print(att, 'SoftmaxBackward0'),
         torch_print(out, 'MmBackward0'),
         '```',
         '',
         '可以看到第 1 行只能看到自己,权重是 1;上三角全是 0。',
         '',
         '## 四、手算验证第 3 行',
         '',
         '第 3 行三个分数都没被遮住,拿上面打印出的 4 位小数来算。先减去最大值 %s 防止溢出:' % scm.text[2, 2],
         '',
         '| | $j=1$ | $j=2$ | $j=3$ |',
         '|---|---|---|---|',
         '| $e^{s_{3j}-s_{33}}$ | %s | %s | %s |' % (ex3.c(0), ex3.c(1), ex3.c(2)),
         '',
         '求和:%s,于是' % sm3.c(),
         '',
         '$$\\alpha_{3\\cdot} = (%s,\\ %s,\\ %s)$$' % (w3.c(0), w3.c(1), w3.c(2)),
         '',
         '和 `attn` 的第 3 行一致(最后一位可能差 1,这是用四舍五入后的分数算的缘故)。',
         '',
         '## 五、踩坑总结',
         '',
         '1. `nn.Linear` 的权重是 (out, in),手动赋值时按行写输出维度;',
         '2. `masked_fill` 用 `-inf` 而不是 0,否则 softmax 之后被遮住的位置还有权重;',
         '3. 缩放用 `math.sqrt(d_k)`,不是 `d_k`。',
         '',
         '觉得有用的话点个赞、收藏一下吧~',
         '']
    return dict(art=a, ext='.md', raw='\n'.join(L), expect=(0, 0, None))


# ----------------------------------------------------------------------
@article
def en04():
    a = Art('en04_colab_gqa_numpy', 'en', 'correct',
            'Colab notebook: grouped-query attention (4 query heads, 2 KV heads), causal mask, numpy 3-D prints with -inf, then a markdown hand check of one head',
            notes='GQA: Q has 4 heads, K/V have 2 heads repeated with np.repeat (query heads 0,1 -> kv head 0; 2,3 -> kv head 1); '
                  'scaled by 1/sqrt(2), causal mask -inf; numpy print precision=4, suppress=True. '
                  'Markdown cell checks head 3 (index 2), query 3 from the printed scores.')
    Qv = [[[1.0, 0.0], [0.5, 1.0], [1.0, 1.0]],
          [[0.0, 1.0], [1.0, -0.5], [2.0, 0.0]],
          [[1.0, 2.0], [0.0, 1.0], [1.5, 1.0]],
          [[-1.0, 1.0], [1.0, 1.0], [0.5, 0.0]]]
    Kv = [[[1.0, 1.0], [0.0, 2.0], [1.0, -1.0]],
          [[0.5, 0.5], [2.0, 0.0], [1.0, 1.5]]]
    Vv = [[[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]],
          [[0.0, 3.0], [1.0, 1.0], [2.0, 0.0]]]
    Q = a.leaf(Qv, dec=1)
    K = a.leaf(Kv, dec=1)
    V = a.leaf(Vv, dec=1)
    msk = causal_mask(3)
    def scores(q, k):
        kr = np.repeat(k, 2, axis=0)
        return masked(q @ kr.transpose(0, 2, 1) / np.sqrt(2), msk)
    S = a.op(scores, [Q, K], dec=4, style='np', mode='exact')
    W = a.op(lambda q, k: softmax(scores(q, k)), [Q, K], dec=4, style='np', mode='exact')
    O = a.op(lambda q, k, v: softmax(scores(q, k)) @ np.repeat(v, 2, axis=0), [Q, K, V], dec=4, style='np', mode='exact')
    # hand check head index 2, query 3
    ex = a.op(lambda s: np.exp(s[2, 2]), [S], dec=3)
    tot = a.op(lambda e: e.sum(), [ex], dec=3)
    w = a.op(lambda e, t: e / t, [ex, tot], dec=3)
    o = a.op(lambda w, v: w @ v[1], [w, V], dec=3)
    cells = []
    cells.append(md_cell('# Grouped-Query Attention from scratch (numpy)\n'
                         '\n'
                         'Llama 2 70B, Mistral and most recent open models use **grouped-query attention** (GQA): several query heads '
                         'share one key/value head, which shrinks the KV cache. This notebook builds a tiny GQA layer so you can see '
                         'exactly which query head reads which key/value head.\n'
                         '\n'
                         '* 4 query heads, 2 KV heads → group size 2\n'
                         '* sequence length 3, head dim 2\n'
                         '* causal mask\n'
                         '\n'
                         '<a href="https://colab.research.google.com/"><img src="https://colab.research.google.com/assets/colab-badge.svg"/></a>'))
    cells.append(code_cell('import numpy as np\nnp.set_printoptions(precision=4, suppress=True)\n\n'
                           'n_q_heads, n_kv_heads, T, d = 4, 2, 3, 2\ngroup = n_q_heads // n_kv_heads', 1))
    cells.append(md_cell('We skip the projections and write the per-head tensors directly (shape `(heads, T, d)`).'))
    cells.append(code_cell('Q = np.array(' + pylit(Q, ' ' * 13) + ')\n'
                           'K = np.array(' + pylit(K, ' ' * 13) + ')\n'
                           'V = np.array(' + pylit(V, ' ' * 13) + ')\n'
                           'print(Q.shape, K.shape, V.shape)', 2,
                           [('stream', '(4, 3, 2) (2, 3, 2) (2, 3, 2)\n')]))
    cells.append(md_cell('`np.repeat` along the head axis gives KV heads `[0, 0, 1, 1]`, i.e. query heads 0 and 1 read KV head 0, '
                         'query heads 2 and 3 read KV head 1.'))
    cells.append(code_cell('K_rep = np.repeat(K, group, axis=0)\nV_rep = np.repeat(V, group, axis=0)\n\n'
                           'scores = Q @ K_rep.transpose(0, 2, 1) / np.sqrt(d)\n'
                           'mask = np.triu(np.ones((T, T), dtype=bool), k=1)\n'
                           'scores = np.where(mask, -np.inf, scores)\n'
                           'print(scores)', 3, [('stream', np_print(S) + '\n')]))
    cells.append(code_cell('def softmax(x):\n    x = x - x.max(axis=-1, keepdims=True)\n    e = np.exp(x)\n'
                           '    return e / e.sum(axis=-1, keepdims=True)\n\nweights = softmax(scores)\nweights', 4,
                           [('result', np_print(W, repr_=True))]))
    cells.append(code_cell('out = weights @ V_rep\nout', 5, [('result', np_print(O, repr_=True))]))
    cells.append(md_cell('### Checking one entry by hand\n'
                         '\n'
                         'Take query head 2 (the third one, index 2) at position 3. It reads KV head 1, and nothing is masked in the last row. '
                         'Its scaled scores are %s, %s and %s (third row of the third block above). Exponentiating:\n'
                         '\n'
                         '$$e^{%s} = %s,\\quad e^{%s} = %s,\\quad e^{%s} = %s$$\n'
                         '\n'
                         'Sum: $%s$. Weights:\n'
                         '\n'
                         '$$(%s,\\ %s,\\ %s)$$\n'
                         '\n'
                         'and the output is $%s\\cdot(0, 3) + %s\\cdot(1, 1) + %s\\cdot(2, 0) = (%s,\\ %s)$, '
                         'which agrees with `out[2, 2]` up to the last digit (the tiny difference comes from rounding the exponentials to three decimals).'
                         % (S.text[2, 2, 0], S.text[2, 2, 1], S.text[2, 2, 2],
                            S.text[2, 2, 0], ex.c(0), S.text[2, 2, 1], ex.c(1), S.text[2, 2, 2], ex.c(2),
                            tot.c(), w.c(0), w.c(1), w.c(2), w.text[0], w.text[1], w.text[2], o.c(0), o.c(1))))
    cells.append(md_cell('Because heads 2 and 3 share the same keys, their attention patterns differ only through their queries. '
                         'With 2 KV heads instead of 4, the KV cache is half the size.'))
    assert all(abs(float(o.text[j]) - O.exact[2, 2, j]) < 0.0025 for j in range(2))
    raw = notebook(cells, colab=True)
    return dict(art=a, ext='.ipynb', raw=raw, expect=(0, 0, None))


# ----------------------------------------------------------------------
@article
def zh05(XA=((0, 1), (3, 1), (1, 0)), XB=((1, 2), (0, 1), (0, 0))):
    a = Art('zh05_cnblogs_padding_mask', 'zh', 'correct, carried',
            '博客园学习笔记(纯文本):batch=2,第二句末尾 [PAD],key padding mask,Q=K=V=X,√2≈1.41 后逐步用两位小数带入,空白对齐的矩阵',
            notes='Two sentences, the second padded; Q=K=V=X; scores divided by the printed 1.41 (not sqrt(2)); '
                  'scaled scores, weights and outputs are each computed from the previous printed 2-decimal numbers, so several '
                  'are carried roundings. The [PAD] column of sentence B is -inf; the [PAD] query row is printed too.')
    A_ = a.leaf(XA)
    B_ = a.leaf(XB)
    r2 = a.op(lambda: np.sqrt(2.0), [], dec=2)
    SA = a.op(lambda x: x @ x.T, [A_], dec=0)
    SB = a.op(lambda x: x @ x.T, [B_], dec=0)
    pad = np.array([[False, False, True]] * 3)
    CA = a.op(lambda s, r: s / r, [SA, r2], dec=2)
    CB = a.op(lambda s, r: masked(s / r, pad), [SB, r2], dec=2)
    WA = a.op(lambda c: softmax(c), [CA], dec=2)
    WB = a.op(lambda c: softmax(c), [CB], dec=2)
    OA = a.op(lambda w, x: w @ x, [WA, A_], dec=2)
    OB = a.op(lambda w, x: w @ x, [WB, B_], dec=2)
    ta = ['我', '爱', '猫']
    tb = ['猫', '跑', '[PAD]']
    L = ['Transformer 学习笔记(三):padding mask 到底 mask 了什么',
         '=' * 40,
         '',
         '发表于 2023-11-05 21:14  阅读(1532)  评论(6)  推荐(3)',
         '',
         '前两篇写了 self-attention 和 multi-head,评论区有园友问:一个 batch 里句子长短不一,补的 [PAD] 怎么处理?',
         '这篇就用一个两句话的小 batch 手算一遍。为了省事,不做线性映射,直接令 Q = K = V = X。',
         '',
         '一、数据',
         '',
         '  句子 A:我 爱 猫        (长度 3)',
         '  句子 B:猫 跑 [PAD]     (长度 2,补一个 PAD)',
         '',
         '  词向量(d = 2,PAD 的向量全 0):',
         '']
    for i in range(3):
        L.append('    A.%s = (%s, %s)' % (ta[i], A_.c(i, 0), A_.c(i, 1)))
    for i in range(3):
        L.append('    B.%s = (%s, %s)' % (tb[i], B_.c(i, 0), B_.c(i, 1)))
    L += ['',
          '  key padding mask(1 = 真实 token,0 = PAD):',
          '    A: [1, 1, 1]',
          '    B: [1, 1, 0]',
          '',
          '二、打分 S = X X^T',
          '',
          '  句子 A:']
    L += ['    ' + l for l in aligned(SA, ta, width=6, head=ta)]
    L += ['', '  句子 B:']
    L += ['    ' + l for l in aligned(SB, tb, width=6, head=tb)]
    L += ['',
          '三、缩放 + mask',
          '',
          '  d_k = 2,sqrt(2) ≈ %s。每个分数除以 %s,保留两位小数。' % (r2.c(), r2.text[()]),
          '  然后把 B 中 key = [PAD] 的那一列填成 -inf(注意是列,即 key 的方向;query 方向不 mask)。',
          '',
          '  句子 A:']
    L += ['    ' + l for l in aligned(CA, ta, width=7, head=ta)]
    L += ['', '  句子 B:']
    L += ['    ' + l for l in aligned(CB, tb, width=7, head=tb)]
    L += ['',
          '四、按行 softmax(用上面两位小数的结果算,再保留两位)',
          '',
          '  句子 A:']
    L += ['    ' + l for l in aligned(WA, ta, width=7, head=ta)]
    L += ['', '  句子 B:']
    L += ['    ' + l for l in aligned(WB, tb, width=7, head=tb)]
    L += ['',
          '  可以看到 B 的第三列全是 0:没有任何 token 会去关注 [PAD]。',
          '',
          '五、输出 = 权重 × V(V = X)',
          '',
          '  句子 A:']
    L += ['    ' + l for l in aligned(OA, ta, width=7)]
    L += ['', '  句子 B:']
    L += ['    ' + l for l in aligned(OB, tb, width=7)]
    L += ['',
          '  注意 [PAD] 这一行(query 是 PAD)照样算出了一个输出,它不是 0!这一行会在后面算 loss 时被 mask 掉,',
          '  所以一般不用管。很多人以为 padding mask 会让 PAD 的输出变成 0,其实不会。',
          '',
          '六、小结',
          '',
          '  1. padding mask 作用在 key 上,形状广播成 [batch, 1, 1, seq_len];',
          '  2. 被 mask 的位置填 -inf(或 -1e9),softmax 后权重为 0;',
          '  3. PAD 作为 query 的那一行输出没有意义,交给 loss mask 处理。',
          '',
          '分类: 深度学习 , NLP',
          '标签: Transformer, attention, mask',
          '']
    assert all(WB.text[i, 2] in ('0.00',) for i in range(3))
    return dict(art=a, ext='.txt', raw='\n'.join(L), expect=(0, 0, None))


# ----------------------------------------------------------------------
@article
def en06(Q=((0, 2), (-1, -1), (2, -1), (0, 1)), K=((0, -1), (2, -1), (-1, 1), (0, 1)),
         V=((3, 0), (2, 1), (1, 0), (0, 1))):
    a = Art('en06_lecture_scribe_causal_01mask', 'en', 'correct, carried',
            'lecture scribe notes (plain text): causal mask as a 0/1 matrix multiplied into exp(S), unscaled toy example, row sums and weights from printed 2-decimal exponentials',
            notes='Unscaled (the notes say so explicitly). E = exp(S) * M with a 0/1 lower-triangular mask; row sums, weights and '
                  'outputs are computed from the printed 2-decimal E, so some are carried roundings.')
    Qm = a.leaf(Q)
    Km = a.leaf(K)
    Vm = a.leaf(V)
    Mm = a.leaf(np.tril(np.ones((4, 4))))
    S = a.op(lambda q, k: q @ k.T, [Qm, Km], dec=0)
    E = a.op(lambda s, m: np.exp(s) * m, [S, Mm], dec=2)
    R = a.op(lambda e: e.sum(axis=1), [E], dec=2)
    A = a.op(lambda e, r: e / r[:, None], [E, R], dec=3)
    Z = a.op(lambda w, v: w @ v, [A, Vm], dec=2)
    lab = ['q%d' % (i + 1) for i in range(4)]
    kl = ['k%d' % (i + 1) for i in range(4)]
    L = ['CS 5824 / ECE 5424  Advanced Machine Learning                        Spring 2024',
         'Lecture 12: Masked (causal) self-attention',
         'Scribes: D. Okafor, L. Zhang                                   Instructor: Prof. H.',
         '-' * 82,
         '',
         '12.1 Why mask?',
         '',
         'In a decoder-only language model, token t must not see tokens t+1, t+2, ... during',
         'training, otherwise predicting the next token is trivial.  The standard trick is to',
         'set the forbidden scores to -infinity before the softmax.  In lecture we used an',
         'equivalent formulation that is easier to do by hand: exponentiate first, then',
         'multiply elementwise by a 0/1 mask M (M[i,j] = 1 iff j <= i), then renormalise:',
         '',
         '    A[i,j] = M[i,j] exp(S[i,j]) / sum_l M[i,l] exp(S[i,l])',
         '',
         'For this toy example we SKIP the 1/sqrt(d) scaling to keep the numbers round',
         '(d = 2 here; scaling is discussed in 12.3).',
         '',
         '12.2 Worked example (4 tokens, d = 2)',
         '',
         '  Q (rows q1..q4)      K (rows k1..k4)      V (rows v1..v4)']
    for i in range(4):
        L.append('    %3s %3s              %3s %3s              %3s %3s'
                 % (Qm.c(i, 0), Qm.c(i, 1), Km.c(i, 0), Km.c(i, 1), Vm.c(i, 0), Vm.c(i, 1)))
    L += ['',
          '  Step 1.  S = Q K^T',
          '']
    L += ['      ' + l for l in aligned(S, lab, width=6, head=kl)]
    L += ['',
          '  Step 2.  mask M (lower triangular, ones on the diagonal)',
          '']
    L += ['      ' + l for l in aligned(Mm, lab, width=6, head=kl)]
    L += ['',
          '  Step 3.  E = exp(S) * M   (elementwise; 2 decimals)',
          '']
    L += ['      ' + l for l in aligned(E, lab, width=8, head=kl)]
    L += ['',
          '  Step 4.  row sums of E (from the table above):',
          '',
          '      ' + '   '.join('%s: %s' % (lab[i], R.c(i)) for i in range(4)),
          '',
          '  Step 5.  A = E / rowsum   (3 decimals)',
          '']
    L += ['      ' + l for l in aligned(A, lab, width=8, head=kl)]
    L += ['',
          '  Each row sums to 1 up to rounding, and everything above the diagonal is exactly 0.',
          '  Note row 1: q1 can only attend to k1, so A[1,1] = 1 regardless of the score.',
          '',
          '  Step 6.  Z = A V   (2 decimals)',
          '']
    L += ['      ' + l for l in aligned(Z, ['z%d' % (i + 1) for i in range(4)], width=8)]
    L += ['',
          '  Sanity check: z1 = v1 exactly, because row 1 of A is (1, 0, 0, 0).',
          '',
          '12.3 Scaling (preview)',
          '',
          'With d = 512 the entries of S have variance ~d if q and k have unit-variance entries,',
          'which saturates the softmax.  Dividing by sqrt(d) restores unit variance.  We will redo',
          'the example above with scaling in the homework (HW4, problem 2).',
          '',
          'Exam note: you will be asked to do exactly this kind of 3x3 or 4x4 computation by hand.',
          '']
    return dict(art=a, ext='.txt', raw='\n'.join(L), expect=(0, 0, None))


# ----------------------------------------------------------------------
@article
def zh07(X=((1, 1, 2, 2), (0, 1, 0, 0), (1, 2, 2, 2)),
         WQ=((1, 1, 0, 1), (0, 1, 1, 0), (0, 1, 0, 1), (0, 0, 1, 0)),
         WK=((0, 1, 0, 1), (0, 1, 0, 1), (0, 0, 1, 1), (1, 1, 0, 0)),
         WV=((1, 0, 0, 0), (0, 0, 1, 0), (1, 0, 1, 1), (0, 1, 0, 1)),
         WO=((1, 1, 1, 1), (0, 0, 1, 0), (1, 0, 0, 1), (0, 0, 0, 1))):
    a = Art('zh07_juejin_two_heads', 'zh', 'correct, carried',
            '掘金:两头注意力手算,x₁ = (…) 逐个 token 给出,X·W 投影后按列切成两头,各自缩放 1/√2、softmax,拼接后乘 W^O;每步从打印的三位小数带入',
            notes='d_model=4, 2 heads of size 2 (head 1 = columns 1-2, head 2 = columns 3-4 of Q/K/V); scaled by 1/sqrt(2); '
                  'weights rounded from full precision; head outputs computed from the printed 3-decimal weights; '
                  'final output = concat(head1, head2) @ W_O computed from the printed head outputs.')
    Xm = a.leaf(X)
    Wq, Wk, Wv, Wo = a.leaf(WQ), a.leaf(WK), a.leaf(WV), a.leaf(WO)
    Q = a.op(lambda x, w: x @ w, [Xm, Wq], dec=0)
    K = a.op(lambda x, w: x @ w, [Xm, Wk], dec=0)
    V = a.op(lambda x, w: x @ w, [Xm, Wv], dec=0)
    heads = []
    for h in range(2):
        sl = slice(2 * h, 2 * h + 2)
        S = a.op(lambda q, k, sl=sl: q[:, sl] @ k[:, sl].T / np.sqrt(2), [Q, K], dec=3, mode='exact')
        Wt = a.op(lambda q, k, sl=sl: softmax(q[:, sl] @ k[:, sl].T / np.sqrt(2)), [Q, K], dec=3, mode='exact')
        O = a.op(lambda w, v, sl=sl: w @ v[:, sl], [Wt, V], dec=3)
        heads.append((S, Wt, O))
    F = a.op(lambda o1, o2, w: np.hstack([o1, o2]) @ w, [heads[0][2], heads[1][2], Wo], dec=3)
    tok = ['我', '喜欢', '你']
    L = ['# 多头注意力到底"多"在哪?两个头,一张纸,全部手算',
         '',
         '> 作者:小林不加班 · 2024-05-12 · 阅读 4.1k · 后端 / 人工智能 / 深度学习',
         '',
         '上一篇我们手算了单头自注意力,不少掘友留言说多头那部分还是懵:维度到底是怎么切的?拼接又是拼哪一维?'
         '这篇就用 $d_{model}=4$、2 个头、每个头 $d_k=2$ 的迷你例子完整走一遍。',
         '',
         '## 输入',
         '',
         '句子"我 喜欢 你",3 个 token 的向量:',
         '']
    for i in range(3):
        L.append('- $x%s$ = (%s)  「%s」' % (sub(i + 1), ', '.join(Xm.c(i, j) for j in range(4)), tok[i]))
    L += ['', '三个投影矩阵(4×4,一次性把两个头的参数都放在一起):', '']
    for name, W in (('W^Q', Wq), ('W^K', Wk), ('W^V', Wv)):
        L.append('$%s$:' % name)
        L.append('')
        L += gfm(W, cols=['c1', 'c2', 'c3', 'c4'])
        L.append('')
    L += ['## 第一步:投影', '', '$Q = XW^Q$,$K = XW^K$,$V = XW^V$:', '']
    cols = ['头1·d1', '头1·d2', '头2·d1', '头2·d2']
    for name, M_ in (('Q', Q), ('K', K), ('V', V)):
        L.append('**%s**' % name)
        L.append('')
        L += gfm(M_, rows=tok, cols=cols, corner='token')
        L.append('')
    L += ['关键点:**多头不是把 X 复制几份,而是把投影结果按列切开**。前两列归头 1,后两列归头 2。', '']
    for h, (S, Wt, O) in enumerate(heads):
        L += ['## 第%s步:头 %d' % ('二三'[h], h + 1), '',
              '打分除以 $\\sqrt{2}$(保留三位小数):', '']
        L += gfm(S, rows=tok, cols=tok, corner='')
        L += ['', 'softmax(用计算器按完整精度算,显示三位):', '']
        L += gfm(Wt, rows=tok, cols=tok, corner='')
        L += ['', '用上面三位小数的权重乘 $V$ 的对应两列,得到头 %d 的输出:' % (h + 1), '']
        for i in range(3):
            L.append('- $head_%d(x%s)$ = (%s, %s)' % (h + 1, sub(i + 1), O.c(i, 0), O.c(i, 1)))
        L.append('')
    L += ['## 第四步:拼接 + 输出投影', '',
          '把两个头的输出按最后一维拼起来,又回到 3×4,再乘输出矩阵 $W^O$:', '']
    L += gfm(Wo, cols=['c1', 'c2', 'c3', 'c4'])
    L += ['', '最终输出(三位小数,直接用上面打印的头输出计算):', '',
          '```',
          'MultiHead(X) =']
    for i in range(3):
        L.append('  ' + F.row(i))
    L += ['```', '',
          '## 小结', '',
          '1. 多头 = 投影后按列切分,每个头在自己的 $d_k$ 维子空间里独立做注意力;',
          '2. 每个头的注意力矩阵都是 $n\\times n$,头与头之间完全不共享权重;',
          '3. 拼接在特征维度上,最后的 $W^O$ 负责把各个头的信息混合起来。',
          '',
          '如果觉得有帮助,点个赞再走吧,下一篇写 RoPE 👋',
          '']
    return dict(art=a, ext='.md', raw='\n'.join(L), expect=(0, 0, None))


# ----------------------------------------------------------------------
@article
def en08(q=(2, 1, 2, 0), K=((1, 3, 0, 1), (0, 0, 1, 0), (1, 3, 3, 3), (3, 1, 3, 1), (3, 0, 2, 3)),
         V=((2, 2), (1, 2), (2, 2), (1, 0), (2, 1))):
    a = Art('en08_substack_why_scale_saved', 'en', 'correct',
            'saved Substack page (HTML, MathJax): one query against five keys, softmax with and without the 1/sqrt(d_k) scaling side by side in a <table>, smallest weight in scientific notation, output in <pre>',
            notes='Single query, d_k = 4, scale 1/2. Unscaled and scaled weights both rounded from full precision; '
                  'the smallest unscaled weight is quoted in scientific notation; output uses the scaled weights.')
    qm = a.leaf(q)
    Km = a.leaf(K)
    Vm = a.leaf(V)
    s = a.op(lambda q, k: k @ q, [qm, Km], dec=0)
    u = a.op(lambda q, k: softmax(k @ q), [qm, Km], dec=4, mode='exact')
    w = a.op(lambda q, k: softmax(k @ q / 2), [qm, Km], dec=4, mode='exact')
    umin = a.op(lambda q, k: softmax(k @ q).min(), [qm, Km], dec=1, style='sci', mode='exact')
    o = a.op(lambda q, k, v: softmax(k @ q / 2) @ v, [qm, Km, Vm], dec=3, mode='exact')
    top = int(np.argmax(s.exact))
    low = int(np.argmin(s.exact))
    rows = []
    for i in range(5):
        rows.append('      <tr><td>k<sub>%d</sub></td><td>(%s)</td><td>%s</td><td>%s</td><td>%s</td></tr>'
                    % (i + 1, ', '.join(Km.c(i, j) for j in range(4)), s.c(i), u.c(i), w.c(i)))
    L = ['<!DOCTYPE html>',
         '<html lang="en">',
         '<head>',
         '<meta charset="utf-8">',
         '<title>Why divide by the square root of d? - Tensors &amp; Tea</title>',
         '<meta name="viewport" content="width=device-width, initial-scale=1">',
         '<meta property="og:site_name" content="Tensors &amp; Tea">',
         '<link rel="stylesheet" href="https://substackcdn.com/bundle/theme/main.css">',
         '<script>window.MathJax = {tex: {inlineMath: [["\\\\(", "\\\\)"]]}};</script>',
         '<script id="MathJax-script" async src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>',
         '</head>',
         '<body>',
         '<div class="post-header">',
         '  <h1 class="post-title">Why divide by the square root of d?</h1>',
         '  <h3 class="subtitle">A five-key experiment you can redo on a napkin</h3>',
         '  <div class="byline">Marta Kowalczyk · Tensors &amp; Tea · Feb 2, 2024 · Paid subscribers get the notebook</div>',
         '</div>',
         '<div class="body markup">',
         '<p>Every explainer repeats the line from the paper: "we scale the dot products by \\(1/\\sqrt{d_k}\\)". '
         'Fewer show what happens to the actual numbers. Here is one query and five keys, with \\(d_k = 4\\), so the '
         'scale factor is \\(1/\\sqrt{4} = 1/2\\).</p>',
         '<p>The query is \\(q = (%s)\\). The keys and their dot products with \\(q\\):</p>' % ', '.join(qm.c(j) for j in range(4)),
         '<table class="markup-table">',
         '  <thead>',
         '    <tr><th>key</th><th>vector</th><th>\\(q\\cdot k_i\\)</th><th>\\(\\mathrm{softmax}(q\\cdot k)\\)</th><th>\\(\\mathrm{softmax}(q\\cdot k/2)\\)</th></tr>',
         '  </thead>',
         '  <tbody>'] + rows + [
         '  </tbody>',
         '</table>',
         '<p>Without scaling, key %d already takes %s of the mass and the smallest weight (key %d) is just %s. '
         'After dividing by 2 the distribution is visibly softer: key %d still wins, but with %s.</p>'
         % (top + 1, u.text[top], low + 1, umin.c(), top + 1, w.text[top]),
         '<p>Why does that matter? The gradient of softmax with respect to its inputs is '
         '\\(\\partial a_i/\\partial s_j = a_i(\\delta_{ij} - a_j)\\). When one weight is close to 1 and the others are '
         'close to 0, every entry of that Jacobian is close to 0 and learning stalls. With \\(d_k = 128\\) the unscaled '
         'dot products are typically 5-6 times larger than here, and the problem gets much worse.</p>',
         '<h3>The output</h3>',
         '<p>With the values below, the attention output is the weighted average using the <em>scaled</em> weights:</p>',
         '<pre><code>']
    for i in range(5):
        L.append('v%d = (%s, %s)' % (i + 1, Vm.c(i, 0), Vm.c(i, 1)))
    L += ['',
          'out = sum_i softmax(q.k/2)_i * v_i',
          '    = ' + o.vec('(', ')'),
          '</code></pre>',
          '<p>Try the unscaled weights yourself: the output is pulled almost all the way to \\(v_%d\\).</p>' % (top + 1),
          '<div class="subscription-widget"><p>Thanks for reading Tensors &amp; Tea! Subscribe for free to receive new posts.</p></div>',
          '<div class="footer">&copy; 2024 Marta Kowalczyk · Privacy · Terms · Collection notice</div>',
          '</div>',
          '</body>',
          '</html>',
          '']
    assert int(np.argmax(w.exact)) == top and np.sum(s.exact == s.exact[top]) == 1
    assert np.sum(s.exact == s.exact[low]) == 1
    assert float(u.text[top]) > 0.6
    return dict(art=a, ext='.html', raw='\n'.join(L), expect=(0, 0, 0))


# ----------------------------------------------------------------------
@article
def zh09(X=((2, 1, 2), (1, 2, 1), (0, 2, 1), (2, 2, 1))):
    a = Art('zh09_wechat_qkv_equal_x', 'zh', 'correct, carried',
            '微信公众号文章:"我爱北京"四个字,Q=K=V=X,√3≈1.73,GFM 表格带中文表头,每步用上一步的两位小数带入',
            notes='Q=K=V=X (4 tokens, d=3); the author divides by the printed 1.73 and then carries 2-decimal '
                  'scaled scores, weights and outputs, so several numbers are carried roundings.')
    Xm = a.leaf(X)
    r3 = a.op(lambda: np.sqrt(3.0), [], dec=2)
    S = a.op(lambda x: x @ x.T, [Xm], dec=0)
    C = a.op(lambda s, r: s / r, [S, r3], dec=2)
    W = a.op(softmax, [C], dec=2)
    O = a.op(lambda w, x: w @ x, [W, Xm], dec=2)
    t = ['我', '爱', '北', '京']
    L = ['# 5 分钟看懂自注意力:用"我爱北京"手算一遍',
         '',
         '原创 AI小课堂 · 2024年07月02日 08:30 · 浙江',
         '',
         '**点击上方蓝字,关注我们**',
         '',
         '---',
         '',
         '今天不讲公式推导,就拿四个字"我爱北京",把自注意力从头到尾算一遍。全程只用到乘法、加法和 e 的几次方,'
         '手机计算器就够了。',
         '',
         '### 01 每个字的向量',
         '',
         '为了简单,每个字用 3 维向量表示,并且**直接令 Q = K = V = X**(真实模型里它们是 X 分别乘三个矩阵得到的)。',
         '']
    L += gfm(Xm, rows=t, cols=['维度1', '维度2', '维度3'], corner='字')
    L += ['',
          '### 02 算相似度 XXᵀ',
          '',
          '每两个字做一次点积,比如"我"和"京":%s = %s。全部算出来:' % (' + '.join('%s×%s' % (Xm.text[0, j], Xm.text[3, j]) for j in range(3)), S.c(0, 3)),
          '']
    L += gfm(S, rows=t, cols=t, corner='')
    L += ['',
          '### 03 除以 √d',
          '',
          'd = 3,√3 ≈ %s。每个数除以 %s,保留两位小数:' % (r3.c(), r3.text[()]),
          '']
    L += gfm(C, rows=t, cols=t, corner='')
    L += ['',
          '### 04 softmax 变成权重',
          '',
          '每一行分别做 softmax(先求 e 的幂再除以这一行的和),保留两位小数:',
          '']
    L += gfm(W, rows=t, cols=t, corner='')
    L += ['',
          '每一行加起来都是 1(有时候是 0.99 或 1.01,四舍五入的锅)。',
          '',
          '### 05 加权求和',
          '',
          '用上表的权重对 V(也就是 X)加权求和,得到每个字新的表示:',
          '']
    L += gfm(O, rows=t, cols=['维度1', '维度2', '维度3'], corner='字')
    L += ['',
          '对比一下输入:"京"原来是 (%s),现在变成了 (%s),它"吸收"了一部分别的字的信息。这就是"上下文"的意思。'
          % (', '.join(Xm.text[3]), ', '.join(O.text[3])),
          '',
          '### 06 一句话总结',
          '',
          '> 自注意力 = 算相似度 → 缩放 → softmax 变权重 → 加权求和。',
          '',
          '---',
          '',
          'END',
          '',
          '往期推荐:',
          '- 一文读懂 Embedding',
          '- Transformer 的位置编码为什么用 sin/cos?',
          '',
          '觉得有用,点个**在看**吧 👇',
          '']
    rs = [sum(float(x) for x in W.text[i]) for i in range(4)]
    assert all(abs(r - 1) < 0.0151 for r in rs)
    return dict(art=a, ext='.md', raw='\n'.join(L), expect=(0, 0, None))


# ----------------------------------------------------------------------
@article
def en10(Q=((1.0, -1.0, 0.5), (0.5, 1.0, -1.0)), K=((-0.5, 0.5, 2.0), (0.5, 2.0, 0.0), (1.5, 2.0, -0.5)),
         V=((-1.0, 3.0), (2.0, 1.0), (-1.0, 0.0))):
    a = Art('en10_textbook_exercise_solution', 'en', 'correct',
            'textbook solutions manual: \\[ \\] with pmatrix, single named entries s_12 = ..., alpha_21 = ..., scaled by 1/sqrt(3), two queries against three keys',
            notes='Q is 2x3, K and V 3x3/3x2 given; scaled by 1/sqrt(3); all rounded values rounded from full precision '
                  '(4 decimals); single entries s_12 and alpha_21 quoted in the text.')
    Qm, Km, Vm = a.leaf(Q, dec=1), a.leaf(K, dec=1), a.leaf(V, dec=1)
    S = a.op(lambda q, k: q @ k.T, [Qm, Km], dec=2)
    C = a.op(lambda q, k: q @ k.T / np.sqrt(3), [Qm, Km], dec=4, mode='exact')
    A = a.op(lambda q, k: softmax(q @ k.T / np.sqrt(3)), [Qm, Km], dec=4, mode='exact')
    Z = a.op(lambda q, k, v: softmax(q @ k.T / np.sqrt(3)) @ v, [Qm, Km, Vm], dec=4, mode='exact')
    s12 = a.op(lambda q, k: q[0] @ k[1], [Qm, Km], dec=2)
    a21 = a.op(lambda q, k: softmax(q @ k.T / np.sqrt(3))[1, 0], [Qm, Km], dec=4, mode='exact')
    L = ['## Exercise 10.3.4 — Solution',
         '',
         '*From: Solutions to the end-of-chapter exercises, Chapter 10 (Attention Mechanisms). '
         'Instructors\' edition, draft of 14 January.*',
         '',
         '**Problem.** Two queries attend over three key–value pairs with scaled dot-product attention. Given',
         '',
         '\\[',
         'Q = \\begin{pmatrix}'] + [' & '.join(Qm.c(i, j) for j in range(3)) + (' \\\\' if i == 0 else '') for i in range(2)] + [
         '\\end{pmatrix},\\quad',
         'K = \\begin{pmatrix}'] + [' & '.join(Km.c(i, j) for j in range(3)) + (' \\\\' if i < 2 else '') for i in range(3)] + [
         '\\end{pmatrix},\\quad',
         'V = \\begin{pmatrix}'] + [' & '.join(Vm.c(i, j) for j in range(2)) + (' \\\\' if i < 2 else '') for i in range(3)] + [
         '\\end{pmatrix},',
         '\\]',
         '',
         '(a) compute the score matrix $S = QK^\\top$; (b) compute the attention weights; (c) compute the output. '
         '(d) Which key does the second query attend to most, and why?',
         '',
         '**Solution.**',
         '',
         '(a) Each entry is a dot product of a query row and a key row. For example',
         '',
         '\\[ s_{12} = q_1 \\cdot k_2 = %s\\cdot %s + %s\\cdot %s + %s\\cdot %s = %s, \\]'
         % tuple([par(t) for t in (Qm.text[0, 0], Km.text[1, 0], Qm.text[0, 1], Km.text[1, 1], Qm.text[0, 2], Km.text[1, 2])] + [s12.c()]),
         '',
         'and altogether',
         '',
         '\\[']
    L += ['S = ' + latex(S, env='pmatrix', one_line=True) + '.']
    L += ['\\]',
          '',
          '(b) Here $d_k = 3$, so we divide by $\\sqrt{3}$ and apply the softmax to every row. To four decimals,',
          '',
          '\\[',
          '\\frac{S}{\\sqrt 3} = \\begin{pmatrix}']
    L += [' & '.join(C.c(i, j) for j in range(3)) + (' \\\\' if i == 0 else '') for i in range(2)]
    L += ['\\end{pmatrix},\\qquad',
          'A = \\operatorname{softmax}\\!\\Big(\\frac{S}{\\sqrt 3}\\Big) = \\begin{pmatrix}']
    L += [' & '.join(A.c(i, j) for j in range(3)) + (' \\\\' if i == 0 else '') for i in range(2)]
    L += ['\\end{pmatrix}.',
          '\\]',
          '',
          'In particular $\\alpha_{21} = %s$: the second query gives about %d%% of its attention to the first key.'
          % (a21.c(), int(round(100 * float(a21.text[()])))),
          '',
          '(c) The output is $AV$:',
          '',
          '\\[',
          'Z = AV = \\begin{pmatrix}']
    L += [' & '.join(Z.c(i, j) for j in range(2)) + (' \\\\' if i == 0 else '') for i in range(2)]
    L += ['\\end{pmatrix}.',
          '\\]',
          '',
          '(d) The second query puts its largest weight on key %d, because $q_2\\cdot k_%d$ is its largest score. '
          'Note that a negative component of $q_2$ (the $-1$ in the third coordinate) actively *suppresses* keys '
          'with a large third coordinate.' % (int(np.argmax(S.exact[1])) + 1, int(np.argmax(S.exact[1])) + 1),
          '',
          '*Common mistakes.* Forgetting the $\\sqrt{d_k}$ (it is $\\sqrt 3$, not 3); normalising columns instead of rows; '
          'multiplying $VA$ instead of $AV$.',
          '']
    assert abs(100 * A.exact[1, 0] - round(100 * float(a21.text[()]))) < 0.45
    assert len(set(S.exact[1])) == 3
    return dict(art=a, ext='.md', raw='\n'.join(L), expect=(0, 0, 0))


# ----------------------------------------------------------------------
@article
def zh11(X=((2.0, 0.5, 1.5), (1.5, 2.0, 0.0), (1.5, 0.0, 0.0), (0.0, 0.0, 2.0)),
         WQ=((1.0, 0.5, 1.5), (1.0, 1.5, 2.0), (1.5, 1.0, 2.0)),
         WK=((0.5, 0.0, 0.5), (0.5, 1.5, 2.0), (2.0, 2.0, 0.0)),
         WV=((0.5, 0.0, 0.0), (1.0, 0.0, 0.0), (0.5, 0.5, 0.5))):
    a = Art('zh11_kaggle_pandas_sci', 'zh', 'correct',
            'Kaggle notebook:句子 "this movie is great",numpy 投影,未缩放权重用 numpy 科学计数法打印,缩放后的权重与输出用 pandas DataFrame 显示',
            notes='X·W projections (one-decimal inputs, exact 2-decimal projections); numpy precision=3 without suppress '
                  'prints the unscaled weights in scientific notation; scaled weights (1/sqrt(3)) and outputs shown as '
                  'pandas DataFrames after .round(4). Everything rounded from full precision.')
    Xm = a.leaf(X, dec=1)
    Wq, Wk, Wv = a.leaf(WQ, dec=1), a.leaf(WK, dec=1), a.leaf(WV, dec=1)
    Q = a.op(lambda x, w: x @ w, [Xm, Wq], dec=4, style='np', mode='exact')
    K = a.op(lambda x, w: x @ w, [Xm, Wk], dec=4, style='np', mode='exact')
    V = a.op(lambda x, w: x @ w, [Xm, Wv], dec=4, style='np', mode='exact')
    S = a.op(lambda q, k: q @ k.T, [Q, K], dec=4, style='np', mode='exact')
    U = a.op(lambda q, k: softmax(q @ k.T), [Q, K], dec=3, style='npraw', mode='exact')
    W = a.op(lambda q, k: softmax(q @ k.T / np.sqrt(3)), [Q, K], dec=4, style='pd', mode='exact')
    O = a.op(lambda q, k, v: softmax(q @ k.T / np.sqrt(3)) @ v, [Q, K, V], dec=4, style='pd', mode='exact')
    tok = ['this', 'movie', 'is', 'great']
    cells = [
        md_cell('# 注意力权重可视化入门(IMDB 小例子)\n\n'
                '这个 notebook 是我参加 Kaggle 学习小组时写的笔记:不用任何预训练模型,用一句影评 **"this movie is great"** '
                '手搓一层自注意力,然后用 pandas 把权重表打出来,方便和热力图对照。\n\n'
                '> 环境:Kaggle Python 3 docker image,CPU 即可。'),
        code_cell('import numpy as np\nimport pandas as pd\n\nnp.set_printoptions(precision=4, suppress=True)\n'
                  'tokens = ["this", "movie", "is", "great"]', 1),
        md_cell('## 1. 输入和投影矩阵\n\n词向量是我随便写的 3 维向量(真实情况是 embedding 层输出)。'),
        code_cell('X = np.array(' + pylit(Xm, ' ' * 13) + ')\n'
                  'W_q = np.array(' + pylit(Wq, ' ' * 15) + ')\n'
                  'W_k = np.array(' + pylit(Wk, ' ' * 15) + ')\n'
                  'W_v = np.array(' + pylit(Wv, ' ' * 15) + ')\n\n'
                  'Q, K, V = X @ W_q, X @ W_k, X @ W_v\nprint(Q)\nprint(K)\nprint(V)', 2,
                  [('stream', np_print(Q) + '\n' + np_print(K) + '\n' + np_print(V) + '\n')]),
        md_cell('## 2. 先不缩放看看\n\n把 numpy 的 `suppress` 关掉,小数会用科学计数法显示,可以看出不缩放时权重有多"尖"。'),
        code_cell('def softmax(x):\n'
                  '    e = np.exp(x - x.max(axis=-1, keepdims=True))\n    return e / e.sum(axis=-1, keepdims=True)\n\n'
                  'scores = Q @ K.T\nprint(scores)\n\nnp.set_printoptions(precision=3, suppress=False)\nprint(softmax(scores))', 3,
                  [('stream', np_print(S) + '\n' + np_print(U) + '\n')]),
        md_cell('## 3. 缩放后的权重(pandas 显示)\n\n$d_k = 3$,除以 $\\sqrt{3}$ 之后分布明显平滑了。'),
        code_cell('d_k = K.shape[1]\nweights = softmax(Q @ K.T / np.sqrt(d_k))\n'
                  'df = pd.DataFrame(weights, index=tokens, columns=tokens).round(4)\ndf', 4,
                  [('result', '\n'.join(pd_print(W, tok, tok)))]),
        code_cell('out = weights @ V\npd.DataFrame(out, index=tokens, columns=["d0", "d1", "d2"]).round(4)', 5,
                  [('result', '\n'.join(pd_print(O, tok, ['d0', 'd1', 'd2'])))]),
        md_cell('## 4. 观察\n\n'
                '- 每一行都是一个概率分布,加起来等于 1;\n'
                '- "great" 这一行里权重最大的是 **%s**;\n'
                '- 不缩放时最小的权重只有 %s 量级;缩放之后 "is" 这一行对 "great" 的权重从 %s 变成了 %s,分布平滑了不少。\n\n'
                '下一步打算把这张表画成 seaborn 热力图,并换成 DistilBERT 的真实注意力对比一下。'
                % (tok[int(np.argmax(W.exact[3]))], U.text[np.unravel_index(np.argmin(U.exact), U.shape)].split('e')[1].join(['1e', '']),
                   U.text[2, 3], W.text[2, 3])),
    ]
    raw = notebook(cells, kaggle=True)
    return dict(art=a, ext='.ipynb', raw=raw, expect=(0, 0, 0))


# ----------------------------------------------------------------------
@article
def en12(Q=((1.0, 0.5, 0.0, -0.5), (0.5, 1.0, 1.0, 0.0), (-0.5, 0.0, 1.5, 1.0)),
         K=((0.5, 0.0, 1.0, 1.0), (1.0, 1.0, -0.5, 0.0), (0.0, 0.5, 1.0, 0.5)),
         V=((1.0, 0.0, 2.0, -1.0), (0.0, 1.0, 1.0, 1.0), (2.0, 1.0, 0.0, 0.5))):
    a = Art('en12_github_issue_reference_values', 'en', 'correct',
            'GitHub issue thread: a contributor posts float64 reference values (Python lists, 6 decimals, trailing zeros dropped) for a causal attention kernel test; a maintainer confirms one row by hand',
            notes='Causal self-attention, 3 tokens, head_dim 4, scale 1/sqrt(4) = 0.5. Reference weights and outputs printed '
                  'with round(x, 6) in Python lists (so 1.0 / 0.0 appear among 6-decimal numbers). The maintainer\'s '
                  'check of row 2 is written out.')
    Qm, Km, Vm = a.leaf(Q, dec=1), a.leaf(K, dec=1), a.leaf(V, dec=1)
    msk = causal_mask(3)
    f_s = lambda q, k: masked(q @ k.T / 2.0, msk)
    S = a.op(f_s, [Qm, Km], dec=6, style='py', mode='exact')
    W = a.op(lambda q, k: softmax(f_s(q, k)), [Qm, Km], dec=6, style='py', mode='exact')
    O = a.op(lambda q, k, v: softmax(f_s(q, k)) @ v, [Qm, Km, Vm], dec=6, style='py', mode='exact')
    d21 = a.op(lambda q, k: q[1] @ k[0], [Qm, Km], dec=2, style='strip')
    d22 = a.op(lambda q, k: q[1] @ k[1], [Qm, Km], dec=2, style='strip')
    w2 = a.op(lambda a_, b_: softmax(np.array([a_, b_]) / 2.0), [d21, d22], dec=6, mode='exact')
    L = ['# Reference values for `test_causal_small` — are these right? #214',
         '',
         '**Open** · **ykato-dev** opened this issue on Aug 19, 2024 · 3 comments',
         '',
         'Labels: `question` `kernels`',
         '',
         '---',
         '',
         '**ykato-dev** commented on Aug 19, 2024',
         '',
         "I'm adding a tiny deterministic test for the fused causal attention kernel (`attn_fwd` in "
         '`kernels/attention.py`). Before I hard-code the expected values I\'d like someone to sanity-check them. '
         'They come from a plain float64 numpy reference:',
         '',
         '```python',
         'def ref_attention(q, k, v):',
         '    d = q.shape[-1]',
         '    s = q @ k.T / np.sqrt(d)',
         '    s[np.triu_indices(len(q), 1)] = -np.inf',
         '    p = np.exp(s - s.max(-1, keepdims=True))',
         '    p /= p.sum(-1, keepdims=True)',
         '    return s, p, p @ v',
         '',
         'q = np.array(' + pylit(Qm, ' ' * 13) + ')',
         'k = np.array(' + pylit(Km, ' ' * 13) + ')',
         'v = np.array(' + pylit(Vm, ' ' * 13) + ')',
         's, p, o = ref_attention(q, k, v)',
         'for name, x in [("scores", s), ("probs", p), ("out", o)]:',
         '    print(name, np.round(x, 6).tolist())',
         '```',
         '',
         'Output:',
         '',
         '```',
         'scores ' + pylit(S, multiline=False, show='-inf'),
         'probs ' + pylit(W, multiline=False),
         'out ' + pylit(O, multiline=False),
         '```',
         '',
         'The kernel currently matches `out` to ~1e-3 in fp16, which seems OK, but I\'m not 100% sure the mask '
         'convention (upper triangle, diagonal kept) is what we want.',
         '',
         '---',
         '',
         '**m-osei** (Maintainer) commented on Aug 20, 2024',
         '',
         'Mask convention is right: query *i* sees keys *0..i* (diagonal included). I checked row 1 (the second '
         'token) by hand:',
         '',
         '- q₁·k₀ = %s, q₁·k₁ = %s' % (d21.c(), d22.c()),
         '- divided by √4 = 2 → %s and %s' % (S.c(1, 0), S.c(1, 1)),
         '- softmax → (%s, %s), third entry masked to 0' % (w2.c(0), w2.c(1)),
         '',
         'which is exactly your second row of `probs`. Row 0 is trivially `[1, 0, 0]`, so `out[0]` must equal `v[0]`, '
         'and it does. Please go ahead and hard-code them with `atol=2e-3` for fp16.',
         '',
         '---',
         '',
         '**ykato-dev** commented on Aug 20, 2024',
         '',
         'Thanks! Added in #215, closing.',
         '',
         '**ykato-dev** closed this as completed in #215 on Aug 21, 2024',
         '']
    return dict(art=a, ext='.md', raw='\n'.join(L), expect=(0, 0, 0))


# ----------------------------------------------------------------------
@article
def zh13(Qd=((1, 2), (-1, 0)), Ke=((2, 1), (1, 2), (0, 1)), Ve=((3, 2), (0, 3), (3, 3))):
    a = Art('zh13_final_exam_cross_attention', 'zh', 'correct, carried',
            '期末考试参考答案(纯文本):交叉注意力,解码器 2 个查询对编码器 3 个键值,√2≈1.414,带评分标准,逐步用三位小数带入',
            notes='Cross-attention with queries given directly (decoder) and encoder keys/values; the solution divides by the '
                  'printed 1.414 and carries 3-decimal scaled scores, weights and outputs.')
    Qm, Km, Vm = a.leaf(Qd), a.leaf(Ke), a.leaf(Ve)
    r2 = a.op(lambda: np.sqrt(2.0), [], dec=3)
    S = a.op(lambda q, k: q @ k.T, [Qm, Km], dec=0)
    C = a.op(lambda s, r: s / r, [S, r2], dec=3)
    E = a.op(lambda c: np.exp(c), [C], dec=3)
    R = a.op(lambda e: e.sum(axis=1), [E], dec=3)
    A = a.op(lambda e, r: e / r[:, None], [E, R], dec=3)
    Z = a.op(lambda w, v: w @ v, [A, Vm], dec=3)
    L = ['《深度学习基础》2023-2024 学年第二学期期末考试(A 卷)参考答案及评分标准',
         '',
         '第五题(15 分)交叉注意力计算',
         '',
         '题目:在 Transformer 解码器的交叉注意力层中,解码器当前两个位置的查询向量为',
         '    q1 = (%s, %s),  q2 = (%s, %s)' % (Qm.c(0, 0), Qm.c(0, 1), Qm.c(1, 0), Qm.c(1, 1)),
         '编码器输出的三个位置的键、值向量为',
         '    k1 = (%s, %s),  k2 = (%s, %s),  k3 = (%s, %s)' % tuple(Km.c(i, j) for i in range(3) for j in range(2)),
         '    v1 = (%s, %s),  v2 = (%s, %s),  v3 = (%s, %s)' % tuple(Vm.c(i, j) for i in range(3) for j in range(2)),
         '采用缩放点积注意力(d_k = 2),计算两个位置的注意力权重和输出(结果保留三位小数)。',
         '',
         '参考答案:',
         '',
         '(1) 打分矩阵 S = Q K^T(3 分)',
         '']
    L += ['        ' + l for l in aligned(S, ['q1', 'q2'], width=6, head=['k1', 'k2', 'k3'])]
    L += ['',
          '(2) 缩放:sqrt(d_k) = sqrt(2) ≈ %s,S / %s 得(3 分)' % (r2.c(), r2.text[()]),
          '']
    L += ['        ' + l for l in aligned(C, ['q1', 'q2'], width=9, head=['k1', 'k2', 'k3'])]
    L += ['',
          '(3) softmax(按行,4 分)',
          '    先求指数:',
          '']
    L += ['        ' + l for l in aligned(E, ['q1', 'q2'], width=9, head=['k1', 'k2', 'k3'])]
    L += ['',
          '    行和:第一行 %s,第二行 %s' % (R.c(0), R.c(1)),
          '    权重:',
          '']
    L += ['        ' + l for l in aligned(A, ['q1', 'q2'], width=9, head=['k1', 'k2', 'k3'])]
    L += ['',
          '(4) 输出 z_i = sum_j a_ij v_j(5 分)',
          '',
          '        z1 = (%s, %s)' % (Z.c(0, 0), Z.c(0, 1)),
          '        z2 = (%s, %s)' % (Z.c(1, 0), Z.c(1, 1)),
          '',
          '评分说明:',
          '  1. 未缩放直接 softmax 的,第(2)(3)步不得分,第(4)步按其结果正确给一半分;',
          '  2. softmax 按列归一化的,第(3)步不得分;',
          '  3. 中间结果保留位数不同导致末位相差 0.001~0.002 的,不扣分;',
          '  4. 只写结果没有过程的,最多得 5 分。',
          '',
          '(阅卷组 2024.06.21)',
          '']
    return dict(art=a, ext='.txt', raw='\n'.join(L), expect=(0, 0, None))


# ----------------------------------------------------------------------
@article
def en14(Q=((1.0, 0.5), (0.0, 1.5), (2.0, -1.0)), K=((0.5, 1.0), (1.5, 0.0), (-0.5, 2.0)),
         V=((1.0, 0.0), (0.0, 1.0), (1.0, 1.0))):
    a = Art('en14_kaggle_training_log_sanity', 'en', 'correct, unrelated tables',
            'Kaggle notebook for a toy copy-task transformer: hyperparameter dict, a training log (loss/acc/lr per epoch) and a history DataFrame, plus a numpy sanity check of one attention layer',
            notes='Unrelated numbers: hyperparameters, per-epoch training log with scientific-notation learning rates, '
                  'a pandas history table and a parameter count. The worked example: 3 tokens, Q/K/V given, scaled by '
                  '1/sqrt(2), numpy precision 4 prints; all right.')
    Qm, Km, Vm = a.leaf(Q, dec=1), a.leaf(K, dec=1), a.leaf(V, dec=1)
    S = a.op(lambda q, k: q @ k.T / np.sqrt(2), [Qm, Km], dec=4, style='np', mode='exact')
    W = a.op(lambda q, k: softmax(q @ k.T / np.sqrt(2)), [Qm, Km], dec=4, style='np', mode='exact')
    O = a.op(lambda q, k, v: softmax(q @ k.T / np.sqrt(2)) @ v, [Qm, Km, Vm], dec=4, style='np', mode='exact')
    rs = a.op(lambda q, k: softmax(q @ k.T / np.sqrt(2)).sum(axis=1), [Qm, Km], dec=4, style='np', mode='exact')
    log = []
    lr = [3.0e-4, 3.0e-4, 2.7e-4, 2.1e-4, 1.5e-4, 9.0e-5, 4.5e-5, 1.2e-5]
    loss = [2.7731, 1.9046, 1.2389, 0.7415, 0.4208, 0.2514, 0.1733, 0.1402]
    vloss = [2.3117, 1.5120, 0.9472, 0.5873, 0.3550, 0.2391, 0.1897, 0.1811]
    acc = [0.1806, 0.3719, 0.6042, 0.7935, 0.8977, 0.9482, 0.9664, 0.9721]
    for e in range(8):
        log.append('epoch %d/8 | train_loss %.4f | val_loss %.4f | val_acc %.4f | lr %.1e | 12.4s'
                   % (e + 1, loss[e], vloss[e], acc[e], lr[e]))
    hist = ['   epoch  train_loss  val_loss  val_acc']
    for e in range(8):
        hist.append('%d  %6d  %10.4f  %8.4f  %7.4f' % (e, e + 1, loss[e], vloss[e], acc[e]))
    cells = [
        md_cell('# Toy transformer on the copy task\n\n'
                'Small experiment for the *Attention from scratch* study group. A 2-layer, 4-head transformer learns to '
                'copy a random sequence of 12 tokens. At the end there is a sanity check of the attention maths on a '
                '3-token example that you can verify by hand.'),
        code_cell('import numpy as np, pandas as pd, torch\n\n'
                  'cfg = dict(vocab=32, seq_len=12, d_model=64, n_heads=4, n_layers=2, d_ff=256,\n'
                  '           dropout=0.1, batch_size=128, epochs=8, lr=3e-4, warmup_steps=200, weight_decay=0.01)\n'
                  'print(cfg)', 1,
                  [('stream', "{'vocab': 32, 'seq_len': 12, 'd_model': 64, 'n_heads': 4, 'n_layers': 2, 'd_ff': 256, "
                              "'dropout': 0.1, 'batch_size': 128, 'epochs': 8, 'lr': 0.0003, 'warmup_steps': 200, "
                              "'weight_decay': 0.01}\n")]),
        code_cell('model = TinyTransformer(**cfg)\nprint(f"{sum(p.numel() for p in model.parameters()):,} parameters")', 2,
                  [('stream', '104,672 parameters\n')]),
        code_cell('history = train(model, cfg)', 3, [('stream', '\n'.join(log) + '\n')]),
        code_cell('pd.DataFrame(history)', 4, [('result', '\n'.join(hist))]),
        md_cell('Validation accuracy plateaus around 97%; the remaining errors are almost all at the last position.\n\n'
                '## Sanity check: one attention head by hand\n\n'
                'Three tokens, $d_k = 2$, so scores are divided by $\\sqrt 2$.'),
        code_cell('np.set_printoptions(precision=4, suppress=True)\n'
                  'Q = np.array(' + pylit(Qm, ' ' * 13) + ')\n'
                  'K = np.array(' + pylit(Km, ' ' * 13) + ')\n'
                  'V = np.array(' + pylit(Vm, ' ' * 13) + ')\n\n'
                  'S = Q @ K.T / np.sqrt(2)\nA = np.exp(S) / np.exp(S).sum(axis=1, keepdims=True)\n'
                  'print(S)\nprint(A)\nprint(A.sum(axis=1))\nprint(A @ V)', 5,
                  [('stream', np_print(S) + '\n' + np_print(W) + '\n' + np_print(rs) + '\n' + np_print(O) + '\n')]),
        md_cell('Rows of `A` sum to 1 and every output row lies inside the convex hull of the value vectors, as it should. '
                'Next: swap in `torch.nn.functional.scaled_dot_product_attention` and compare.'),
    ]
    raw = notebook(cells, kaggle=True)
    return dict(art=a, ext='.ipynb', raw=raw, expect=(0, 0, 0))


# ----------------------------------------------------------------------
@article
def zh15(Q=((1, 2), (2, 0)), K=((1, 1), (0, 2), (2, 1)), V=((2, 0), (1, 1), (0, 3))):
    a = Art('zh15_flashattention_benchmark', 'zh', 'correct, carried, unrelated tables',
            '个人博客:FlashAttention 为什么快,附速度/显存 benchmark 表(无关表格),以及一个 2 查询 × 3 键的标准注意力手算(两位小数逐步带入)',
            notes='Unrelated tables: GPU benchmark (ms, speed-up, memory) and a tiling configuration table. Worked '
                  'example: Q (2x2), K, V (3x2), scaled by 1/sqrt(2), 2-decimal scaled scores carried into the softmax '
                  'and 2-decimal weights carried into the output.')
    Qm, Km, Vm = a.leaf(Q), a.leaf(K), a.leaf(V)
    S = a.op(lambda q, k: q @ k.T, [Qm, Km], dec=0)
    C = a.op(lambda s: s / np.sqrt(2), [S], dec=2)
    W = a.op(softmax, [C], dec=2)
    Z = a.op(lambda w, v: w @ v, [W, Vm], dec=2)
    bench = [(512, 0.41, 0.17, 0.27, 0.09), (1024, 1.52, 0.49, 1.03, 0.19),
             (2048, 5.87, 1.71, 4.05, 0.38), (4096, 23.40, 6.52, 16.10, 0.75), (8192, 94.10, 25.80, None, 1.50)]
    L = ['---',
         'title: FlashAttention 为什么快?从一次手算说起',
         'date: 2024-09-14 22:03:11',
         'tags: [LLM, CUDA, 注意力]',
         'categories: 推理优化',
         '---',
         '',
         '先说结论:FlashAttention 没有减少一次浮点运算,它快是因为**少读写了显存**。标准实现要把 $n\\times n$ 的打分矩阵写回 HBM、'
         '再读出来做 softmax、再写回去、再读出来乘 $V$;FlashAttention 把 $Q$、$K$、$V$ 切块搬进 SRAM,在片上把这几步一次做完。',
         '',
         '## 先手算一遍标准注意力',
         '',
         '为了说明"分块之后结果不变",先用最朴素的方法算一个 2 个查询、3 个键的例子,$d_k=2$:',
         '',
         '$$Q=' + latex(Qm, one_line=True) + ',\\quad K=' + latex(Km, one_line=True) + ',\\quad V=' + latex(Vm, one_line=True) + '$$',
         '',
         '打分 $S=QK^T$:',
         '']
    L += gfm(S, rows=['q1', 'q2'], cols=['k1', 'k2', 'k3'])
    L += ['', '除以 $\\sqrt2$(两位小数):', '']
    L += gfm(C, rows=['q1', 'q2'], cols=['k1', 'k2', 'k3'])
    L += ['', '按行 softmax(用上表的两位小数算):', '']
    L += gfm(W, rows=['q1', 'q2'], cols=['k1', 'k2', 'k3'])
    L += ['', '输出 $O = PV$(用上表的权重):', '']
    L += gfm(Z, rows=['q1', 'q2'], cols=['d1', 'd2'])
    L += ['',
          '标准实现里,上面那张 2×3 的表要完整地存在显存里。序列长度是 $n$ 时,这张表是 $n\\times n$ 的,这才是瓶颈。',
          '',
          'FlashAttention 的做法是:把 $K$、$V$ 按列切成块(比如先算 k1、k2,再算 k3),每处理一块就更新一次"当前最大值"和'
          '"当前分母",最后一块处理完时得到的输出和上面**完全一样**。这里不展开推导,原理见论文 3.1 节的 online softmax。',
          '',
          '## benchmark',
          '',
          '测试环境:A100-SXM4-80GB,PyTorch 2.3,fp16,batch=8,heads=16,head_dim=64,causal=False,每组跑 100 次取中位数。',
          '',
          '| 序列长度 | 标准实现 (ms) | FlashAttention-2 (ms) | 加速比 | 标准实现显存 (GB) | FA2 显存 (GB) |',
          '|---:|---:|---:|---:|---:|---:|']
    for n, t1, t2, m1, m2 in bench:
        L.append('| %d | %.2f | %.2f | %.2f× | %s | %.2f |' % (n, t1, t2, t1 / t2, ('%.2f' % m1) if m1 else 'OOM', m2))
    L += ['',
          '8192 时标准实现直接 OOM 了(要存 8×16×8192×8192 个 fp16 的打分)。',
          '',
          '分块大小的配置(sm80,head_dim=64):',
          '',
          '| 参数 | 取值 |',
          '|---|---|',
          '| Br(Q 块行数) | 128 |',
          '| Bc(K/V 块列数) | 64 |',
          '| num_warps | 4 |',
          '| num_stages | 2 |',
          '',
          '## 小结',
          '',
          '- 计算量没变,IO 变少了;',
          '- 分块 + online softmax 保证结果和标准实现一致(只差浮点误差);',
          '- 序列越长,加速越明显,显存从 $O(n^2)$ 降到 $O(n)$。',
          '']
    return dict(art=a, ext='.md', raw='\n'.join(L), expect=(0, 0, None))


# ----------------------------------------------------------------------
@article
def en16(q=(-1.0, 0.5, 1.5), K=((-1.0, 2.0, -1.0), (1.5, 1.5, -1.0), (2.0, 2.0, 0.5), (-0.5, 1.5, 1.5)),
         V=((0.1, 0.0), (-0.2, -0.6), (0.0, 0.8), (0.0, -0.4))):
    a = Art('en16_blog_attention_explanation_confusion', 'en', 'correct, unrelated tables',
            'saved personal-blog page (HTML, KaTeX): sentiment classifier case study with a confusion matrix and a precision/recall/F1 table, plus a [CLS]-query attention example in <table> and <pre>',
            notes='Unrelated tables: confusion matrix counts and precision/recall/F1 (computed correctly from the counts). '
                  'Worked example: single [CLS] query against 4 tokens, d_k = 3, scaled by 1/sqrt(3), weights and '
                  'output rounded from full precision.')
    qm, Km, Vm = a.leaf(q, dec=1), a.leaf(K, dec=1), a.leaf(V, dec=1)
    s = a.op(lambda q, k: k @ q, [qm, Km], dec=2)
    c = a.op(lambda q, k: k @ q / np.sqrt(3), [qm, Km], dec=3, mode='exact')
    w = a.op(lambda q, k: softmax(k @ q / np.sqrt(3)), [qm, Km], dec=3, mode='exact')
    o = a.op(lambda q, k, v: softmax(k @ q / np.sqrt(3)) @ v, [qm, Km, Vm], dec=3, mode='exact')
    tok = ['the', 'plot', 'was', 'dull']
    tp, fn, fp, tn = 412, 88, 61, 439
    P = tp / (tp + fp); R = tp / (tp + fn); F = 2 * P * R / (P + R)
    Pn = tn / (tn + fn); Rn = tn / (tn + fp); Fn = 2 * Pn * Rn / (Pn + Rn)
    rows = []
    for i in range(4):
        rows.append('    <tr><td><code>%s</code></td><td>(%s)</td><td>%s</td><td>%s</td><td>%s</td></tr>'
                    % (tok[i], ', '.join(Km.c(i, j) for j in range(3)), s.c(i), c.c(i), w.c(i)))
    top = int(np.argmax(w.exact))
    L = ['<!DOCTYPE html>',
         '<html lang="en-gb">',
         '<head>',
         '  <meta charset="utf-8">',
         '  <title>Is attention an explanation? Poking at a tiny sentiment model | notes.ohanlon.dev</title>',
         '  <link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/katex@0.16.9/dist/katex.min.css">',
         '  <script defer src="https://cdn.jsdelivr.net/npm/katex@0.16.9/dist/katex.min.js"></script>',
         '  <script defer src="https://cdn.jsdelivr.net/npm/katex@0.16.9/dist/contrib/auto-render.min.js" onload="renderMathInElement(document.body);"></script>',
         '  <link rel="stylesheet" href="/css/main.3f9a1c.css">',
         '</head>',
         '<body class="post">',
         '<nav><a href="/">notes.ohanlon.dev</a> · <a href="/tags/interpretability/">#interpretability</a></nav>',
         '<main>',
         '<h1>Is attention an explanation? Poking at a tiny sentiment model</h1>',
         '<p class="meta">Ciara O\'Hanlon · 3 March 2024 · 11 min</p>',
         '<p>I trained a one-layer transformer classifier on a 10k-review sentiment set and then asked the obvious '
         'question: when it says <em>negative</em>, do the attention weights of the <code>[CLS]</code> token point at '
         'the words a human would point at? First, how good is the model at all?</p>',
         '<h2>1. The model</h2>',
         '<p>Confusion matrix on the 1,000-review test split:</p>',
         '<table class="confusion">',
         '  <thead><tr><th></th><th>predicted positive</th><th>predicted negative</th></tr></thead>',
         '  <tbody>',
         '    <tr><th>actual positive</th><td>%d</td><td>%d</td></tr>' % (tp, fn),
         '    <tr><th>actual negative</th><td>%d</td><td>%d</td></tr>' % (fp, tn),
         '  </tbody>',
         '</table>',
         '<table class="metrics">',
         '  <thead><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr></thead>',
         '  <tbody>',
         '    <tr><td>positive</td><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>500</td></tr>' % (P, R, F),
         '    <tr><td>negative</td><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>500</td></tr>' % (Pn, Rn, Fn),
         '    <tr><td>accuracy</td><td></td><td></td><td>%.3f</td><td>1000</td></tr>' % ((tp + tn) / 1000),
         '  </tbody>',
         '</table>',
         '<p>Fine for a toy. Now the attention.</p>',
         '<h2>2. What [CLS] looks at, by hand</h2>',
         '<p>To make the mechanics concrete I projected everything down to \\(d_k = 3\\) and rounded the learned '
         'vectors to one decimal. For the review <em>"the plot was dull"</em> the <code>[CLS]</code> query is '
         '\\(q = (%s)\\). The score for each token is \\(q\\cdot k_i\\), divided by \\(\\sqrt{3}\\):</p>' % ', '.join(qm.c(j) for j in range(3)),
         '<table class="attn">',
         '  <thead><tr><th>token</th><th>key</th><th>\\(q\\cdot k\\)</th><th>\\(q\\cdot k/\\sqrt3\\)</th><th>weight</th></tr></thead>',
         '  <tbody>'] + rows + [
         '  </tbody>',
         '</table>',
         '<p>The biggest weight goes to <code>%s</code> — encouraging, since that is where the sentiment lives. '
         'The value vectors (2-D here, think "positive" and "negative" directions) and the resulting '
         '<code>[CLS]</code> summary:</p>' % tok[top],
         '<pre>']
    for i in range(4):
        L.append('v_%-5s= (%s, %s)' % (tok[i], Vm.c(i, 0), Vm.c(i, 1)))
    L += ['',
          'cls_out = %s' % o.vec('(', ')'),
          '</pre>',
          '<p>The second coordinate (our "negative" direction) ends up %s, and the classifier head reads exactly that. '
          'But notice how much mass still sits on function words: attention weights are a <em>distribution over where '
          'information is copied from</em>, not a saliency map. Jain &amp; Wallace (2019) and Wiegreffe &amp; Pinter (2019) '
          'argue both sides of this; my tiny model does not settle anything.</p>' % ('positive' if o.exact[1] > 0 else 'negative'),
          '<h2>3. Takeaways</h2>',
          '<ul><li>Good accuracy does not mean interpretable attention.</li>',
          '<li>Check attention against gradient-based attributions before trusting it.</li></ul>',
          '</main>',
          '<footer>&copy; 2024 · Built with Hugo · <a href="/index.xml">RSS</a></footer>',
          '</body>',
          '</html>',
          '']
    assert tok[top] == 'dull'
    return dict(art=a, ext='.html', raw='\n'.join(L), expect=(0, 0, 0))


# ----------------------------------------------------------------------
@article
def zh17(X=((2, 1, 1), (1, 1, 0), (2, 2, 2)), WQ=((1.0, 0.5), (0.0, 0.0), (0.0, 0.5)),
         WK=((1.1, 0.6), (0.7, 1.1), (0.3, 0.1)), WV=((0, 0), (0, 2), (2, 2)), swap=(0, 1)):
    a = Art('zh17_hyperparams_kt_digit_swap', 'zh', 'mistake: digits swapped when copying Kᵀ, unrelated tables',
            '个人博客:Transformer 超参数怎么选(base/big 超参表,无关表格),附一个手算例子;抄写 Kᵀ 时一个数两位数字对调,其后该列打分、权重和输出都跟着错',
            notes='Unrelated table: model hyperparameters. Worked example: K = X·W_K printed correctly, then the transposed '
                  'table K^T has one entry with its digits swapped; scores are computed from that K^T, so the affected '
                  'score column, the scaled scores, the weights of those rows and the outputs follow from the slip.')
    Xm = a.leaf(X)
    Wq, Wk, Wv = a.leaf(WQ, dec=1), a.leaf(WK, dec=1), a.leaf(WV)
    Q = a.op(lambda x, w: x @ w, [Xm, Wq], dec=1)
    K = a.op(lambda x, w: x @ w, [Xm, Wk], dec=1)
    V = a.op(lambda x, w: x @ w, [Xm, Wv], dec=0)
    si, sj = swap
    stext = K.text[sj, si][::-1]
    assert re.fullmatch(r'[1-9]\.[1-9]', stext) and stext != K.text[sj, si]
    KT = a.op(lambda k: k.T, [K], dec=1, over={(si, sj): (stext, 'K^T entry copied from K with its two digits swapped')})
    S = a.op(lambda q, kt: q @ kt, [Q, KT], dec=2)
    C = a.op(lambda s: s / np.sqrt(2), [S], dec=2)
    W = a.op(softmax, [C], dec=2)
    Z = a.op(lambda w, v: w @ v, [W, V], dec=2)
    tok = ['猫', '坐', '垫']
    L = ['# Transformer 超参数怎么选?一张表 + 一个手算例子',
         '',
         '> 最近帮组里新人梳理 Transformer,发现大家对论文里那张超参数表背得很熟,但问到 $d_k$ 为什么是 64、缩放因子'
         '到底除的是什么,就有点含糊。这里整理一下,顺便手算一个小例子。',
         '',
         '## 一、论文里的两组配置',
         '',
         '| 超参数 | base | big | 说明 |',
         '|---|---|---|---|',
         '| $N$(层数) | 6 | 6 | 编码器、解码器各 N 层 |',
         '| $d_{model}$ | 512 | 1024 | 词向量/隐藏维度 |',
         '| $d_{ff}$ | 2048 | 4096 | FFN 中间层 |',
         '| $h$(头数) | 8 | 16 | |',
         '| $d_k = d_v$ | 64 | 64 | $d_{model}/h$ |',
         '| $P_{drop}$ | 0.1 | 0.3 | |',
         '| $\\epsilon_{ls}$ | 0.1 | 0.1 | label smoothing |',
         '| warmup_steps | 4000 | 4000 | |',
         '| 训练步数 | 100K | 300K | 8 × P100 |',
         '| 参数量 | 65M | 213M | |',
         '',
         '两组配置的 $d_k$ 都是 64,所以缩放因子都是 $1/\\sqrt{64} = 1/8$。',
         '',
         '## 二、手算一个迷你例子',
         '',
         '三个词"猫 坐 垫",$X$ 每行一个词;投影到 $d_k = 2$:',
         '',
         '$$X=' + latex(Xm, one_line=True) + ',\\quad W^Q=' + latex(Wq, one_line=True) + ',\\quad W^K=' + latex(Wk, one_line=True)
         + ',\\quad W^V=' + latex(Wv, one_line=True) + '$$',
         '',
         '**1)投影**',
         '',
         '$Q = XW^Q$:',
         '']
    L += gfm(Q, rows=tok, cols=['d1', 'd2'], corner='')
    L += ['', '$K = XW^K$:', '']
    L += gfm(K, rows=tok, cols=['d1', 'd2'], corner='')
    L += ['', '$V = XW^V$:', '']
    L += gfm(V, rows=tok, cols=['d1', 'd2'], corner='')
    L += ['', '**2)转置 $K$**,方便后面直接行乘列:', '']
    L += gfm(KT, rows=['d1', 'd2'], cols=tok, corner='$K^T$')
    L += ['', '**3)打分 $S = QK^T$**(用上面的 $K^T$):', '']
    L += gfm(S, rows=tok, cols=tok, corner='')
    L += ['', '**4)除以 $\\sqrt{d_k}=\\sqrt2$**:', '']
    L += gfm(C, rows=tok, cols=tok, corner='')
    L += ['', '**5)softmax**(按行,两位小数):', '']
    L += gfm(W, rows=tok, cols=tok, corner='')
    L += ['', '**6)输出 $Z = AV$**:', '']
    L += gfm(Z, rows=tok, cols=['d1', 'd2'], corner='')
    L += ['',
          '## 三、几点经验',
          '',
          '1. $d_k$ 固定 64 左右,头数随 $d_{model}$ 增加;',
          '2. 缩放因子只和 $d_k$ 有关,和序列长度无关;',
          '3. 小模型 dropout 0.1,大模型数据不够时 0.3。',
          '']
    return dict(art=a, ext='.md', raw='\n'.join(L), expect=(1, None, None))


# ----------------------------------------------------------------------
@article
def en18(Q=((1, 0), (0, 2), (1, 1)), K=((2, 1), (0, 1), (1, 0)), V=((1, 0), (0, 1), (2, 2))):
    a = Art('en18_stackoverflow_softmax_dim0', 'en', 'mistake: softmax over columns',
            'Stack Overflow question: F.softmax(scores, dim=0) normalises columns; the printed weights, their row sums and the output are wrong; the accepted answer prints the right tensors',
            notes='The asker\'s attn is softmax over dim=0 (columns): every entry that differs from the row softmax of the '
                  'printed scores is a root; attn.sum(dim=-1) and out are computed (by the code) from those weights and are '
                  'consequences. The answer\'s tensors (dim=-1) are right.')
    Qm, Km, Vm = a.leaf(Q, style='tint'), a.leaf(K, style='tint'), a.leaf(V, style='tint')
    T4 = dict(dec=4, mode='exact')
    S = a.op(lambda q, k: q @ k.T / np.sqrt(2), [Qm, Km], **T4)
    col = lambda q, k: softmax(q @ k.T / np.sqrt(2), axis=0)
    At = a.op(lambda q, k: softmax(q @ k.T / np.sqrt(2)), [Qm, Km], author=col, what='softmax taken over dim=0 (columns) instead of rows', **T4)
    rs = a.op(lambda a_: a_.sum(axis=1), [At], dec=4, mode='internal')
    O = a.op(lambda a_, v: a_ @ v, [At, Vm], dec=4, mode='internal')
    A2 = a.op(lambda q, k: softmax(q @ k.T / np.sqrt(2)), [Qm, Km], **T4)
    rs2 = a.op(lambda a_: a_.sum(axis=1), [A2], dec=0, style='tint', mode='internal')
    O2 = a.op(lambda a_, v: a_ @ v, [A2, Vm], dec=4, mode='internal')
    L = ['# Attention weights don\'t sum to 1 along rows — what am I doing wrong?',
         '',
         'Asked 2 years, 1 month ago · Modified 2 years, 1 month ago · Viewed 3k times',
         '',
         '**Score: 4**',
         '',
         "I'm implementing scaled dot-product attention from scratch in PyTorch to understand it. My understanding is "
         'that every row of the attention matrix should be a probability distribution, but mine isn\'t. Minimal example:',
         '',
         '```python',
         'import math, torch',
         'import torch.nn.functional as F',
         '',
         'Q = torch.tensor(' + pylit(Qm, multiline=False) + ')',
         'K = torch.tensor(' + pylit(Km, multiline=False) + ')',
         'V = torch.tensor(' + pylit(Vm, multiline=False) + ')',
         '',
         'd_k = Q.shape[-1]',
         'scores = Q @ K.T / math.sqrt(d_k)',
         'attn = F.softmax(scores, dim=0)',
         'out = attn @ V',
         'print(scores)',
         'print(attn)',
         'print(attn.sum(dim=-1))',
         'print(out)',
         '```',
         '',
         'Output:',
         '',
         '```',
         torch_print(S),
         torch_print(At),
         torch_print(rs),
         torch_print(O),
         '```',
         '',
         'The row sums are clearly not 1. Is there something wrong with how I scale the scores? I\'m on torch 2.1.',
         '',
         '`python` `pytorch` `transformer-model` `attention-model`',
         '',
         '---',
         '',
         '### 1 Answer',
         '',
         '**Score: 9** ✓ Accepted',
         '',
         'Your scaling is fine. The problem is `dim=0`: for a 2-D tensor that normalises each **column**, i.e. for every key '
         'it distributes probability over the queries. Attention needs a distribution over keys for every query, which '
         'is the last dimension:',
         '',
         '```python',
         'attn = F.softmax(scores, dim=-1)',
         'print(attn)',
         'print(attn.sum(dim=-1))',
         'print(attn @ V)',
         '```',
         '',
         '```',
         torch_print(A2),
         torch_print(rs2),
         torch_print(O2),
         '```',
         '',
         'Using `dim=-1` also keeps working when you add a batch and a head dimension, where `dim=0` would '
         'normalise over the batch. A quick check you can leave in your code: `assert torch.allclose(attn.sum(-1), '
         'torch.ones(()))`.',
         '',
         '— answered by *ptrblck_fan*',
         '']
    return dict(art=a, ext='.md', raw='\n'.join(L), expect=(None, None, 0))


# ----------------------------------------------------------------------
@article
def zh19(Q=((1, 0, 2, 1), (0, 1, 1, 0), (2, 1, 0, 1)), K=((1, 1, 0, 1), (0, 2, 1, 0), (1, 0, 1, 2)),
         V=((1, 0), (0, 2), (3, 1))):
    a = Art('zh19_zhihu_scaled_twice', 'zh', 'mistake: scaling applied twice',
            '知乎文章:PyTorch 实现里先把 q 除以 √d_k、打分时又除一次,打印出的"QKᵀ/√d_k"其实是 QKᵀ/d_k;权重和输出随之都错',
            notes='d_k = 4. The code divides q by sqrt(d_k) and then divides the scores by sqrt(d_k) again, so the printed '
                  'scores are QK^T/4 while the text (and formula) say QK^T/sqrt(d_k) = QK^T/2. Every nonzero printed score '
                  'is a root; the weights and outputs the code prints are consequences.')
    Qm, Km, Vm = a.leaf(Q), a.leaf(K), a.leaf(V)
    f_s = lambda q, k: q @ k.T / 2.0
    S = a.op(f_s, [Qm, Km], dec=4, mode='exact', author=lambda q, k: q @ k.T / 4.0,
             what='scaled by 1/sqrt(d_k) twice (q pre-divided by sqrt(d_k) and scores divided again): QK^T/4 instead of QK^T/2')
    W = a.op(softmax, [S], dec=4, mode='internal')
    O = a.op(lambda w, v: w @ v, [W, Vm], dec=4, mode='internal')
    raw_ = a.op(lambda q, k: q @ k.T, [Qm, Km], dec=0, style='tint')
    L = ['# 从零实现 Scaled Dot-Product Attention(附逐行输出)',
         '',
         '> 本文是「Transformer 源码精读」系列第 2 篇。代码在 Colab 上跑通,输出原样贴出。',
         '',
         '## 公式回顾',
         '',
         '$$\\mathrm{Attention}(Q,K,V)=\\mathrm{softmax}\\Big(\\frac{QK^T}{\\sqrt{d_k}}\\Big)V$$',
         '',
         '为什么要除以 $\\sqrt{d_k}$?假设 $q$、$k$ 的每一维都是均值 0、方差 1 的独立随机变量,那么 $q\\cdot k$ 的方差就是 $d_k$,'
         '除以 $\\sqrt{d_k}$ 之后方差回到 1,softmax 不容易饱和。',
         '',
         '## 代码',
         '',
         '```python',
         'import math',
         'import torch',
         '',
         'class ScaledDotProductAttention(torch.nn.Module):',
         '    def __init__(self, d_k):',
         '        super().__init__()',
         '        self.scale = math.sqrt(d_k)',
         '',
         '    def forward(self, q, k, v):',
         '        q = q / self.scale                       # 先缩放 q,数值更稳定',
         '        scores = q @ k.transpose(-2, -1) / self.scale',
         '        attn = torch.softmax(scores, dim=-1)',
         '        return attn @ v, attn, scores',
         '```',
         '',
         '## 一个小例子',
         '',
         '3 个 token,$d_k = 4$,所以 $\\sqrt{d_k} = 2$。',
         '',
         '```python',
         'Q = torch.tensor(' + pylit(Qm, multiline=False) + ', dtype=torch.float)',
         'K = torch.tensor(' + pylit(Km, multiline=False) + ', dtype=torch.float)',
         'V = torch.tensor(' + pylit(Vm, multiline=False) + ', dtype=torch.float)',
         'out, attn, scores = ScaledDotProductAttention(4)(Q, K, V)',
         'print(Q @ K.T)',
         'print(scores)',
         'print(attn)',
         'print(out)',
         '```',
         '',
         '输出:',
         '',
         '```',
         torch_print(raw_),
         torch_print(S),
         torch_print(W),
         torch_print(O),
         '```',
         '',
         '第一个张量是原始打分 $QK^T$,第二个就是 $QK^T/\\sqrt{d_k}$。可以看到缩放之后数值小了很多,'
         'softmax 之后的分布也比较"平",不会出现某一个位置独占注意力的情况——这正是缩放想要的效果。',
         '',
         '## 小结',
         '',
         '- 缩放因子是 $\\sqrt{d_k}$ 而不是 $d_k$;',
         '- `softmax` 一定要在最后一维上做;',
         '- 下一篇讲 mask 的实现。',
         '',
         '*发布于 2024-01-09 · IP 属地北京*',
         '']
    return dict(art=a, ext='.md', raw='\n'.join(L), expect=(None, None, 0))


# ----------------------------------------------------------------------
@article
def en20(Q=((1, 2), (1, 2), (0, -1), (1, 0)), K=((-1, 1), (-1, -1), (2, 0), (0, 1)),
         V=((0, 1), (2, 2), (1, 0), (1, 3))):
    a = Art('en20_blog_causal_mask_forgotten_row', 'en', 'mistake: causal mask forgotten in one row',
            'saved blog page (HTML, MathJax array with -\\infty): causal self-attention of 4 tokens; the masked scores are right but the weight table\'s third row was normalised over all four keys; outputs in <pre>',
            notes='Scaled by 1/sqrt(2), causal mask. The masked score matrix is printed correctly, but in the weight '
                  'table the third row also gives weight to the (masked) fourth key: all four entries of that row are '
                  'roots, and the third output row, computed from the printed weights, is a consequence.')
    Qm, Km, Vm = a.leaf(Q), a.leaf(K), a.leaf(V)
    msk = causal_mask(4)
    f_s = lambda q, k: masked(q @ k.T / np.sqrt(2), msk)
    S = a.op(f_s, [Qm, Km], dec=3, mode='exact')
    q_k_raw = np.array(Q, float) @ np.array(K, float).T / np.sqrt(2)

    def leaky(s):
        w = softmax(s)
        w[2] = softmax(q_k_raw[2])
        return w
    W = a.op(softmax, [S], dec=3, mode='exact', author=leaky,
             what='causal mask forgotten in row 3: normalised over all four keys (key 4 is masked)')
    Z = a.op(lambda w, v: w @ v, [W, Vm], dec=3)
    a21 = a.op(lambda s: softmax(s)[1, 0], [S], dec=3, mode='exact')
    rows = []
    for i in range(4):
        rows.append('      <tr><th>t%d</th>%s</tr>' % (i + 1, ''.join('<td>%s</td>' % W.c(i, j) for j in range(4))))
    L = ['<!doctype html>',
         '<html>',
         '<head>',
         '<meta charset="utf-8">',
         '<title>Causal self-attention, one matrix at a time — bits of learning</title>',
         '<script src="https://polyfill.io/v3/polyfill.min.js?features=es6"></script>',
         '<script id="MathJax-script" async src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script>',
         '<style>table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}</style>',
         '</head>',
         '<body>',
         '<header><a href="/">bits of learning</a> / posts / 2023 / causal-attention</header>',
         '<article>',
         '<h1>Causal self-attention, one matrix at a time</h1>',
         '<p><i>Posted by Tomás Ferreira on 17 October 2023</i></p>',
         '<p>GPT-style models are trained to predict the next token, so position \\(t\\) may only look at positions '
         '\\(1,\\dots,t\\). This post computes a 4-token causal attention layer explicitly. We use \\(d_k = 2\\), so scores '
         'are divided by \\(\\sqrt 2\\).</p>',
         '<h2>Inputs</h2>',
         '<p>The queries, keys and values (one row per token):</p>',
         '\\[',
         'Q = ' + latex(Qm, env='array', one_line=True) + ',\\quad',
         'K = ' + latex(Km, env='array', one_line=True) + ',\\quad',
         'V = ' + latex(Vm, env='array', one_line=True),
         '\\]',
         '<h2>Masked, scaled scores</h2>',
         '<p>Compute \\(QK^\\top/\\sqrt2\\) and replace every entry above the diagonal with \\(-\\infty\\):</p>',
         '\\[',
         '\\frac{QK^\\top}{\\sqrt 2} + M = \\left[\\begin{array}{rrrr}']
    L += [' & '.join(S.c(i, j, show='-\\infty') for j in range(4)) + (' \\\\' if i < 3 else '') for i in range(4)]
    L += ['\\end{array}\\right]',
          '\\]',
          '<h2>Softmax, row by row</h2>',
          '<p>Since \\(e^{-\\infty} = 0\\), the masked positions get exactly zero weight. For example '
          '\\(\\alpha_{21} = %s\\): the second token keeps most of its attention on the first one.</p>' % a21.c(),
          '<table>',
          '  <thead><tr><th></th><th>t1</th><th>t2</th><th>t3</th><th>t4</th></tr></thead>',
          '  <tbody>'] + rows + [
          '  </tbody>',
          '</table>',
          '<h2>Output</h2>',
          '<p>Multiplying the weights above by \\(V\\):</p>',
          '<pre>']
    for i in range(4):
        L.append('z%d = %s' % (i + 1, Z.row(i, '(', ')')))
    L += ['</pre>',
          '<p>The first output is just \\(v_1\\), because the first token can only see itself. In a real model this '
          'happens for every head in every layer, and the mask is applied once to the whole \\(n\\times n\\) score '
          'matrix with <code>torch.triu</code>.</p>',
          '</article>',
          '<footer>Comments are closed. · Powered by a static site generator I wrote on a weekend.</footer>',
          '</body>',
          '</html>',
          '']
    assert float(a21.text[()]) > 0.5
    return dict(art=a, ext='.html', raw='\n'.join(L), expect=(4, None, None))


# ----------------------------------------------------------------------
@article
def zh21(Q=((1, 0), (1, 2), (1, 1)), K=((2, 0), (2, 1), (1, 2)), V=((1, 1), (0, 2), (3, 0))):
    a = Art('zh21_cnblogs_value_row_mixed', 'zh', 'mistake: wrong value row',
            '博客园随笔:q₁、k₂ 这样的下标向量,GFM 权重表正确,但第二个输出向量误把 v₃ 当成 v₂ 来加权',
            notes='Scaled by 1/sqrt(2); weights rounded from full precision (2 decimals); outputs computed from the printed '
                  'weights. In the second output row the author used v3 where v2 belongs (and v2 where v3 belongs), so its '
                  'entries are roots; rows 1 and 3 are right or carried.')
    Qm, Km, Vm = a.leaf(Q), a.leaf(K), a.leaf(V)
    S = a.op(lambda q, k: q @ k.T, [Qm, Km], dec=0)
    C = a.op(lambda q, k: q @ k.T / np.sqrt(2), [Qm, Km], dec=3, mode='exact')
    W = a.op(lambda q, k: softmax(q @ k.T / np.sqrt(2)), [Qm, Km], dec=2, mode='exact')
    def mixed(w, v):
        z = w @ v
        v2 = v[[0, 2, 1]]
        z[1] = w[1] @ v2
        return z
    Z = a.op(lambda w, v: w @ v, [W, Vm], dec=2, author=mixed,
             what='second output computed with v3 and v2 interchanged')
    L = ['# 【随笔】自注意力手算练习:三个向量的例子',
         '',
         'posted @ 2024-02-27 10:41  数据挖掘小白  阅读(268)  评论(2)  收藏  举报',
         '',
         '最近在看李宏毅老师的课,跟着做了一道手算题,记录一下过程。',
         '',
         '## 已知',
         '']
    for nm, M_ in (('q', Qm), ('k', Km), ('v', Vm)):
        L.append('  '.join('%s%s = (%s, %s)' % (nm, sub(i + 1), M_.c(i, 0), M_.c(i, 1)) for i in range(3)))
        L.append('')
    L += ['$d_k = 2$,缩放因子 $1/\\sqrt2$。',
          '',
          '## 第一步:打分',
          '',
          '$s_{ij} = q_i\\cdot k_j$:',
          '']
    L += gfm(S, rows=['q₁', 'q₂', 'q₃'], cols=['k₁', 'k₂', 'k₃'], corner='')
    L += ['', '除以 $\\sqrt 2$:', '']
    L += gfm(C, rows=['q₁', 'q₂', 'q₃'], cols=['k₁', 'k₂', 'k₃'], corner='')
    L += ['', '## 第二步:softmax', '', '按行做 softmax,保留两位小数:', '']
    L += gfm(W, rows=['q₁', 'q₂', 'q₃'], cols=['k₁', 'k₂', 'k₃'], corner='')
    L += ['',
          '## 第三步:加权求和',
          '',
          '$b_i = \\sum_j \\alpha_{ij} v_j$,用上表的权重:',
          '']
    for i in range(3):
        L.append('- b%s = %s' % (sub(i + 1), Z.row(i, '(', ')')))
    L += ['',
          '## 总结',
          '',
          '整个过程其实就是三个矩阵乘法加一个 softmax,写成矩阵形式就是 $B=\\mathrm{softmax}(QK^T/\\sqrt{d_k})V$。'
          '下次试试把 $q$、$k$、$v$ 换成由输入 $a_i$ 乘矩阵得到的版本。',
          '',
          '参考:李宏毅《机器学习》2021 Self-attention(上)(下)',
          '']
    return dict(art=a, ext='.md', raw='\n'.join(L), expect=(None, 0, None))


def swap_digits(t):
    """swap the 2nd and 3rd decimal digits of a printed number"""
    i = t.index('.')
    d = list(t)
    d[i + 2], d[i + 3] = d[i + 3], d[i + 2]
    return ''.join(d)


# ----------------------------------------------------------------------
@article
def en22(Q=((1.0, 0.5), (0.5, 1.5), (2.0, 0.0)), K=((1.5, 0.5), (0.0, 1.0), (1.0, 1.0)),
         V=((1.0, 2.0), (0.0, 1.0), (3.0, 0.0)), row=1, col=0):
    a = Art('en22_homework_transcription_swap', 'en', 'mistake: digits swapped when copying',
            'homework notebook: numpy prints the scaled scores, weights and output correctly; the markdown "by hand" check copies row 2 of the scores with two digits swapped and carries the slip through e^x, the sum, the weights and the output',
            notes='Code outputs (numpy precision 4) are all right. In the markdown hand check one copied score has its '
                  '2nd and 3rd decimals swapped (root); the exponential of that score, the row sum, the three weights '
                  'and the hand-computed output row follow from it (consequences).')
    Qm, Km, Vm = a.leaf(Q, dec=1), a.leaf(K, dec=1), a.leaf(V, dec=1)
    S = a.op(lambda q, k: q @ k.T / np.sqrt(2), [Qm, Km], dec=4, style='np', mode='exact')
    W = a.op(lambda q, k: softmax(q @ k.T / np.sqrt(2)), [Qm, Km], dec=4, style='np', mode='exact')
    O = a.op(lambda q, k, v: softmax(q @ k.T / np.sqrt(2)) @ v, [Qm, Km, Vm], dec=4, style='np', mode='exact')
    good = '%.4f' % S.exact[row, col]
    bad = swap_digits(good)
    assert bad != good
    cp = a.op(lambda s: s[row], [S], dec=4, over={col: (bad, 'score copied from the numpy output with two digits swapped (%s)' % good)})
    ex = a.op(np.exp, [cp], dec=3)
    tot = a.op(lambda e: e.sum(), [ex], dec=3)
    w = a.op(lambda e, t: e / t, [ex, tot], dec=3)
    z = a.op(lambda w, v: w @ v, [w, Vm], dec=3)
    cells = [
        md_cell('# HW3 — Scaled dot-product attention\n\n'
                '**Name:** Jordan Pike  \n**Course:** DS 4420, Fall 2024  \n**Due:** Oct 11\n\n'
                'Problem 2: implement attention for the given $Q$, $K$, $V$ in numpy, then verify one row of the result by hand.'),
        code_cell('import numpy as np\nnp.set_printoptions(precision=4, suppress=True)\n\n'
                  'Q = np.array(' + pylit(Qm, ' ' * 13) + ')\n'
                  'K = np.array(' + pylit(Km, ' ' * 13) + ')\n'
                  'V = np.array(' + pylit(Vm, ' ' * 13) + ')\n'
                  'd_k = Q.shape[1]', 1),
        code_cell('S = Q @ K.T / np.sqrt(d_k)\nS', 2, [('result', np_print(S, repr_=True))]),
        code_cell('W = np.exp(S) / np.exp(S).sum(axis=1, keepdims=True)\nW', 3, [('result', np_print(W, repr_=True))]),
        code_cell('Z = W @ V\nZ', 4, [('result', np_print(O, repr_=True))]),
        md_cell('### By hand: row %d\n\n'
                'Copying row %d of `S` from above: $s = (%s,\\ %s,\\ %s)$.\n\n'
                'Exponentials (3 d.p.):\n\n'
                '$$e^{s_1} = %s,\\quad e^{s_2} = %s,\\quad e^{s_3} = %s$$\n\n'
                'Sum $= %s$, so the weights are\n\n'
                '$$w = (%s,\\ %s,\\ %s)$$\n\n'
                'and the output row is\n\n'
                '$$z = \\sum_j w_j v_j = (%s,\\ %s)$$\n\n'
                'Hmm, this is a bit off from the numpy row — probably just rounding in the exponentials? '
                'Moving on.'
                % (row + 1, row + 1, cp.c(0), cp.c(1), cp.c(2), ex.c(0), ex.c(1), ex.c(2), tot.c(),
                   w.c(0), w.c(1), w.c(2), z.c(0), z.c(1))),
        md_cell('Problem 3 is on the next page.'),
    ]
    raw = notebook(cells)
    return dict(art=a, ext='.ipynb', raw=raw, expect=(1, None, 0))


# ----------------------------------------------------------------------
@article
def zh23(q=(-1, 2, 0, -1, 2, 1, 2, 0), K=((2, -1, 0, 1, 2, 2, 1, -1), (1, -1, -1, 0, 1, 2, 0, 0), (-1, 1, -1, 0, 2, 2, 1, -1),
                                          (1, 2, -1, 0, 2, 0, -1, 0), (2, 2, -1, 2, 1, 2, 0, 1)),
         idx=3, newexp=None):
    a = Art('zh23_v2ex_saturation_exponent_typo', 'zh', 'mistake: wrong exponent',
            'V2EX 风格论坛帖(纯文本):一个查询对 5 个键,d_k=8,不缩放时 softmax 饱和;手敲 numpy 科学计数法输出时一个指数打错',
            notes='Unscaled weights printed by numpy in scientific notation (precision 3); the poster retyped the output '
                  'and one exponent is wrong (root). Scaled weights (1/sqrt(8)) are right; nothing is computed from the '
                  'mistyped number.')
    qm, Km = a.leaf(q), a.leaf(K)
    s = a.op(lambda q, k: k @ q, [qm, Km], dec=0)
    uex = softmax(np.array(K, float) @ np.array(q, float))
    good = a.format(uex, 'npraw', 3)[idx]
    assert 'e' in good
    mant, ex_ = good.split('e')
    e_new = int(ex_) - 3 if newexp is None else newexp
    bad = '%se%+03d' % (mant, e_new)
    assert 'e' in good and sorted(uex)[-2] < 1e-2
    u = a.op(lambda q, k: softmax(k @ q), [qm, Km], dec=3, style='npraw', mode='exact',
             over={idx: (bad, 'exponent mistyped when copying the numpy output (%s)' % good)})
    w = a.op(lambda q, k: softmax(k @ q / np.sqrt(8)), [qm, Km], dec=3, style='npraw', mode='exact')
    L = ['标题:不给点积除以 sqrt(d_k),softmax 真的会"饱和"吗?贴个小实验',
         '',
         'V2EX › 程序员 · by lazycat2077 · 2024-04-16 23:51:07 +08:00 · 2104 次点击',
         '',
         '最近面试被问到为什么要除以 sqrt(d_k),答了"防止梯度消失",面试官追问"具体多大算大",没答好。',
         '回来做了个实验,服务器上跑的,截图不方便,下面输出是我手敲的。',
         '',
         'd_k = 8,一个 query,5 个 key,向量都是随手写的小整数:',
         '',
         '    q  = ' + qm.vec(),
         '']
    for i in range(5):
        L.append('    k%d = %s' % (i + 1, Km.row(i)))
    L += ['',
          '点积(不缩放):',
          '',
          '    s = q @ K.T = ' + s.vec(),
          '',
          '不缩放直接 softmax(np 默认 precision 改成 3):',
          '',
          '    >>> softmax(s)',
          '    ' + np_print(u),
          '',
          '除以 sqrt(8) 之后再 softmax:',
          '',
          '    >>> softmax(s / np.sqrt(8))',
          '    ' + np_print(w),
          '',
          '可以看到不缩放的时候第一名直接拿走了绝大部分概率,剩下几个都是 1e-2 以下,梯度 a_i(1 - a_i) 基本为 0;',
          '缩放以后分布平滑很多。d_k 真实取 64、128 的时候差距只会更夸张。',
          '',
          '欢迎大佬补充 🙏',
          '',
          '---',
          '',
          '第 1 条附言 · 2024-04-17 09:12:40 +08:00',
          '有人问为什么不用 float32:这里 float64 只是为了看清楚小数,结论一样。',
          '',
          '回复 1  ·  shenjj:楼主这个实验挺直观的,补充一下原论文脚注 4 就是在讲点积方差为 d_k。',
          '回复 2  ·  lazycat2077:@shenjj 对,我回头补上。',
          '']
    return dict(art=a, ext='.txt', raw='\n'.join(L), expect=(1, 0, 0))


# ----------------------------------------------------------------------
@article
def en24(X=((1, 0), (1, 1), (0, 2)), bad_row=1, delta=1.0):
    a = Art('en24_lecture_softmax_wrong_sum', 'en', 'mistake: wrong sum in written-out arithmetic',
            'course notes (Markdown): Q = K = V = X, unscaled, every softmax row written out as e^a + e^b + e^c = ... = sum; one sum is off by exactly 1, so that row\'s weights and output follow the slip',
            notes='Q = K = V = X, unscaled (the notes say so). Each row\'s exponentials are printed to 3 decimals and '
                  'summed in written-out arithmetic; in one row the sum is wrong (root). The three weights of that row and '
                  'its output vector are computed from the wrong sum (consequences).')
    Xm = a.leaf(X)
    S = a.op(lambda x: x @ x.T, [Xm], dec=0)
    E = a.op(np.exp, [S], dec=3)
    R = a.op(lambda e: e.sum(axis=1), [E], dec=3)
    good = R.text[bad_row]
    bad = '%.3f' % (float(good) + delta)
    R = a.op(lambda e: e.sum(axis=1), [E], dec=3, over={bad_row: (bad, 'sum of the three exponentials added up wrongly (should be %s)' % good)})
    W = a.op(lambda e, r: e / r[:, None], [E, R], dec=3)
    Z = a.op(lambda w, x: w @ x, [W, Xm], dec=3)
    L = ['---',
         'layout: notes',
         'title: "Week 6 — Attention, part 1: softmax by hand"',
         'course: MATH 389 Mathematics of Deep Learning',
         '---',
         '',
         '# Softmax by hand',
         '',
         'These notes accompany Tuesday\'s lecture. We strip attention down to the bone: no projections '
         '(so $Q = K = V = X$) and **no scaling** — we add $1/\\sqrt{d}$ back on Thursday. The point today is to get '
         'comfortable with the softmax itself.',
         '',
         '$$X = ' + latex(Xm, env='bmatrix', one_line=True) + '$$',
         '',
         '## 1. Scores',
         '',
         '$$S = XX^\\top = ' + latex(S, env='bmatrix', one_line=True) + '$$',
         '',
         'Note that $S$ is symmetric because $Q = K$.',
         '',
         '## 2. Softmax, one row at a time',
         '',
         'For row $i$ we need $\\sum_j e^{s_{ij}}$. Three decimals throughout.',
         '']
    for i in range(3):
        L.append('**Row %d.** $\\Sigma_%d = e^{%s} + e^{%s} + e^{%s} = %s + %s + %s = %s$, so' % (
            i + 1, i + 1, S.text[i, 0], S.text[i, 1], S.text[i, 2], E.c(i, 0), E.c(i, 1), E.c(i, 2), R.c(i)))
        L.append('')
        L.append('$$\\alpha_{%d\\cdot} = \\frac{1}{\\Sigma_%d}\\left(e^{%s},\\ e^{%s},\\ e^{%s}\\right) = (%s,\\ %s,\\ %s)$$' % (
            i + 1, i + 1, S.text[i, 0], S.text[i, 1], S.text[i, 2], W.c(i, 0), W.c(i, 1), W.c(i, 2)))
        L.append('')
    L += ['## 3. Outputs',
          '',
          'Each output is the weighted average of the rows of $X$:',
          '']
    for i in range(3):
        L.append('- $z_%d = %s$' % (i + 1, Z.row(i, '(', ')')))
    L += ['',
          '## 4. Things to notice',
          '',
          '1. The diagonal of $S$ is the squared norm of each token, so without scaling, long vectors attend to '
          'themselves a lot.',
          '2. Every weight is strictly positive: softmax never produces an exact zero (masks do that).',
          '3. The outputs lie in the convex hull of the rows of $X$.',
          '',
          '*Exercise for Thursday:* redo Section 2 with the scores divided by $\\sqrt 2$ and compare the rows.',
          '']
    return dict(art=a, ext='.md', raw='\n'.join(L), expect=(1, None, None))


# ----------------------------------------------------------------------
@article
def zh25(X=((1, 0, 1), (0, 2, 1), (1, 1, 0)), WQ=((0.5, 1.0), (1.0, 0.0), (0.5, 0.5)),
         WK=((1.0, 0.5), (0.0, 1.0), (0.5, 0.0)), WV=((1, 0), (0, 1), (1, 1)), wrong=((1, 0), '2.0')):
    a = Art('zh25_segmentfault_projection_slip', 'zh', 'mistake: wrong projection entry',
            '保存的思否(SegmentFault)文章 HTML:MathJax \\begin{array} 写 Q = X·W^Q,其中一个元素算错;该行打分、缩放、权重和输出都跟着错,权重与输出用 <table>',
            notes='Q = X·W^Q has one wrong entry (root). The scores of that query row, the scaled scores, that row\'s weights '
                  'and its output are computed from it (consequences). K, V and the other rows are right.')
    Xm = a.leaf(X)
    Wq, Wk, Wv = a.leaf(WQ, dec=1), a.leaf(WK, dec=1), a.leaf(WV)
    (wi, wj), wt = wrong
    Q = a.op(lambda x, w: x @ w, [Xm, Wq], dec=1, over={(wi, wj): (wt, 'arithmetic slip in Q = X·W^Q')})
    K = a.op(lambda x, w: x @ w, [Xm, Wk], dec=1)
    V = a.op(lambda x, w: x @ w, [Xm, Wv], dec=0)
    S = a.op(lambda q, k: q @ k.T, [Q, K], dec=2)
    C = a.op(lambda s: s / np.sqrt(2), [S], dec=3)
    W = a.op(softmax, [C], dec=3)
    Z = a.op(lambda w, v: w @ v, [W, V], dec=3)
    tok = ['今天', '天气', '不错']
    def arr(m, spec=None):
        n, k = m.shape
        out = ['\\left[\\begin{array}{%s}' % (spec or 'c' * k)]
        for i in range(n):
            out.append(' & '.join(m.c(i, j) for j in range(k)) + (' \\\\' if i < n - 1 else ''))
        out.append('\\end{array}\\right]')
        return out
    L = ['<!DOCTYPE html>',
         '<html lang="zh-CN">',
         '<head>',
         '<meta charset="utf-8">',
         '<title>图解自注意力:从 X 到输出的每一步计算 - 个人文章 - SegmentFault 思否</title>',
         '<meta name="keywords" content="深度学习,transformer,attention">',
         '<script type="text/x-mathjax-config">MathJax.Hub.Config({tex2jax: {inlineMath: [["$","$"]]}});</script>',
         '<script src="https://cdn.bootcdn.net/ajax/libs/mathjax/2.7.7/MathJax.js?config=TeX-AMS-MML_HTMLorMML"></script>',
         '</head>',
         '<body>',
         '<div class="article-header">',
         '<h1>图解自注意力:从 X 到输出的每一步计算</h1>',
         '<div class="meta">算法搬砖工 发布于 2023-08-30 · 阅读 1.9k · 赞 12</div>',
         '</div>',
         '<div class="article fmt">',
         '<p>网上讲 self-attention 的文章大多只给公式,这里把一个 3 个词的句子"今天 天气 不错"从输入一路算到输出,'
         '每个矩阵都写出来。$d_k = 2$,缩放因子 $1/\\sqrt{2}$。</p>',
         '<h2>1. 输入与参数</h2>',
         '<p>$$X=' + ' '.join(arr(Xm)) + ',\\quad W^Q=' + ' '.join(arr(Wq)) + ',\\quad W^K=' + ' '.join(arr(Wk))
         + ',\\quad W^V=' + ' '.join(arr(Wv)) + '$$</p>',
         '<h2>2. 线性映射</h2>',
         '<p>$$',
         'Q = XW^Q =']
    L += arr(Q)
    L += ['$$</p>', '<p>$$', 'K = XW^K =']
    L += arr(K)
    L += ['\\qquad V = XW^V =']
    L += arr(V)
    L += ['$$</p>',
          '<h2>3. 打分与缩放</h2>',
          '<p>$$', 'S = QK^T =']
    L += arr(S)
    L += ['\\qquad \\frac{S}{\\sqrt 2} =']
    L += arr(C)
    L += ['$$</p>',
          '<h2>4. softmax</h2>',
          '<p>对 $S/\\sqrt2$ 的每一行做 softmax:</p>']
    L += html_table(W, rows=tok, cols=tok, corner='')
    L += ['<h2>5. 输出</h2>',
          '<p>$Z = AV$:</p>']
    L += html_table(Z, rows=tok, cols=['z[0]', 'z[1]'], corner='')
    L += ['<p>可以看到每个词的输出都是三个 value 向量的加权平均,权重就是上一步的注意力。</p>',
          '<p>如果觉得本文对你有帮助,欢迎点赞收藏。转载请注明出处。</p>',
          '</div>',
          '<div class="footer">© 2023 SegmentFault 思否 · 浙ICP备15005796号-2</div>',
          '</body>',
          '</html>',
          '']
    return dict(art=a, ext='.html', raw='\n'.join(L), expect=(1, None, None))


# ----------------------------------------------------------------------
@article
def en26(Q=((1, 2, 1, 1), (1, 1, 0, 1), (2, 1, 2, 2)), K=((1, 0, 2, 1), (1, 1, 2, 2), (1, 1, 1, 2)),
         V=((3, 1), (3, 2), (0, 3))):
    a = Art('en26_reddit_forgot_scaling', 'en', 'mistake: scaling forgotten',
            'plain-text Reddit-style post: states the formula with 1/sqrt(d_k) and d_k = 4 (factor 1/2), prints the raw scores, then takes the softmax of the raw scores; weights and output are off',
            notes='d_k = 4 so the scores should be halved before the softmax (the post says so). The weights are the '
                  'softmax of the unscaled scores: every weight that differs from softmax(S/2) is a root; the output, '
                  'computed from the printed weights, is a consequence.')
    Qm, Km, Vm = a.leaf(Q), a.leaf(K), a.leaf(V)
    S = a.op(lambda q, k: q @ k.T, [Qm, Km], dec=0)
    W = a.op(lambda s: softmax(s / 2.0), [S], dec=3, mode='exact', author=lambda s: softmax(s),
             what='softmax of the raw scores; the 1/sqrt(d_k) = 1/2 scaling stated in the post was forgotten')
    Z = a.op(lambda w, v: w @ v, [W, Vm], dec=2)
    L = ['r/learnmachinelearning',
         '',
         'Posted by u/quiet_gradient · 8 mo. ago',
         '',
         'I finally understand self-attention, here is the whole thing worked out on a tiny example (feedback welcome!)',
         '',
         'I kept reading "Attention(Q,K,V) = softmax(QK^T / sqrt(d_k)) V" without really getting it, so I sat down with',
         'pen and paper. Three tokens, d_k = 4, which means the scaling factor is 1/sqrt(4) = 1/2.',
         '',
         'Queries, keys, values (one row per token):',
         '']
    for i in range(3):
        L.append('    q%d = %s    k%d = %s    v%d = %s' % (i + 1, Qm.row(i), i + 1, Km.row(i), i + 1, Vm.row(i)))
    L += ['',
          'Step 1: dot products QK^T (row = query, column = key)',
          '']
    L += ['    ' + l for l in aligned(S, ['q1', 'q2', 'q3'], width=5, head=['k1', 'k2', 'k3'])]
    L += ['',
          'Step 2: softmax each row to get the attention weights',
          '']
    L += ['    ' + l for l in aligned(W, ['q1', 'q2', 'q3'], width=8, head=['k1', 'k2', 'k3'])]
    L += ['',
          'Step 3: weighted sum of the values',
          '']
    for i in range(3):
        L.append('    out%d = %s' % (i + 1, Z.row(i)))
    L += ['',
          'What clicked for me: each output is literally a blend of the value vectors, and the blend is decided by how',
          'well the query matches each key. q2 matches k2 and k3 equally, so it splits its attention between them.',
          '',
          'Edit: formatting',
          '',
          '---',
          '',
          '  ▲ 41 ▼   · 12 comments · Share · Save',
          '',
          '  top comment (u/hf_lurker, 8 mo. ago): Nice writeup! One question, where did the 1/2 go in step 2?',
          '']
    assert S.exact[1, 1] == S.exact[1, 2]
    return dict(art=a, ext='.txt', raw='\n'.join(L), expect=(None, None, None))


# ----------------------------------------------------------------------
@article
def zh27(Q=((1.0, 0.0), (0.5, 1.0), (1.0, 1.5), (0.0, 2.0)), K=((1.0, 1.0), (2.0, 0.0), (0.0, 1.0), (1.0, -1.0)),
         V=((1.0, 0.0), (0.0, 1.0), (1.0, 1.0), (2.0, 0.0))):
    a = Art('zh27_notebook_weights_table_transposed', 'zh', 'mistake: transposed table',
            '中文 notebook:numpy 打印的权重正确;markdown 里整理成带标签的表格时把矩阵转置了(行=key),再从这张表手算第 1 个输出',
            notes='Code outputs (numpy precision 3) are right. The markdown table labelled rows = query, columns = key holds '
                  'the transpose of the weight matrix: every off-diagonal entry that differs from the weight it claims to be is a '
                  'root. The hand-computed output of query 1 uses the first row of that table (consequences).')
    Qm, Km, Vm = a.leaf(Q, dec=1), a.leaf(K, dec=1), a.leaf(V, dec=1)
    f_w = lambda q, k: softmax(q @ k.T / np.sqrt(2))
    S = a.op(lambda q, k: q @ k.T / np.sqrt(2), [Qm, Km], dec=3, style='np', mode='exact')
    W = a.op(f_w, [Qm, Km], dec=3, style='np', mode='exact')
    O = a.op(lambda q, k, v: f_w(q, k) @ v, [Qm, Km, Vm], dec=3, style='np', mode='exact')
    T = a.op(lambda w: w, [W], dec=3, mode='exact', author=lambda w: w.T,
             what='weight table transposed when copying (this entry is the weight of the other query/key pair)')
    z1 = a.op(lambda t, v: t[0] @ v, [T, Vm], dec=3)
    tok = ['我', '想', '吃', '饭']
    cells = [
        md_cell('# 注意力权重 → 表格 → 手算输出\n\n'
                '课程作业 4 的第 2 题。先用 numpy 算出结果,再把权重整理成表,最后手算"我"这个位置的输出来验证。'),
        code_cell('import numpy as np\nnp.set_printoptions(precision=3, suppress=True)\n\n'
                  'Q = np.array(' + pylit(Qm, ' ' * 13) + ')\n'
                  'K = np.array(' + pylit(Km, ' ' * 13) + ')\n'
                  'V = np.array(' + pylit(Vm, ' ' * 13) + ')', 1),
        code_cell('S = Q @ K.T / np.sqrt(Q.shape[1])\nW = np.exp(S) / np.exp(S).sum(1, keepdims=True)\n'
                  'print(S)\nprint(W)\nprint(W @ V)', 2,
                  [('stream', np_print(S) + '\n' + np_print(W) + '\n' + np_print(O) + '\n')]),
        md_cell('## 权重表\n\n行是 query,列是 key:\n\n' + '\n'.join(gfm(T, rows=tok, cols=tok, corner='query \\ key')) + '\n\n'
                '## 手算"我"的输出\n\n'
                '取表中"我"这一行的四个权重,对 $v_1\\dots v_4$ 加权求和:\n\n'
                '$$z_{我} = \\sum_{j=1}^{4} a_{我,j}\\,v_j = (%s,\\ %s)$$\n\n'
                '(和上面 `W @ V` 的第一行对不上……还没找到原因,先交了。)'
                % (z1.c(0), z1.c(1))),
    ]
    raw = notebook(cells)
    return dict(art=a, ext='.ipynb', raw=raw, expect=(None, None, None))


# ----------------------------------------------------------------------
@article
def en28(x=((1.0, 2.0, 0.0), (1.5, 1.0, 1.0), (2.0, 1.0, 1.5)), Wq=((1.0, 0.0, 1.5), (0.0, 1.5, 0.5)),
         Wk=((0.0, 1.5, 1.0), (1.0, 2.0, 0.5)), Wv=((1.5, 0.5, 1.5), (1.0, 2.0, 1.5))):
    a = Art('en28_torch_notebook_wrong_weights_row', 'en', 'mistake: output row computed with the wrong weights',
            'PyTorch notebook (nn.Linear layout x·Wᵀ, tensors with grad_fn): the code outputs are right; the markdown recomputes the outputs by hand and builds the second row from the first row\'s weights',
            notes='q = x @ W.T with nn.Linear weights of shape (out, in); scaled by 1/sqrt(2). All printed tensors are right. '
                  'The markdown hand computation uses the printed 4-decimal weights; its second output row was computed '
                  'with the weights of row 1 instead of row 2 (roots).')
    xm = a.leaf(x, dec=1)
    wq, wk, wv = a.leaf(Wq, dec=1), a.leaf(Wk, dec=1), a.leaf(Wv, dec=1)
    T4 = dict(dec=4, mode='exact')
    q = a.op(lambda x, w: x @ w.T, [xm, wq], **T4)
    k = a.op(lambda x, w: x @ w.T, [xm, wk], **T4)
    v = a.op(lambda x, w: x @ w.T, [xm, wv], **T4)
    att = a.op(lambda q, k: softmax(q @ k.T / np.sqrt(2)), [q, k], **T4)
    out = a.op(lambda q, k, v: softmax(q @ k.T / np.sqrt(2)) @ v, [q, k, v], **T4)
    def wrong(w, v):
        z = w @ v
        z[1] = w[0] @ v
        return z
    hz = a.op(lambda w, v: w @ v, [att, v], dec=3, author=wrong,
              what='second output row computed with the attention weights of row 1')
    cells = [
        md_cell('# Self-attention with `nn.Linear`: code vs. hand calculation\n\n'
                'Notebook for the reading group, week 3. We build one attention head from three `nn.Linear` layers, '
                'print every intermediate tensor, and then redo the last step by hand.'),
        code_cell('import math, torch, torch.nn as nn\n\n'
                  'x = torch.tensor(' + pylit(xm, ' ' * 16) + ')\n\n'
                  'Wq, Wk, Wv = (nn.Linear(3, 2, bias=False) for _ in range(3))\n'
                  'with torch.no_grad():\n'
                  '    Wq.weight.copy_(torch.tensor(' + pylit(wq, multiline=False) + '))  # (out, in)\n'
                  '    Wk.weight.copy_(torch.tensor(' + pylit(wk, multiline=False) + '))\n'
                  '    Wv.weight.copy_(torch.tensor(' + pylit(wv, multiline=False) + '))\n\n'
                  'q, k, v = Wq(x), Wk(x), Wv(x)\nq, k, v', 1,
                  [('result', '(' + torch_print(q, 'MmBackward0').replace('\n', '\n ') + ',\n ' + torch_print(k, 'MmBackward0').replace('\n', '\n ')
                    + ',\n ' + torch_print(v, 'MmBackward0').replace('\n', '\n ') + ')')]),
        code_cell('attn = torch.softmax(q @ k.T / math.sqrt(2), dim=-1)\nattn', 2,
                  [('result', torch_print(att, 'SoftmaxBackward0'))]),
        code_cell('out = attn @ v\nout', 3, [('result', torch_print(out, 'MmBackward0'))]),
        md_cell('## Redoing `out` by hand\n\n'
                'Row $i$ of the output is $\\sum_j a_{ij} v_j$ with the weights printed above (4 d.p.), '
                'rounded to 3 d.p.:\n\n'
                '| token | out[:, 0] | out[:, 1] |\n|---|---|---|\n'
                + '\n'.join('| %d | %s | %s |' % (i + 1, hz.c(i, 0), hz.c(i, 1)) for i in range(3))
                + '\n\nRows 1 and 3 agree with the tensor above.'),
    ]
    assert all(abs(float(hz.text[i, j]) - out.exact[i, j]) < 0.0015 for i in (0, 2) for j in range(2))
    raw = notebook(cells, colab=True)
    return dict(art=a, ext='.ipynb', raw=raw, expect=(2, 0, None))


# ----------------------------------------------------------------------
@article
def zh29(Q=((1, 2, 1), (1, 1, 1), (1, 1, 2)), K=((1, 1, 1), (2, 0, 2), (1, 1, 0)),
         V=((3, 1), (1, 1), (3, 3)), slip=(1, 0)):
    a = Art('zh29_yuque_softmax_rounded_down', 'zh', 'mistake: softmax entry rounded wrongly',
            '语雀知识库导出的 Markdown:Q、K、V 直接给出,缩放 1/√3,权重保留两位小数时有一个数该进位却舍掉了;输出用两位小数权重计算',
            notes='Scaled by 1/sqrt(3) (3-decimal scaled scores, right). The weights are rounded to 2 decimals; one of them '
                  'was rounded down although its third decimal is 9 (root). The output row that uses it, computed from the '
                  'printed weights, follows the slip where the difference shows.')
    Qm, Km, Vm = a.leaf(Q), a.leaf(K), a.leaf(V)
    S = a.op(lambda q, k: q @ k.T, [Qm, Km], dec=0)
    C = a.op(lambda q, k: q @ k.T / np.sqrt(3), [Qm, Km], dec=3, mode='exact')
    wex = softmax(np.array(Q, float) @ np.array(K, float).T / np.sqrt(3))
    x = wex[slip] * 100
    assert x - math.floor(x) >= 0.9
    bad = '%.2f' % (math.floor(x) / 100)
    W = a.op(softmax, [C], dec=2, over={slip: (bad, 'rounded down instead of up (the softmax value is %.4f)' % wex[slip])})
    Z = a.op(lambda w, v: w @ v, [W, Vm], dec=2)
    rs = [sum(float(t) for t in W.text[i]) for i in range(3)]
    assert abs(rs[slip[0]] - 0.99) < 1e-9 and all(abs(rs[i] - 1) < 1e-9 for i in range(3) if i != slip[0])
    L = ['# 自注意力计算过程(手算笔记)',
         '',
         '> 知识库:深度学习基础 / Transformer   最后编辑于 2024-06-03 16:20',
         '',
         ':::info',
         '本节目标:给定 Q、K、V,手算一遍 Scaled Dot-Product Attention,理解每一步的维度和数值。',
         ':::',
         '',
         '## 已知条件',
         '',
         '- 序列长度 3,$d_k = 3$',
         '- $Q = ' + latex(Qm, one_line=True) + '$',
         '- $K = ' + latex(Km, one_line=True) + '$',
         '- $V = ' + latex(Vm, one_line=True) + '$',
         '',
         '## 计算过程',
         '',
         '### ① 打分 $QK^T$',
         '']
    L += gfm(S, rows=['q1', 'q2', 'q3'], cols=['k1', 'k2', 'k3'])
    L += ['', '### ② 缩放 $\\div\\sqrt{3}$', '']
    L += gfm(C, rows=['q1', 'q2', 'q3'], cols=['k1', 'k2', 'k3'])
    L += ['', '### ③ softmax(按行,保留两位小数)', '']
    L += gfm(W, rows=['q1', 'q2', 'q3'], cols=['k1', 'k2', 'k3'])
    L += ['',
          '检查:第 %d 行加起来是 0.99,其余两行是 1.00,0.01 的差是四舍五入造成的,可以忽略。' % (slip[0] + 1),
          '',
          '### ④ 加权求和 $AV$(用上表权重)',
          '']
    L += gfm(Z, rows=['z1', 'z2', 'z3'], cols=['dim1', 'dim2'])
    L += ['',
          '## 要点',
          '',
          '1. 打分矩阵是 $n\\times n$ 的,第 $i$ 行表示第 $i$ 个 query 对所有 key 的相似度;',
          '2. 缩放用的是 $\\sqrt{d_k}$,这里 $d_k=3$;',
          '3. softmax 按**行**做,保证每个 query 的权重和为 1。',
          '']
    return dict(art=a, ext='.md', raw='\n'.join(L), expect=(1, None, None))


# ----------------------------------------------------------------------
@article
def en30(Q=((1, 0, 2), (2, 1, 0), (0, 1, 1)), K=((1, 1, 0), (0, 2, 1), (2, 0, 1)),
         V=((1.0, 0.0), (0.0, 1.0), (0.5, 0.5)), slip=(1, 2), delta=1):
    a = Art('en30_github_readme_wrong_dot_product', 'en', 'mistake: wrong dot product',
            'GitHub README of a toy library: "worked example" section lists every dot product written out (s_ij = a·b + ... = n); one sum is off by one; the scaled score, that row\'s weights and its output follow the slip',
            notes='Scaled by 1/sqrt(3). All nine dot products are written out; one has a wrong sum (root). The scaled score of '
                  'that entry, the weights of that row and that output row are computed from it (consequences).')
    Qm, Km, Vm = a.leaf(Q), a.leaf(K), a.leaf(V, dec=1)
    good = int(np.array(Q)[slip[0]] @ np.array(K)[slip[1]])
    S = a.op(lambda q, k: q @ k.T, [Qm, Km], dec=0,
             over={slip: (str(good + delta), 'dot product summed wrongly (%s)' % good)})
    C = a.op(lambda s: s / np.sqrt(3), [S], dec=3)
    W = a.op(softmax, [C], dec=3)
    Z = a.op(lambda w, v: w @ v, [W, Vm], dec=3)
    L = ['<p align="center"><img src="docs/logo.svg" width="120" alt="handattn logo"></p>',
         '',
         '# handattn',
         '',
         '[![PyPI](https://img.shields.io/pypi/v/handattn.svg)](https://pypi.org/project/handattn/) '
         '[![CI](https://github.com/lmarchetti/handattn/actions/workflows/ci.yml/badge.svg)](https://github.com/lmarchetti/handattn/actions) '
         '![license](https://img.shields.io/badge/license-MIT-blue)',
         '',
         'A tiny, dependency-free Python package that computes attention **step by step** and pretty-prints every '
         'intermediate result, so students can compare against their own hand calculations.',
         '',
         '## Install',
         '',
         '```bash',
         'pip install handattn',
         '```',
         '',
         '## Quick start',
         '',
         '```python',
         'from handattn import Attention',
         '',
         'attn = Attention(scale="sqrt_dk", mask=None, decimals=3)',
         'attn.explain(Q, K, V)        # prints every step as Markdown',
         '```',
         '',
         '## Worked example',
         '',
         'The example below is what `attn.explain` prints for the matrices in `examples/three_tokens.py` '
         '(we wrote the dot products out by hand for the docs).',
         '',
         'Inputs ($d_k = 3$):',
         '']
    for nm, M_ in (('q', Qm), ('k', Km), ('v', Vm)):
        L.append('- ' + ', '.join('$%s_%d = %s$' % (nm, i + 1, M_.row(i, '(', ')')) for i in range(3)))
    L += ['',
          '**Dot products** $s_{ij} = q_i\\cdot k_j$:',
          '']
    for i in range(3):
        for j in range(3):
            terms = ' + '.join('%s·%s' % (Qm.text[i, t], Km.text[j, t]) for t in range(3))
            L.append('- $s_{%d%d}$ = %s = %s' % (i + 1, j + 1, terms, S.c(i, j)))
    L += ['',
          '**Scaled** by $1/\\sqrt{3}$:',
          '']
    L += gfm(C, rows=['q1', 'q2', 'q3'], cols=['k1', 'k2', 'k3'])
    L += ['', '**Softmax** (row-wise):', '']
    L += gfm(W, rows=['q1', 'q2', 'q3'], cols=['k1', 'k2', 'k3'])
    L += ['', '**Output** $AV$:', '']
    L += gfm(Z, rows=['z1', 'z2', 'z3'], cols=['dim 0', 'dim 1'])
    L += ['',
          '## API',
          '',
          '| function | what it does |',
          '|---|---|',
          '| `Attention.explain(Q, K, V)` | print every step as Markdown |',
          '| `Attention.scores(Q, K)` | raw dot products |',
          '| `Attention.weights(Q, K)` | softmax of scaled, masked scores |',
          '',
          '## Contributing',
          '',
          'PRs welcome! Please run `pytest -q` before submitting. Licensed under MIT.',
          '']
    return dict(art=a, ext='.md', raw='\n'.join(L), expect=(1, None, None))


# ----------------------------------------------------------------------
@article
def en31():
    a = Art('en31_interview_questions_no_example', 'en', 'nothing to check',
            'blog post "15 attention interview questions": formulas, complexity table, hyperparameter table of common models, code without outputs; no worked example',
            notes='No worked example: formulas, a complexity table, a table of published model configurations and code '
                  'without outputs. Nothing to check.')
    L = ['# 15 Attention Interview Questions (and How I Would Answer Them)',
         '',
         '*Updated for 2024 — covers MHA, MQA, GQA, FlashAttention and KV caching.*',
         '',
         '### 1. Write down scaled dot-product attention.',
         '',
         '$$\\operatorname{Attention}(Q,K,V)=\\operatorname{softmax}\\!\\left(\\frac{QK^\\top}{\\sqrt{d_k}} + M\\right)V$$',
         '',
         'where $M$ is $0$ for allowed positions and $-\\infty$ for masked ones.',
         '',
         '### 2. Why divide by $\\sqrt{d_k}$?',
         '',
         'If the components of $q$ and $k$ are independent with mean 0 and variance 1, then $q\\cdot k$ has variance '
         '$d_k$. Large logits push softmax into saturation where gradients vanish; dividing by $\\sqrt{d_k}$ keeps the '
         'variance at 1.',
         '',
         '### 3. What is the time and memory complexity?',
         '',
         '| operation | time | memory |',
         '|---|---|---|',
         '| $QK^\\top$ | $O(n^2 d)$ | $O(n^2)$ |',
         '| softmax | $O(n^2)$ | $O(n^2)$ |',
         '| $AV$ | $O(n^2 d)$ | $O(nd)$ |',
         '| FlashAttention (all) | $O(n^2 d)$ | $O(nd)$ |',
         '',
         '### 4. MHA vs MQA vs GQA?',
         '',
         'All use $h$ query heads. MHA has $h$ key/value heads, MQA has 1, GQA has $g$ with $1 < g < h$. The KV cache '
         'shrinks by a factor $h/g$.',
         '',
         '| model | layers | $d_{model}$ | query heads | KV heads | context |',
         '|---|---|---|---|---|---|',
         '| GPT-2 small | 12 | 768 | 12 | 12 | 1024 |',
         '| Llama 2 7B | 32 | 4096 | 32 | 32 | 4096 |',
         '| Llama 2 70B | 80 | 8192 | 64 | 8 | 4096 |',
         '| Mistral 7B | 32 | 4096 | 32 | 8 | 8192 (sliding window 4096) |',
         '',
         '### 5. Where does the causal mask go?',
         '',
         'Before the softmax, added to the logits. Applying it after the softmax (by zeroing) breaks normalisation '
         'unless you renormalise.',
         '',
         '### 6. Implement it.',
         '',
         '```python',
         'def attention(q, k, v, mask=None):',
         '    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))',
         '    if mask is not None:',
         '        scores = scores.masked_fill(~mask, float("-inf"))',
         '    return torch.softmax(scores, dim=-1) @ v',
         '```',
         '',
         '### 7–15',
         '',
         'Positional encodings (sinusoidal, learned, RoPE, ALiBi), why LayerNorm placement matters (pre-LN vs post-LN), '
         'what the KV cache stores, why FlashAttention is IO-aware, sliding-window attention, cross-attention in '
         'encoder–decoder models, attention sinks, and how to debug NaNs in attention (fully masked rows!). '
         'I will cover these in part 2.',
         '',
         '*If you found this useful, share it with someone preparing for ML interviews.*',
         '']
    return dict(art=a, ext='.md', raw='\n'.join(L), expect=(0, 0, 0))


# ----------------------------------------------------------------------
@article
def zh32():
    a = Art('zh32_paper_reading_notes_no_example', 'zh', 'nothing to check',
            '纯文本论文笔记:《Attention Is All You Need》精读,结构、超参数、BLEU 与训练成本表,没有任何手算例子',
            notes='Paper-reading notes with tables of hyperparameters, BLEU scores and training cost; no worked example.')
    L = ['《Attention Is All You Need》精读笔记',
         '==================================',
         '',
         '作者:Vaswani et al., NeurIPS 2017          笔记整理:2024-03-02',
         '',
         '一、动机',
         '  RNN 顺序计算,难以并行;CNN 感受野有限。作者提出完全基于注意力的 Transformer。',
         '',
         '二、模型结构',
         '  - 编码器、解码器各 6 层',
         '  - 每层:多头自注意力 + 前馈网络,残差连接 + LayerNorm(Post-LN)',
         '  - 解码器多一个交叉注意力子层,自注意力带因果 mask',
         '  - 位置编码:正弦/余弦,PE(pos, 2i) = sin(pos / 10000^(2i/d_model))',
         '',
         '三、超参数(base / big)',
         '',
         '    参数          base     big',
         '    N             6        6',
         '    d_model       512      1024',
         '    d_ff          2048     4096',
         '    h             8        16',
         '    d_k           64       64',
         '    P_drop        0.1      0.3',
         '    训练步数      100K     300K',
         '',
         '四、结果(newstest2014)',
         '',
         '    模型                      EN-DE BLEU   EN-FR BLEU   训练成本 (FLOPs)',
         '    ByteNet                   23.75        -            -',
         '    GNMT + RL                 24.6         39.92        2.3e19 / 1.4e20',
         '    ConvS2S                   25.16        40.46        9.6e18 / 1.5e20',
         '    Transformer (base)        27.3         38.1         3.3e18',
         '    Transformer (big)         28.4         41.8         2.3e19',
         '',
         '五、自己的理解',
         '  1. 缩放因子 1/sqrt(d_k):点积方差随 d_k 线性增长,不缩放 softmax 会进入饱和区;',
         '  2. 多头:不同子空间学习不同的关系(句法、指代……),论文表 3 (A) 行显示单头比最优配置差 0.9 BLEU;',
         '  3. 自注意力每层的复杂度 O(n^2·d),序列长于表示维度时比 RNN 贵;',
         '  4. label smoothing 让困惑度变差,但 BLEU 变好。',
         '',
         '六、待读',
         '  - Transformer-XL(相对位置)',
         '  - Reformer / Linformer / Performer(降复杂度)',
         '  - FlashAttention(IO 角度)',
         '']
    return dict(art=a, ext='.txt', raw='\n'.join(L), expect=(0, 0, 0))


# ----------------------------------------------------------------------
@article
def zh33():
    a = Art('zh33_sdpa_benchmark_notebook_no_example', 'zh', 'nothing to check',
            '中文 notebook:比较手写注意力与 F.scaled_dot_product_attention 的速度和误差,只打印形状、耗时和最大误差,没有手算数值',
            notes='Benchmark notebook: shapes, timings, max-abs-difference and allclose; no worked attention numbers.')
    cells = [
        md_cell('# 手写 attention vs `F.scaled_dot_product_attention`\n\n'
                '测一下 PyTorch 2 自带的 SDPA(会自动选 FlashAttention / memory-efficient 后端)比手写实现快多少,'
                '顺便确认数值一致。'),
        code_cell('import torch, time\nimport torch.nn.functional as F\n\n'
                  'torch.manual_seed(0)\ndevice = "cuda"\nB, H, N, D = 8, 16, 2048, 64\n'
                  'q, k, v = (torch.randn(B, H, N, D, device=device, dtype=torch.float16) for _ in range(3))\n'
                  'print(q.shape, q.dtype)', 1,
                  [('stream', 'torch.Size([8, 16, 2048, 64]) torch.float16\n')]),
        code_cell('def naive(q, k, v):\n    s = q @ k.transpose(-2, -1) / D ** 0.5\n    return torch.softmax(s, dim=-1) @ v\n\n'
                  'def bench(fn, n=50):\n    for _ in range(5): fn(q, k, v)\n    torch.cuda.synchronize(); t = time.perf_counter()\n'
                  '    for _ in range(n): fn(q, k, v)\n    torch.cuda.synchronize()\n    return (time.perf_counter() - t) / n * 1e3\n\n'
                  'print(f"naive: {bench(naive):.2f} ms")\nprint(f"sdpa : {bench(F.scaled_dot_product_attention):.2f} ms")', 2,
                  [('stream', 'naive: 14.87 ms\nsdpa : 2.61 ms\n')]),
        code_cell('o1, o2 = naive(q, k, v), F.scaled_dot_product_attention(q, k, v)\n'
                  'print((o1 - o2).abs().max().item())\nprint(torch.allclose(o1, o2, atol=2e-3))', 3,
                  [('stream', '0.0009765625\nTrue\n')]),
        code_cell('print(torch.cuda.max_memory_allocated() / 2**30, "GiB")', 4, [('stream', '4.531982421875 GiB\n')]),
        md_cell('## 结论\n\n- SDPA 快了 5 倍多,显存峰值也低很多(手写版要存 B×H×N×N 的打分矩阵);\n'
                '- fp16 下最大误差 1e-3 量级,正常。\n\n下次试试 causal=True 和不同的 N。'),
    ]
    raw = notebook(cells, colab=True)
    return dict(art=a, ext='.ipynb', raw=raw, expect=(0, 0, 0))



# ARTICLES_END

def main():
    only = sys.argv[1:]
    rows = []
    tot = dict(judged=0, roots=0, cons=0, carried=0)
    for fn in ARTICLES:
        if only and fn.__name__ not in only:
            continue
        res = fn()
        art = res['art']
        exp = res.get('expect')
        text, truth, st = art.finish(res['raw'], res['ext'], None, res.get('exit'))
        if exp is not None:
            got = (st['roots'], st['cons'], st['carried'])
            for g, e in zip(got, exp):
                if e is not None and g != e:
                    raise BuildError('%s: expected %s got %s' % (art.name, exp, got))
        fname = art.name + res['ext']
        with open(os.path.join(HERE, fname), 'w', encoding='utf-8') as fh:
            fh.write(text)
        with open(os.path.join(HERE, art.name + '.truth.json'), 'w', encoding='utf-8') as fh:
            json.dump(truth, fh, ensure_ascii=False, indent=2)
            fh.write('\n')
        verify(fname, truth)
        for k in tot:
            tot[k] += st[k]
        rows.append((art, fname, st))
        print('%-46s exit %d  roots %2d cons %2d carried %2d judged %3d'
              % (fname, st['exit'], st['roots'], st['cons'], st['carried'], st['judged']))
    if not only:
        write_readme(rows, tot)
    print('total', tot)


def verify(fname, truth):
    with open(os.path.join(HERE, fname), encoding='utf-8') as fh:
        lines = fh.read().split('\n')
    if fname.endswith('.ipynb'):
        json.loads('\n'.join(lines))
    for key in ('roots', 'consequences', 'right_carried'):
        for ent in truth[key]:
            ln = ent['line']
            if not (1 <= ln <= len(lines)) or ent['claimed'] not in lines[ln - 1]:
                raise BuildError('%s: %r not on line %d' % (fname, ent['claimed'], ln))
    rl = {e['line'] for e in truth['roots']}
    for ent in truth['consequences']:
        if not ent['follows_from'] or not set(ent['follows_from']) <= rl:
            raise BuildError('%s: bad follows_from %r' % (fname, ent))
    if (truth['exit'] == 1) != bool(truth['roots']):
        raise BuildError('%s: exit %d with %d roots' % (fname, truth['exit'], len(truth['roots'])))


def write_readme(rows, tot):
    from collections import Counter
    fmt_of = lambda f: {'md': 'Markdown', 'txt': 'plain text', 'ipynb': 'notebook', 'html': 'HTML'}[f.rsplit('.', 1)[1]]
    L = ['# corpus3: a second held-out set of hand-worked attention articles for `qkv check`',
         '',
         'Written without reading the checker\'s code or its test articles. Every article and its '
         '`<name>.truth.json` is generated by `python3 make_truth.py` (numpy float64 + standard library), which '
         'also verifies that each claimed string stands on the line its truth file names. Truth format as in '
         'corpus2: `exit`, `roots` [{line, claimed, true, what}], `consequences` [{line, claimed, true, '
         'follows_from}], `right_carried` [{line, claimed}], `notes`. Lines are 1-based lines of the file (raw JSON '
         'lines for .ipynb, source lines for .html). Exit codes: 0 = every checked number right, 1 = some wrong, '
         '3 = nothing checkable.',
         '',
         'Judging follows corpus2\'s README ("How each printed number is judged"). The generator classifies every '
         'printed derived number itself (exact value from the leaves, value from the printed inputs, linearised '
         'half-ulp interval, value with the wrong inputs corrected) and refuses to build if any number lies in the '
         'ambiguous bands (0.48-0.55 ulp from exact, roots closer than 0.85 ulp + interval to the value from the '
         'printed inputs, consequences closer than 0.6 ulp to the corrected computation). `true` of a root is the '
         'value computed from the printed inputs; `true` of a consequence is the exact value.',
         '',
         'One line per article: file · language · kind · exit · roots/consequences/carried · numbers judged · what it is.',
         '']
    for art, fname, st in rows:
        L.append('- `%s` · %s · %s · exit %d · %d/%d/%d · %d · %s' % (
            fname, art.lang, art.kind, st['exit'], st['roots'], st['cons'], st['carried'], st['judged'], art.desc))
    lang = Counter(a.lang for a, f, s in rows)
    fm = Counter(fmt_of(f) for a, f, s in rows)
    ex = Counter(s['exit'] for a, f, s in rows)
    L += ['',
          'Totals: %d articles (%s), formats %s, exit codes %s; %d roots, %d consequences, %d right carried '
          'roundings, %d derived numbers judged.' % (
              len(rows), ', '.join('%s %d' % kv for kv in sorted(lang.items())),
              ', '.join('%s %d' % kv for kv in sorted(fm.items())),
              ', '.join('%d: %d' % kv for kv in sorted(ex.items())),
              tot['roots'], tot['cons'], tot['carried'], tot['judged']),
          '']
    L += README_TAIL
    with open(os.path.join(HERE, 'README.md'), 'w', encoding='utf-8') as fh:
        fh.write('\n'.join(L) + '\n')


README_TAIL = [
    '## Where a checker may reasonably judge differently',
    '',
    '- `zh19_zhihu_scaled_twice.md`: the printed "scores" follow literally from the code shown (q is pre-divided by '
    'sqrt(d_k) and the scores are divided again). The truth follows the formula and the prose, which say the tensor is '
    'QK^T/sqrt(d_k) with d_k = 4, so the scores are roots and the weights/outputs printed by the code are consequences.',
    '- `en26_reddit_forgot_scaling.txt`: the post states the formula with 1/sqrt(d_k) and that the factor is 1/2, but '
    'never prints a scaled table; the weights are softmax(raw scores). A checker that does not pick up the stated '
    'scaling would call every number right. The scores are printed as integers; the root margin still holds if each '
    'integer score is allowed to move by half a unit.',
    '- `en18_stackoverflow_softmax_dim0.md`: `attn.sum(dim=-1)` (0.7894, 1.0220, 1.1886) is listed as three '
    'consequences (exact value 1); a checker that does not treat row sums as derived numbers will miss them. One '
    'column-softmax entry (0.1400) coincides with the row-softmax value and is right.',
    '- `en22_homework_transcription_swap.ipynb`, `zh17_hyperparams_kt_digit_swap.md`: the root is a copy of an earlier '
    'printed number (a transcribed score row; a K^T table copied from K). A checker that treats a copied table as fresh '
    'input would instead find everything downstream "right".',
    '- `zh27_notebook_weights_table_transposed.ipynb`: the whole weight table is transposed; all 12 off-diagonal '
    'entries are listed as roots (diagonal entries are right). A checker may report the table as one transposition.',
    '- `en20_blog_causal_mask_forgotten_row.html`: the roots include a nonzero weight on a masked position; the mask is '
    'only visible as -\\infty entries of the score matrix in a MathJax array.',
    '- `zh05`, `zh09`, `zh13`: the scores are divided by the printed approximations 1.41, 1.73 and 1.414, and every '
    'later step is computed from the previous printed numbers; these carried roundings are right_carried, not mistakes.',
    '- `en12_github_issue_reference_values.md`: Python floats such as `1.0` and `0.0` sit among 6-decimal numbers and '
    'are judged at 6 decimals (they are exact). `en04`/`en14`/`zh11`/`en22`/`zh27`: numpy drops trailing zeros '
    '(`0.292 `, `1.   `), judged at the matrix\'s most decimals.',
    '- `zh29_yuque_softmax_rounded_down.md`: the single root is off by 0.96 ulp from the correctly rounded value (0.2992 '
    'written as 0.29); with half-ulp movement of the 3-decimal scaled scores it is still more than 0.85 ulp outside.',
    '- Unrelated numbers that must not be flagged: training log, hyperparameters and parameter count (`en14`), GPU '
    'benchmark with speed-up ratios and a tiling table (`zh15`), confusion matrix with precision/recall/F1 (`en16`), '
    'model hyperparameters (`zh17`), model tables and complexity (`en31`, `zh32`), timings and max error (`zh33`), '
    'and exam marks like "(3 分)" (`zh13`).',
]

if __name__ == '__main__':
    main()
