#!/usr/bin/env python3
"""Writes differential.bin: PyTorch's float64 outputs and gradients for every differentiable op and
layer of Backprop, on random shapes (size-0 and size-1 axes, broadcasting) and special values
(0, -0, +-inf, NaN, subnormals, huge and tiny magnitudes).

Run once (python3 make_differential_fixture.py, with torch installed); the output is committed and
replayed by Tests/BackpropTests/Differential/DifferentialTests.swift, which needs no PyTorch.

Each case: an op name and its parameters (key=value;...), the inputs (with a flag saying whether
the gradient with respect to it is checked), the upstream gradient u, PyTorch's output y and the
gradients of sum(u * y) with respect to the checked inputs (absent where PyTorch reports none, which
the replay reads as zeros). Cases PyTorch rejects (it raises) are left out: their Backprop
counterparts stop with a message, which the adversarial suite checks.

Binary layout, little-endian:
  b"BPDIFF01", u32 case count, then per case:
  str family, str op, str params, u8 input count, per input (u8 checked, tensor),
  tensor upstream, tensor output, u8 gradient count, per gradient (u8 present, [tensor])
  str = u16 length + UTF-8; tensor = u8 rank, rank x u32 sizes, count x f64.
"""
import math
import os
import random
import struct
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
rng = random.Random(20261215)
torch.manual_seed(15)

INF, NAN = math.inf, math.nan
SUBNORMAL = [5e-324, -5e-324, 2.5e-310, -1.2e-315]
HUGE = [1e300, -1e300, 1.7e308, -8e307, 1e154, -3e200]
TINY = [1e-300, -1e-300, 2.2250738585072014e-308, 1e-200]
ZERO = [0.0, -0.0]
NONFINITE = [INF, -INF, NAN]


def value(kind):
    """One element: a normal number, or a special value of the given kind."""
    if kind == "zero":
        return rng.choice(ZERO)
    if kind == "nonfinite":
        return rng.choice(NONFINITE)
    if kind == "subnormal":
        return rng.choice(SUBNORMAL)
    if kind == "huge":
        return rng.choice(HUGE)
    if kind == "tiny":
        return rng.choice(TINY)
    return rng.gauss(0, 1.5)


def make(shape, style="normal", domain=None, specials=("zero", "nonfinite", "subnormal", "huge", "tiny"), rate=0.25):
    """A tensor of the shape; with style 'special' about `rate` of its elements are special values,
    at most one of them 'huge' (so that no two huge values of opposite signs cancel in a sum, where
    the result would depend on the summation order)."""
    count = 1
    for s in shape:
        count *= s
    values = []
    huge_used = False
    for _ in range(count):
        if style == "special" and rng.random() < rate:
            kind = rng.choice(specials)
            if kind == "huge":
                if huge_used:
                    kind = "zero"
                huge_used = True
            v = value(kind)
        else:
            v = rng.gauss(0, 1.5)
            if domain == "positive":
                v = abs(v) + 0.1
            elif domain == "unit":
                v = rng.random()
            elif domain == "away":
                v = v if abs(v) > 0.2 else (0.5 if v >= 0 else -0.5)
        values.append(v)
    return torch.tensor(values, dtype=torch.float64).reshape(shape)


def size(zero_rate=0.12, maximum=4):
    r = rng.random()
    if r < zero_rate:
        return 0
    if r < zero_rate + 0.2:
        return 1
    return rng.randint(2, maximum)


def shape(rank, zero_rate=0.12, maximum=4):
    return [size(zero_rate, maximum) for _ in range(rank)]


def style():
    r = rng.random()
    return "special" if r < 0.45 else "normal"


def broadcast_pair(max_rank=4):
    """Two shapes that broadcast: random rank, some axes set to 1 on one side, leading axes dropped."""
    rank = rng.randint(0, max_rank)
    full = shape(rank)
    a, b = list(full), list(full)
    for i in range(rank):
        r = rng.random()
        if r < 0.25:
            a[i] = 1
        elif r < 0.5:
            b[i] = 1
    a = a[rng.randint(0, len(a)):] if rng.random() < 0.3 else a
    b = b[rng.randint(0, len(b)):] if rng.random() < 0.3 else b
    return a, b


def lst(values):
    return ",".join(str(v) for v in values)


def params_text(params):
    parts = []
    for key, v in params.items():
        if isinstance(v, bool):
            text = "1" if v else "0"
        elif isinstance(v, float):
            text = repr(v)
        elif isinstance(v, (list, tuple)):
            if v and isinstance(v[0], (list, tuple)):
                text = "|".join(lst(int(x) for x in row) for row in v)
            else:
                text = lst(v)
        else:
            text = str(v)
        parts.append(f"{key}={text}")
    return ";".join(parts)


cases = []
skipped = {}


def case(family, op, params, inputs, fn, checked=None):
    """inputs: list of tensors; fn(list of tensors) -> output tensor. checked: which inputs' gradients
    are recorded (all by default)."""
    if checked is None:
        checked = list(range(len(inputs)))
    leaves = [t.clone().requires_grad_(i in checked) for i, t in enumerate(inputs)]
    try:
        y = fn(leaves)
    except (RuntimeError, ValueError, IndexError) as error:
        skipped[op] = skipped.get(op, 0) + 1
        return
    y = y.detach().clone() if not y.requires_grad else y
    upstream = make(list(y.shape))
    grads = [None] * len(inputs)
    wanted = [leaves[i] for i in checked]
    if y.requires_grad and wanted:
        found = torch.autograd.grad(y, wanted, upstream, allow_unused=True)
        for i, g in zip(checked, found):
            grads[i] = g
    cases.append((family, op, params_text(params), [(i in checked, t) for i, t in enumerate(inputs)],
                  upstream, y.detach(), [grads[i] for i in range(len(inputs))]))


# --------------------------------------------------------------------------------------------------
# Arithmetic

for op, fn in [("add", torch.add), ("subtract", torch.sub), ("multiply", torch.mul), ("divide", torch.div)]:
    for _ in range(40):
        a, b = broadcast_pair()
        case("arithmetic", op, {}, [make(a, style()), make(b, style())], lambda v, fn=fn: fn(v[0], v[1]))

for _ in range(20):
    case("arithmetic", "negate", {}, [make(shape(rng.randint(0, 3)), style())], lambda v: -v[0])

scalar_constants = [0.0, -0.0, 1.0, -2.5, 3.0, 1e300, -1e-300, 0.5]
for op, fn in [("addScalar", lambda x, c: x + c), ("subtractScalar", lambda x, c: x - c),
               ("rsubScalar", lambda x, c: c - x), ("multiplyScalar", lambda x, c: x * c),
               ("divideScalar", lambda x, c: x / c), ("rdivScalar", lambda x, c: c / x)]:
    for _ in range(22):
        c = rng.choice(scalar_constants + [rng.gauss(0, 2)])
        case("arithmetic", op, {"c": c}, [make(shape(rng.randint(0, 3)), style())], lambda v, fn=fn, c=c: fn(v[0], c))

for _ in range(70):
    p = rng.choice([0.0, 1.0, 2.0, 3.0, 0.5, -1.0, -1.5, 2.5, -2.0, 0.0, 4.0])
    x = make(shape(rng.randint(0, 3)), style(), specials=("zero", "zero", "nonfinite", "subnormal", "tiny"))
    case("arithmetic", "powScalar", {"p": p}, [x], lambda v, p=p: torch.pow(v[0], p))

for _ in range(90):
    a, b = broadcast_pair(3)
    x = make(a, style(), domain="positive" if rng.random() < 0.5 else None,
             specials=("zero", "zero", "nonfinite", "subnormal", "tiny"), rate=0.35)
    p = make(b, "normal")
    if rng.random() < 0.6:
        # Exponents 0, integers, halves and negative values, where the boundary conventions live.
        p = torch.tensor([rng.choice([0.0, 0.0, 1.0, 2.0, 0.5, -1.0, 3.0, -0.5, 1.5]) for _ in range(p.numel())]).reshape(b)
    case("arithmetic", "pow", {}, [x, p], lambda v: torch.pow(v[0], v[1]))

# --------------------------------------------------------------------------------------------------
# Math

for op, fn, domain in [("exp", torch.exp, None), ("log", torch.log, "positive"), ("sqrt", torch.sqrt, "positive"),
                       ("rsqrt", torch.rsqrt, "positive"), ("abs", torch.abs, None), ("square", torch.square, None)]:
    for _ in range(32):
        case("math", op, {}, [make(shape(rng.randint(0, 3)), style(), domain=domain if rng.random() < 0.6 else None)],
             lambda v, fn=fn: fn(v[0]))

for _ in range(45):
    lo = rng.choice([-1.0, -0.5, 0.0, -2.0, -INF])
    hi = rng.choice([1.0, 0.5, 0.0, 2.0, INF])
    if hi < lo:
        lo, hi = hi, lo
    x = make(shape(rng.randint(0, 3)), style())
    # Values exactly on the bounds: PyTorch's gradient passes there (the bounds are inclusive).
    flat = x.flatten()
    for i in range(flat.numel()):
        if rng.random() < 0.15 and math.isfinite(lo):
            flat[i] = lo
        elif rng.random() < 0.15 and math.isfinite(hi):
            flat[i] = hi
    x = flat.reshape(x.shape)
    case("math", "clamp", {"lo": lo, "hi": hi}, [x], lambda v, lo=lo, hi=hi: torch.clamp(v[0], lo, hi))

# --------------------------------------------------------------------------------------------------
# Activations

activations = [
    ("tanh", {}, lambda x, p: torch.tanh(x)),
    ("sigmoid", {}, lambda x, p: torch.sigmoid(x)),
    ("relu", {}, lambda x, p: torch.relu(x)),
    ("leakyRelu", "slope", lambda x, p: F.leaky_relu(x, p["slope"])),
    ("elu", "alpha", lambda x, p: F.elu(x, p["alpha"])),
    ("gelu", {}, lambda x, p: F.gelu(x)),
    ("geluTanh", {}, lambda x, p: F.gelu(x, approximate="tanh")),
    ("silu", {}, lambda x, p: F.silu(x)),
    ("softplus", "beta", lambda x, p: F.softplus(x, p["beta"], p["threshold"])),
]
for op, kind, fn in activations:
    for _ in range(36):
        params = {}
        if kind == "slope":
            params = {"slope": rng.choice([0.01, 0.2, 0.0, -0.5, 1.5])}
        elif kind == "alpha":
            params = {"alpha": rng.choice([1.0, 0.5, 2.0, 0.0])}
        elif kind == "beta":
            params = {"beta": rng.choice([1.0, 2.0, 0.5]), "threshold": rng.choice([20.0, 5.0, 1.0])}
        x = make(shape(rng.randint(0, 3)), style())
        if rng.random() < 0.3:
            # Exactly at the kinks: 0 and −0.
            flat = x.flatten()
            for i in range(flat.numel()):
                if rng.random() < 0.3:
                    flat[i] = rng.choice(ZERO)
            x = flat.reshape(x.shape)
        case("activations", op, params, [x], lambda v, fn=fn, params=params: fn(v[0], params))

for _ in range(12):
    # Dropout with p = 0 (identity in training) and in evaluation, where it is deterministic.
    params = {"p": rng.choice([0.0, 0.5]), "training": rng.random() < 0.5}
    if params["p"] > 0:
        params["training"] = False
    case("activations", "dropout", params, [make(shape(rng.randint(0, 3)), style())],
         lambda v, params=params: F.dropout(v[0], params["p"], params["training"]))

# --------------------------------------------------------------------------------------------------
# Softmax family (including reductions over empty axes and rows of -inf)


def softmax_input(rank):
    x = make(shape(rank, zero_rate=0.15), style(), specials=("zero", "nonfinite", "subnormal", "huge", "tiny"))
    if rng.random() < 0.2 and x.numel() > 0:
        x = x.clone()
        x.view(-1)[: max(1, x.numel() // 2)] = -INF
    return x


for op in ["softmax", "logSoftmax"]:
    for _ in range(45):
        rank = rng.randint(1, 3)
        x = softmax_input(rank)
        axis = rng.randint(-rank, rank - 1)
        fn = (lambda v, a=axis: torch.softmax(v[0], a)) if op == "softmax" else (lambda v, a=axis: torch.log_softmax(v[0], a))
        case("softmax", op, {"axis": axis}, [x], fn)
for _ in range(45):
    rank = rng.randint(1, 3)
    x = softmax_input(rank)
    axes = sorted(rng.sample(range(rank), rng.randint(1, rank)))
    keep = rng.random() < 0.5
    case("softmax", "logSumExp", {"axes": axes, "keep": keep}, [x], lambda v, a=axes, k=keep: torch.logsumexp(v[0], a, keepdim=k))

# --------------------------------------------------------------------------------------------------
# Reductions

for _ in range(25):
    case("reductions", "sumAll", {}, [make(shape(rng.randint(0, 3)), style())], lambda v: v[0].sum())
    case("reductions", "meanAll", {}, [make(shape(rng.randint(0, 3)), style())], lambda v: v[0].mean())
for op in ["sum", "mean", "variance"]:
    for _ in range(32):
        rank = rng.randint(1, 4)
        axes = sorted(rng.sample(range(rank), rng.randint(1, rank)))
        keep = rng.random() < 0.5
        params = {"axes": axes, "keep": keep}
        if op == "variance":
            params["correction"] = rng.choice([0, 1, 1, 2])
            fn = lambda v, p=params: torch.var(v[0], p["axes"], correction=p["correction"], keepdim=p["keep"])
        elif op == "sum":
            fn = lambda v, p=params: torch.sum(v[0], p["axes"], keepdim=p["keep"])
        else:
            fn = lambda v, p=params: torch.mean(v[0], p["axes"], keepdim=p["keep"])
        case("reductions", op, params, [make(shape(rank), style())], fn)
for op in ["max", "min"]:
    for _ in range(32):
        rank = rng.randint(1, 3)
        s = shape(rank)
        axis = rng.randint(-rank, rank - 1)
        s[axis] = max(s[axis], 1)
        keep = rng.random() < 0.5
        x = make(s, style())
        if rng.random() < 0.3:
            # Ties: PyTorch's max(dim) sends the gradient to the index it returns (the first maximum).
            x = torch.round(x.clamp(-2, 2)) if torch.isfinite(x).all() else x
        fn = (lambda v, a=axis, k=keep: torch.max(v[0], a, keepdim=k).values) if op == "max" else \
             (lambda v, a=axis, k=keep: torch.min(v[0], a, keepdim=k).values)
        case("reductions", op, {"axis": axis, "keep": keep}, [x], fn)

# --------------------------------------------------------------------------------------------------
# Linear algebra

for _ in range(80):
    kind = rng.choice(["1x1", "1x2", "2x1", "2x2", "2x2", "batch", "batch"])
    m, k, n = size(0.1, 4), size(0.1, 4), size(0.1, 4)
    if kind == "1x1":
        a, b = [k], [k]
    elif kind == "1x2":
        a, b = [k], [k, n]
    elif kind == "2x1":
        a, b = [m, k], [k]
    elif kind == "2x2":
        a, b = [m, k], [k, n]
    else:
        batch = shape(rng.randint(1, 2), zero_rate=0.05, maximum=3)
        ba = [x if rng.random() < 0.7 else 1 for x in batch]
        bb = [x if rng.random() < 0.7 else 1 for x in batch]
        if rng.random() < 0.3:
            bb = bb[1:]
        a, b = ba + [m, k], bb + [k, n]
    case("linearAlgebra", "matmul", {}, [make(a, style(), specials=("zero", "nonfinite", "subnormal", "tiny")),
                                          make(b, style(), specials=("zero", "nonfinite", "subnormal", "tiny"))],
         lambda v: torch.matmul(v[0], v[1]))

# --------------------------------------------------------------------------------------------------
# Shape


def any_input(rank, zero_rate=0.12):
    return make(shape(rank, zero_rate), style())


for _ in range(16):
    x = any_input(rng.randint(0, 3))
    count = x.numel()
    target = rng.choice([[count], [1, count], [count, 1], [-1], [count, -1] if count else [0, 2]])
    if count and count % 2 == 0:
        target = rng.choice([target, [2, count // 2], [-1, 2]])
    case("shape", "reshape", {"shape": target}, [x], lambda v, t=target: v[0].reshape(t))
for _ in range(16):
    rank = rng.randint(1, 4)
    order = list(range(rank))
    rng.shuffle(order)
    case("shape", "permute", {"order": order}, [any_input(rank)], lambda v, o=order: v[0].permute(o))
for _ in range(14):
    rank = rng.randint(1, 4)
    case("shape", "transpose", {}, [any_input(rank)], lambda v: v[0].transpose(-1, -2) if v[0].dim() >= 2 else v[0])
for _ in range(14):
    rank = rng.randint(1, 4)
    a0, a1 = rng.randint(-rank, rank - 1), rng.randint(-rank, rank - 1)
    case("shape", "transposeAxes", {"a": a0, "b": a1}, [any_input(rank)], lambda v, a=a0, b=a1: v[0].transpose(a, b))
for _ in range(16):
    rank = rng.randint(0, 3)
    s = shape(rank)
    target = [rng.randint(0, 3) if x == 1 else x for x in s]
    target = shape(rng.randint(0, 1), 0.1, 3) + target
    case("shape", "expand", {"shape": target}, [make(s, style())], lambda v, t=target: v[0].expand(t))
for _ in range(14):
    rank = rng.randint(1, 4)
    s = [x if rng.random() < 0.5 else 1 for x in shape(rank)]
    ones = [i for i, x in enumerate(s) if x == 1]
    axes = sorted(rng.sample(ones, rng.randint(0, len(ones)))) if ones else []
    fn = (lambda v, a=axes: torch.squeeze(v[0], tuple(a))) if axes else (lambda v: torch.squeeze(v[0]))
    case("shape", "squeeze", {"axes": axes}, [make(s, style())], fn)
for _ in range(12):
    rank = rng.randint(0, 3)
    axis = rng.randint(-rank - 1, rank)
    case("shape", "unsqueeze", {"axis": axis}, [any_input(rank)], lambda v, a=axis: v[0].unsqueeze(a))
for _ in range(18):
    rank = rng.randint(1, 3)
    s = shape(rank)
    axis = rng.randint(0, rank - 1)
    lo = rng.randint(0, s[axis])
    hi = rng.randint(lo, s[axis])
    case("shape", "slice", {"axis": axis, "lo": lo, "hi": hi}, [make(s, style())], lambda v, a=axis, l=lo, h=hi: v[0].narrow(a, l, h - l))
for _ in range(18):
    rank = rng.randint(1, 3)
    base = shape(rank)
    axis = rng.randint(-rank, rank - 1)
    parts = []
    for _ in range(rng.randint(1, 3)):
        s = list(base)
        s[axis] = size()
        parts.append(make(s, style()))
    case("shape", "concatenate", {"axis": axis}, parts, lambda v, a=axis: torch.cat(v, a))
for _ in range(14):
    rank = rng.randint(0, 3)
    s = shape(rank)
    axis = rng.randint(-rank - 1, rank)
    parts = [make(s, style()) for _ in range(rng.randint(1, 3))]
    case("shape", "stack", {"axis": axis}, parts, lambda v, a=axis: torch.stack(v, a))
for _ in range(14):
    rank = rng.randint(1, 3)
    s = shape(rank)
    axis = rng.randint(0, rank - 1)
    sizes, left = [], s[axis]
    while left > 0:
        piece = rng.randint(0, left)
        sizes.append(piece)
        left -= piece
    sizes.append(0) if rng.random() < 0.3 else None
    if not sizes:
        sizes = [0]
    case("shape", "split", {"sizes": sizes, "axis": axis}, [make(s, style())],
         lambda v, z=sizes, a=axis: torch.cat([p.flatten() for p in torch.split(v[0], z, a)]))
for _ in range(14):
    big, small = broadcast_pair(3)
    target = list(small)
    full = torch.broadcast_shapes(tuple(big), tuple(small))
    case("shape", "sumToShape", {"shape": target}, [make(list(full), style())], lambda v, t=target: v[0].sum_to_size(t) if t else v[0].sum())
for _ in range(12):
    rank = rng.randint(1, 4)
    start = rng.randint(-rank, rank - 1)
    end = rng.randint(start % rank, rank - 1)
    case("shape", "flatten", {"start": start, "end": end}, [any_input(rank)], lambda v, s=start, e=end: torch.flatten(v[0], s, e))

# --------------------------------------------------------------------------------------------------
# Indexing

for _ in range(30):
    rank = rng.randint(1, 3)
    s = shape(rank)
    axis = rng.randint(0, rank - 1)
    s[axis] = max(s[axis], 1)
    indices = [rng.randint(0, s[axis] - 1) for _ in range(rng.randint(0, 5))]
    case("indexing", "gather", {"indices": indices, "axis": axis}, [make(s, style())],
         lambda v, i=indices, a=axis: torch.index_select(v[0], a, torch.tensor(i, dtype=torch.long)))
for _ in range(30):
    vocab, dim = rng.randint(1, 5), size(0.1)
    ids_shape = shape(rng.randint(1, 2))
    count = 1
    for x in ids_shape:
        count *= x
    ids = [rng.randint(0, vocab - 1) for _ in range(count)]
    case("indexing", "embedding", {"ids": ids, "idShape": ids_shape}, [make([vocab, dim], style())],
         lambda v, i=ids, s=ids_shape: F.embedding(torch.tensor(i, dtype=torch.long).reshape(s), v[0]))
for _ in range(40):
    c, a = broadcast_pair(3)
    _, b = broadcast_pair(0) if rng.random() < 0.3 else (None, list(a))
    condition = [rng.random() < 0.5 for _ in range(int(torch.tensor(c).prod().item()) if c else 1)]
    case("indexing", "where", {"condition": [int(x) for x in condition], "conditionShape": c}, [make(a, style()), make(b, style())],
         lambda v, cond=condition, cs=c: torch.where(torch.tensor(cond).reshape(cs), v[0], v[1]))
for _ in range(30):
    a, m = broadcast_pair(3)
    try:
        full = list(torch.broadcast_shapes(tuple(a), tuple(m)))
    except RuntimeError:
        continue
    if full != list(a):
        m = list(a)
    mask = [rng.random() < 0.4 for _ in range(int(torch.tensor(m).prod().item()) if m else 1)]
    fill = rng.choice([0.0, -INF, 2.5, NAN])
    case("indexing", "maskedFill", {"mask": [int(x) for x in mask], "maskShape": m, "fill": fill}, [make(a, style())],
         lambda v, k=mask, ms=m, f=fill: v[0].masked_fill(torch.tensor(k).reshape(ms), f))

# --------------------------------------------------------------------------------------------------
# Convolution and pooling

for _ in range(80):
    groups = rng.choice([1, 1, 2, 3])
    cin, cout = groups * rng.randint(1, 2), groups * rng.randint(1, 2)
    kh, kw = rng.randint(1, 3), rng.randint(1, 3)
    stride = [rng.randint(1, 2), rng.randint(1, 2)]
    padding = [rng.randint(0, 2), rng.randint(0, 1)]
    dilation = [rng.randint(1, 2), rng.randint(1, 2)]
    h = max(dilation[0] * (kh - 1) + 1 - 2 * padding[0], 0) + rng.randint(0, 3)
    w = max(dilation[1] * (kw - 1) + 1 - 2 * padding[1], 0) + rng.randint(0, 3)
    n = rng.choice([1, 2, 2, 0])
    bias = rng.random() < 0.6
    inputs = [make([n, cin, h, w], style(), specials=("zero", "nonfinite", "subnormal", "tiny")),
              make([cout, cin // groups, kh, kw], "normal")]
    if bias:
        inputs.append(make([cout], "normal"))
    params = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    case("convolution", "conv2d", params, inputs,
         lambda v, p=params: F.conv2d(v[0], v[1], v[2] if len(v) > 2 else None, p["stride"], p["padding"], p["dilation"], p["groups"]))

for _ in range(55):
    kh, kw = rng.randint(1, 3), rng.randint(1, 3)
    stride = [rng.randint(1, 3), rng.randint(1, 3)]
    padding = [rng.randint(0, kh // 2), rng.randint(0, kw // 2)]
    dilation = [rng.randint(1, 2), rng.randint(1, 2)]
    ceil = rng.random() < 0.4
    h = max(dilation[0] * (kh - 1) + 1 - 2 * padding[0], 1) + rng.randint(0, 3)
    w = max(dilation[1] * (kw - 1) + 1 - 2 * padding[1], 1) + rng.randint(0, 3)
    x = make([rng.randint(0, 2), rng.randint(1, 2), h, w], style())
    params = {"kernel": [kh, kw], "stride": stride, "padding": padding, "dilation": dilation, "ceil": ceil}
    case("pooling", "maxPool2d", params, [x],
         lambda v, p=params: F.max_pool2d(v[0], p["kernel"], p["stride"], p["padding"], p["dilation"], ceil_mode=p["ceil"]))
for _ in range(55):
    kh, kw = rng.randint(1, 3), rng.randint(1, 3)
    stride = [rng.randint(1, 3), rng.randint(1, 3)]
    padding = [rng.randint(0, kh // 2), rng.randint(0, kw // 2)]
    ceil = rng.random() < 0.4
    include = rng.random() < 0.5
    h = max(kh - 2 * padding[0], 1) + rng.randint(0, 3)
    w = max(kw - 2 * padding[1], 1) + rng.randint(0, 3)
    x = make([rng.randint(0, 2), rng.randint(1, 2), h, w], style())
    params = {"kernel": [kh, kw], "stride": stride, "padding": padding, "ceil": ceil, "countIncludePad": include}
    case("pooling", "avgPool2d", params, [x],
         lambda v, p=params: F.avg_pool2d(v[0], p["kernel"], p["stride"], p["padding"], ceil_mode=p["ceil"], count_include_pad=p["countIncludePad"]))
for _ in range(15):
    x = make([rng.randint(0, 2), rng.randint(1, 3), rng.randint(1, 3), rng.randint(1, 3)], style())
    case("pooling", "globalAveragePool", {}, [x], lambda v: v[0].mean((2, 3)))

# --------------------------------------------------------------------------------------------------
# Normalization


def norm_input(s):
    # Normalization statistics of huge values overflow differently in every summation order, so the
    # special values here are zeros, non-finite values, subnormals and tiny numbers.
    return make(s, style(), specials=("zero", "nonfinite", "subnormal", "tiny"), rate=0.12)


for _ in range(42):
    rank = rng.randint(2, 4)
    s = [rng.randint(1, 3) for _ in range(rank)]
    if s[0] * (1 if rank == 2 else s[2] * (s[3] if rank > 3 else 1)) < 2:
        s[0] = 2
    c = s[1]
    affine = rng.random() < 0.7
    eps = rng.choice([1e-5, 1e-3, 0.0, 0.1])
    inputs = [norm_input(s)] + ([make([c]), make([c])] if affine else [])
    case("normalization", "batchNorm", {"eps": eps, "affine": affine}, inputs,
         lambda v, e=eps: F.batch_norm(v[0], None, None, v[1] if len(v) > 1 else None, v[2] if len(v) > 1 else None, True, 0.1, e))
for _ in range(30):
    rank = rng.randint(2, 4)
    s = [rng.randint(0, 3)] + [rng.randint(1, 3) for _ in range(rank - 1)]
    c = s[1]
    eps = rng.choice([1e-5, 0.1])
    mean = make([c], "normal")
    var = make([c], "normal", domain="positive")
    affine = rng.random() < 0.6
    inputs = [norm_input(s)] + ([make([c]), make([c])] if affine else [])
    case("normalization", "batchNormEval", {"eps": eps, "affine": affine, "mean": [float(x) for x in mean], "var": [float(x) for x in var]}, inputs,
         lambda v, e=eps, m=mean, va=var: F.batch_norm(v[0], m, va, v[1] if len(v) > 1 else None, v[2] if len(v) > 1 else None, False, 0.1, e))
for _ in range(45):
    rank = rng.randint(1, 4)
    s = shape(rank, zero_rate=0.05, maximum=4)
    normalized = s[rng.randint(0, rank - 1):]
    if any(x == 0 for x in normalized):
        normalized = [max(x, 1) for x in normalized]
        s = s[: rank - len(normalized)] + normalized
    affine = rng.choice(["none", "weight", "both"])
    eps = rng.choice([1e-5, 1e-3, 0.0])
    inputs = [norm_input(s)] + ([make(normalized)] if affine != "none" else []) + ([make(normalized)] if affine == "both" else [])
    case("normalization", "layerNorm", {"normalized": normalized, "eps": eps, "affine": affine}, inputs,
         lambda v, n=normalized, e=eps: F.layer_norm(v[0], n, v[1] if len(v) > 1 else None, v[2] if len(v) > 2 else None, e))
for _ in range(32):
    groups = rng.randint(1, 3)
    c = groups * rng.randint(1, 2)
    s = [rng.randint(0, 2), c] + [rng.randint(1, 3) for _ in range(rng.randint(0, 2))]
    affine = rng.random() < 0.6
    eps = rng.choice([1e-5, 0.1])
    inputs = [norm_input(s)] + ([make([c]), make([c])] if affine else [])
    case("normalization", "groupNorm", {"groups": groups, "eps": eps, "affine": affine}, inputs,
         lambda v, g=groups, e=eps: F.group_norm(v[0], g, v[1] if len(v) > 1 else None, v[2] if len(v) > 1 else None, e))
for _ in range(32):
    s = [rng.randint(1, 2), rng.randint(1, 3)] + [rng.randint(1, 3) for _ in range(rng.randint(1, 2))]
    if all(x == 1 for x in s[2:]):
        s[2] = 2
    c = s[1]
    affine = rng.random() < 0.5
    eps = rng.choice([1e-5, 0.1])
    inputs = [norm_input(s)] + ([make([c]), make([c])] if affine else [])
    case("normalization", "instanceNorm", {"eps": eps, "affine": affine}, inputs,
         lambda v, e=eps: F.instance_norm(v[0], None, None, v[1] if len(v) > 1 else None, v[2] if len(v) > 1 else None, True, 0.1, e))
for _ in range(42):
    rank = rng.randint(1, 4)
    s = shape(rank, zero_rate=0.05)
    normalized = [max(x, 1) for x in s[rng.randint(0, rank - 1):]]
    s = s[: rank - len(normalized)] + normalized
    affine = rng.random() < 0.6
    eps = rng.choice([None, 1e-6, 0.0, 0.1])
    inputs = [norm_input(s)] + ([make(normalized)] if affine else [])
    params = {"normalized": normalized, "affine": affine}
    if eps is not None:
        params["eps"] = eps
    case("normalization", "rmsNorm", params, inputs,
         lambda v, n=normalized, e=eps: F.rms_norm(v[0], n, v[1] if len(v) > 1 else None, e))

# --------------------------------------------------------------------------------------------------
# Losses

reductions = ["mean", "sum", "none"]
for op, fn in [("meanSquaredError", F.mse_loss), ("l1Loss", F.l1_loss)]:
    for _ in range(32):
        s = shape(rng.randint(0, 3))
        r = rng.choice(reductions)
        case("losses", op, {"reduction": r}, [make(s, style()), make(s, style())], lambda v, fn=fn, r=r: fn(v[0], v[1], reduction=r))
for _ in range(90):
    layout = rng.choice(["C", "NC", "NC", "NCd"])
    classes = rng.randint(1, 4)
    if layout == "C":
        s, ts = [classes], []
    elif layout == "NC":
        s, ts = [rng.randint(0, 3), classes], None
        ts = [s[0]]
    else:
        s = [rng.randint(1, 2), classes, rng.randint(0, 3)]
        ts = [s[0], s[2]]
    count = 1
    for x in ts:
        count *= x
    ignore = rng.choice([-100, 0, 1])
    targets = [rng.choice(list(range(classes)) + [ignore]) for _ in range(count)]
    smoothing = rng.choice([0.0, 0.0, 0.1, 0.5, 1.0])
    r = rng.choice(reductions)
    x = make(s, style(), specials=("zero", "nonfinite", "subnormal", "tiny", "huge"), rate=0.15)
    params = {"targets": targets, "ignore": ignore, "smoothing": smoothing, "reduction": r}
    case("losses", "crossEntropy", params, [x],
         lambda v, t=targets, ts=ts, p=params: F.cross_entropy(v[0], torch.tensor(t, dtype=torch.long).reshape(ts), ignore_index=p["ignore"],
                                                               reduction=p["reduction"], label_smoothing=p["smoothing"]))
for _ in range(40):
    classes = rng.randint(1, 4)
    n = rng.randint(0, 3)
    ignore = rng.choice([-100, 0])
    targets = [rng.choice(list(range(classes)) + [ignore]) for _ in range(n)]
    r = rng.choice(reductions)
    x = make([n, classes], style())
    case("losses", "negativeLogLikelihood", {"targets": targets, "ignore": ignore, "reduction": r}, [x],
         lambda v, t=targets, p=r, i=ignore: F.nll_loss(v[0], torch.tensor(t, dtype=torch.long), ignore_index=i, reduction=p))
for _ in range(60):
    s = shape(rng.randint(0, 3))
    r = rng.choice(reductions)
    weighted = rng.random() < 0.4 and len(s) > 0
    x = make(s, style(), specials=("zero", "nonfinite", "subnormal", "huge", "tiny"), rate=0.2)
    y = make(s, "normal", domain="unit")
    inputs = [x, y]
    params = {"reduction": r}
    if weighted:
        params["posWeight"] = [abs(rng.gauss(1, 1)) for _ in range(s[-1])]
        params["posWeightShape"] = [s[-1]]
    case("losses", "binaryCrossEntropy", params, inputs,
         lambda v, p=params: F.binary_cross_entropy_with_logits(v[0], v[1], reduction=p["reduction"],
                                                                pos_weight=torch.tensor(p["posWeight"]) if "posWeight" in p else None))

# --------------------------------------------------------------------------------------------------
# Layers

for _ in range(40):
    s = shape(rng.randint(1, 3), zero_rate=0.1)
    fan_in, fan_out = s[-1], size(0.1)
    bias = rng.random() < 0.6
    inputs = [make(s, style(), specials=("zero", "nonfinite", "subnormal", "tiny")), make([fan_out, fan_in])]
    if bias:
        inputs.append(make([fan_out]))
    case("layers", "linear", {}, inputs, lambda v: F.linear(v[0], v[1], v[2] if len(v) > 2 else None))


def padding_mask(n, s_len, fully):
    rows = []
    for i in range(n):
        row = [rng.random() < 0.3 for _ in range(s_len)]
        if fully and i == 0:
            row = [True] * s_len
        rows.append(row)
    return rows


for _ in range(45):
    n, h, length, keys, d, dv = rng.randint(1, 2), rng.randint(1, 2), rng.randint(1, 3), rng.randint(1, 3), rng.randint(1, 3), rng.randint(1, 3)
    causal = rng.random() < 0.4
    use_mask = rng.random() < 0.6
    fully = use_mask and rng.random() < 0.5
    mask = padding_mask(n, keys, fully) if use_mask else None
    q, k, v = make([n, h, length, d], "normal"), make([n, h, keys, d], "normal"), make([n, h, keys, dv], "normal")
    params = {"causal": causal}
    if mask is not None:
        params["keyPadding"] = mask

    def sdpa(vs, causal=causal, mask=mask, length=length, keys=keys):
        attend = torch.ones(vs[0].shape[0], 1, length, keys, dtype=torch.bool)
        if causal:
            attend = attend & torch.ones(length, keys, dtype=torch.bool).tril()
        if mask is not None:
            attend = attend & ~torch.tensor(mask).reshape(len(mask), 1, 1, keys)
        return F.scaled_dot_product_attention(vs[0], vs[1], vs[2], attn_mask=attend)

    case("layers", "scaledDotProductAttention", params, [q, k, v], sdpa)

for _ in range(30):
    heads = rng.choice([1, 2])
    e = heads * rng.randint(1, 2)
    n, length, keys = rng.randint(1, 2), rng.randint(1, 3), rng.randint(1, 3)
    self_attention = rng.random() < 0.5
    if self_attention:
        keys = length
    causal = rng.random() < 0.3 and self_attention
    use_mask = rng.random() < 0.5
    mask = padding_mask(n, keys, rng.random() < 0.3) if use_mask else None
    bias = rng.random() < 0.7
    x = make([n, length, e], "normal")
    kv = x if self_attention else make([n, keys, e], "normal")
    inputs = [x, kv, make([3 * e, e], "normal"), make([e, e], "normal")] + ([make([3 * e], "normal"), make([e], "normal")] if bias else [])
    params = {"heads": heads, "causal": causal, "self": self_attention, "bias": bias}
    if mask is not None:
        params["keyPadding"] = mask

    def mha(vs, heads=heads, e=e, causal=causal, mask=mask, bias=bias, self_attention=self_attention):
        query = vs[0]
        kv = vs[0] if self_attention else vs[1]
        attend = None
        L, S = query.shape[1], kv.shape[1]
        blocked = torch.zeros(query.shape[0], 1, L, S, dtype=torch.bool)
        if causal:
            blocked = blocked | ~torch.ones(L, S, dtype=torch.bool).tril()
        if mask is not None:
            blocked = blocked | torch.tensor(mask).reshape(len(mask), 1, 1, S)
        # nn.MultiheadAttention's computation with need_weights=False (scaled_dot_product_attention),
        # batch first, written out so that its inputs can be leaves.
        w_q, w_k, w_v = vs[2].chunk(3)
        b_q, b_k, b_v = vs[4].chunk(3) if bias else (None, None, None)
        q = F.linear(query, w_q, b_q).reshape(query.shape[0], L, heads, e // heads).transpose(1, 2)
        k = F.linear(kv, w_k, b_k).reshape(kv.shape[0], S, heads, e // heads).transpose(1, 2)
        v = F.linear(kv, w_v, b_v).reshape(kv.shape[0], S, heads, e // heads).transpose(1, 2)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=~blocked)
        a = a.transpose(1, 2).reshape(query.shape[0], L, e)
        return F.linear(a, vs[3], vs[5] if bias else None)

    checked = [0, 2, 3] + ([4, 5] if bias else []) + ([] if self_attention else [1])
    case("layers", "multiHeadAttention", params, inputs, mha, checked=sorted(checked))

for _ in range(24):
    e, hidden = rng.randint(1, 3), rng.randint(1, 4)
    activation = rng.choice(["relu", "gelu", "geluTanh"])
    x = make([rng.randint(1, 2), rng.randint(1, 3), e], style(), specials=("zero", "subnormal", "tiny"))
    inputs = [x, make([hidden, e]), make([hidden]), make([e, hidden]), make([e])]

    def feed_forward(vs, activation=activation):
        h = F.linear(vs[0], vs[1], vs[2])
        h = F.relu(h) if activation == "relu" else F.gelu(h, approximate="tanh" if activation == "geluTanh" else "none")
        return F.linear(h, vs[3], vs[4])

    case("layers", "feedForward", {"activation": activation}, inputs, feed_forward)

for _ in range(24):
    heads = rng.choice([1, 2])
    e = heads * rng.randint(1, 2)
    f = rng.randint(1, 4)
    n, length = rng.randint(1, 2), rng.randint(1, 3)
    placement = rng.choice(["postNorm", "preNorm"])
    causal = rng.random() < 0.3
    activation = rng.choice(["relu", "gelu"])
    layer = torch.nn.TransformerEncoderLayer(e, heads, f, dropout=0.0, activation=activation, batch_first=True,
                                             norm_first=placement == "preNorm", dtype=torch.float64)
    for parameter in layer.parameters():
        with torch.no_grad():
            parameter.copy_(make(list(parameter.shape)))
    layer.train()
    names = ["self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
             "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"]
    state = dict(layer.named_parameters())
    x = make([n, length, e], "normal")
    inputs = [x] + [state[name].detach().clone() for name in names]

    def block(vs, layer=layer, names=names, causal=causal, length=length):
        mask = torch.nn.Transformer.generate_square_subsequent_mask(length, dtype=torch.float64) if causal else None
        return torch.func.functional_call(layer, dict(zip(names, vs[1:])), (vs[0],), {"src_mask": mask, "is_causal": causal})

    case("layers", "transformerBlock", {"heads": heads, "placement": placement, "causal": causal, "activation": activation,
                                        "feedForward": f}, inputs, block)

# --------------------------------------------------------------------------------------------------
# Layers without a PyTorch module, written out in PyTorch ops from their documented formulas

for _ in range(24):
    s = [rng.randint(2, 3)] + [rng.randint(1, 3) for _ in range(rng.randint(0, 1))] + [rng.randint(2, 4)]
    eps = rng.choice([1e-3, 1e-5])
    batch_size = rng.choice([None, None, 1, 4])
    affine = rng.random() < 0.6
    d = s[-1]
    inputs = [norm_input(s)] + ([make([d]), make([d])] if affine else [])
    params = {"eps": eps, "affine": affine}
    if batch_size is not None:
        params["batchSize"] = batch_size

    def batch_layer_norm(v, eps=eps, m=batch_size):
        x = v[0]
        m = float(m if m is not None else x.shape[0])
        xb = (x - x.mean(0, keepdim=True)) / (x.var(0, keepdim=True, correction=0) + eps).sqrt()
        xf = (x - x.mean(-1, keepdim=True)) / (x.var(-1, keepdim=True, correction=0) + eps).sqrt()
        y = ((1 / m - 1e-4) * xf + (1 - (1 / m + 1e-4)) * xb) / math.sqrt(x.shape[-1])
        return y * v[1] + v[2] if len(v) > 1 else y

    case("normalization", "batchLayerNorm", params, inputs, batch_layer_norm)

for _ in range(24):
    s = [rng.randint(1, 3) for _ in range(rng.randint(1, 3))]
    s[-1] = rng.randint(2, 4)
    eps = rng.choice([1e-6, 1e-3])
    affine = rng.random() < 0.6
    d = s[-1]
    inputs = [norm_input(s)] + ([make([d]), make([d])] if affine else [])

    def annotated(v, eps=eps):
        x = v[0]
        centered = x - x.mean(-1, keepdim=True)
        y = centered / (x.std(-1, keepdim=True, correction=1) + eps)
        return y * v[1] + v[2] if len(v) > 1 else y

    case("normalization", "layerNormAnnotated", {"eps": eps, "affine": affine}, inputs, annotated)

for _ in range(16):
    vocab, maximum, e = rng.randint(1, 5), rng.randint(1, 4), rng.randint(1, 3)
    n, length = rng.randint(0, 2), rng.randint(1, maximum)
    ids = [rng.randint(0, vocab - 1) for _ in range(n * length)]
    case("layers", "tokenAndPositionEmbedding", {"ids": ids, "shape": [n, length]}, [make([vocab, e]), make([maximum, e])],
         lambda v, i=ids, n=n, length=length: F.embedding(torch.tensor(i, dtype=torch.long).reshape(n, length), v[0]) + v[1][:length])

# --------------------------------------------------------------------------------------------------
# Every special value through every elementwise op, softmax and loss, deterministically

EDGE = [0.0, -0.0, INF, -INF, NAN, 5e-324, -2.5e-310, 1e300, -1e300, 1e-300, -1e-300, 1.5, -1.5, 0.5, -2.0, 20.0, -20.0, 800.0, -800.0]
edge = torch.tensor(EDGE)
for op, fn in [("exp", torch.exp), ("log", torch.log), ("sqrt", torch.sqrt), ("rsqrt", torch.rsqrt), ("abs", torch.abs),
               ("square", torch.square), ("negate", torch.neg)]:
    case("math" if op != "negate" else "arithmetic", op, {}, [edge], lambda v, fn=fn: fn(v[0]))
for op, kind, fn in activations:
    params = {"slope": 0.2} if kind == "slope" else {"alpha": 1.5} if kind == "alpha" else {"beta": 1.0, "threshold": 20.0} if kind == "beta" else {}
    case("activations", op, params, [edge], lambda v, fn=fn, params=params: fn(v[0], params))
for p in [0.0, 1.0, 2.0, 3.0, 0.5, -0.5, -1.0, -2.0, 1.5, -1.5]:
    case("arithmetic", "powScalar", {"p": p}, [edge], lambda v, p=p: torch.pow(v[0], p))
for p in [0.0, 1.0, 0.5, -1.0, 2.0, -0.5, INF, -INF, NAN]:
    case("arithmetic", "pow", {}, [edge, torch.tensor([p])], lambda v: torch.pow(v[0], v[1]))
    case("arithmetic", "pow", {}, [torch.tensor([p]), edge], lambda v: torch.pow(v[0], v[1]))
for c in [0.0, -0.0, INF, NAN, 2.0]:
    for op, fn in [("addScalar", lambda x, c: x + c), ("multiplyScalar", lambda x, c: x * c), ("divideScalar", lambda x, c: x / c),
                   ("rdivScalar", lambda x, c: c / x)]:
        case("arithmetic", op, {"c": c}, [edge], lambda v, fn=fn, c=c: fn(v[0], c))
for op, fn in [("add", torch.add), ("subtract", torch.sub), ("multiply", torch.mul), ("divide", torch.div)]:
    case("arithmetic", op, {}, [edge.reshape(-1, 1), edge.reshape(1, -1)], lambda v, fn=fn: fn(v[0], v[1]))
for lo, hi in [(-1.0, 1.0), (0.0, INF), (-INF, 0.0), (0.0, 0.0)]:
    case("math", "clamp", {"lo": lo, "hi": hi}, [edge], lambda v, lo=lo, hi=hi: torch.clamp(v[0], lo, hi))

rows = torch.tensor([[0.0, 1.0, 2.0], [-INF, -INF, -INF], [INF, 0.0, 1.0], [NAN, 0.0, 1.0], [-INF, 0.0, 1.0],
                     [1e300, -1e300, 0.0], [800.0, -800.0, 0.0], [INF, INF, 0.0], [-INF, INF, 0.0], [5e-324, -0.0, 0.0]])
for axis in [1, -1]:
    case("softmax", "softmax", {"axis": axis}, [rows], lambda v, a=axis: torch.softmax(v[0], a))
    case("softmax", "logSoftmax", {"axis": axis}, [rows], lambda v, a=axis: torch.log_softmax(v[0], a))
    case("softmax", "logSumExp", {"axes": [1], "keep": axis == 1}, [rows], lambda v, k=axis == 1: torch.logsumexp(v[0], [1], keepdim=k))
for s, axis in [([2, 0], 1), ([0, 3], 1), ([0, 3], 0), ([2, 0, 3], 1), ([0], 0)]:
    x = torch.zeros(s)
    case("softmax", "softmax", {"axis": axis}, [x], lambda v, a=axis: torch.softmax(v[0], a))
    case("softmax", "logSoftmax", {"axis": axis}, [x], lambda v, a=axis: torch.log_softmax(v[0], a))
    case("softmax", "logSumExp", {"axes": [axis], "keep": False}, [x], lambda v, a=axis: torch.logsumexp(v[0], [a]))
    case("reductions", "mean", {"axes": [axis], "keep": False}, [x], lambda v, a=axis: torch.mean(v[0], [a]))
    case("reductions", "sum", {"axes": [axis], "keep": True}, [x], lambda v, a=axis: torch.sum(v[0], [a], keepdim=True))
    case("reductions", "variance", {"axes": [axis], "keep": False, "correction": 1}, [x], lambda v, a=axis: torch.var(v[0], [a]))

pairs = torch.tensor(EDGE)
targets_unit = torch.tensor([0.0, 1.0, 0.5, 0.25, 1.0, 0.0, 0.5, 1.0, 0.0, 0.5, 1.0, 0.0, 0.5, 1.0, 0.0, 0.5, 1.0, 0.0, 0.5])
for r in reductions:
    case("losses", "meanSquaredError", {"reduction": r}, [pairs, pairs.flip(0)], lambda v, r=r: F.mse_loss(v[0], v[1], reduction=r))
    case("losses", "l1Loss", {"reduction": r}, [pairs, pairs.flip(0)], lambda v, r=r: F.l1_loss(v[0], v[1], reduction=r))
    case("losses", "binaryCrossEntropy", {"reduction": r}, [pairs, targets_unit],
         lambda v, r=r: F.binary_cross_entropy_with_logits(v[0], v[1], reduction=r))
    targets = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
    case("losses", "crossEntropy", {"targets": targets, "ignore": -100, "smoothing": 0.1, "reduction": r}, [rows],
         lambda v, t=targets, r=r: F.cross_entropy(v[0], torch.tensor(t), reduction=r, label_smoothing=0.1))
    case("losses", "negativeLogLikelihood", {"targets": targets, "ignore": -100, "reduction": r}, [rows],
         lambda v, t=targets, r=r: F.nll_loss(v[0], torch.tensor(t), reduction=r))

# --------------------------------------------------------------------------------------------------


def write(path):
    out = bytearray(b"BPDIFF01")
    out += struct.pack("<I", len(cases))

    def string(s):
        data = s.encode("utf-8")
        out.extend(struct.pack("<H", len(data)))
        out.extend(data)

    def tensor(t):
        t = t.detach().to(torch.float64).contiguous()
        out.extend(struct.pack("<B", t.dim()))
        for s in t.shape:
            out.extend(struct.pack("<I", s))
        out.extend(struct.pack(f"<{t.numel()}d", *t.flatten().tolist()))

    for family, op, params, inputs, upstream, output, grads in cases:
        string(family)
        string(op)
        string(params)
        out.extend(struct.pack("<B", len(inputs)))
        for checked, t in inputs:
            out.extend(struct.pack("<B", 1 if checked else 0))
            tensor(t)
        tensor(upstream)
        tensor(output)
        out.extend(struct.pack("<B", len(grads)))
        for g in grads:
            if g is None:
                out.extend(struct.pack("<B", 0))
            else:
                out.extend(struct.pack("<B", 1))
                tensor(g)
    with open(path, "wb") as f:
        f.write(bytes(out))
    return len(out)


if __name__ == "__main__":
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "differential.bin")
    size_written = write(path)
    counts = {}
    for family, op, *_ in cases:
        counts.setdefault(family, {}).setdefault(op, 0)
        counts[family][op] += 1
    for family, ops in counts.items():
        print(f"{family}: {sum(ops.values())} ({', '.join(f'{k} {v}' for k, v in ops.items())})")
    print(f"{len(cases)} cases, {size_written} bytes, torch {torch.__version__}; left out (PyTorch raised): {skipped}")
