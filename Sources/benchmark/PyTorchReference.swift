// The PyTorch side of `--compare-pytorch`: a copy of `shared/bench/pytorch_reference.py` with
// Backprop's own workloads added (hvp_mlp, gradient_penalty_step, layernorm_double_backward) and a
// `--stat both` that prints {"min", "median"} per workload, shipped inside the benchmark so the
// comparison runs the same workloads in the same invocation. Every other line is the shared script's.

/// The Python reference script, run with `python3 - ARGS` when `python3` can import torch.
let pytorchReferenceScript = #"""
#!/usr/bin/env python3
"""Reference workloads, timed on PyTorch (CPU, float32, 2 threads).

Prints one JSON object: workload name -> median (or, with --stat min, fastest) milliseconds;
with --stat both (Backprop's embedded copy only), name -> {"min": ms, "median": ms}. A Backprop
benchmark that runs the same workloads under the same names can be compared
side by side, as a ratio, in the same invocation:

    python3 pytorch_reference.py [--only NAME,...] [--reps N] [--stat median|min|both]

Workloads (shapes are part of the definition):
  matmul512, matmul1024           C = A @ B, square float32
  linear_fwd, linear_fwdbwd       Linear(768 -> 768) on [4096, 768]
  layernorm_fwd/_fwdbwd           LayerNorm(768) on [8192, 768]
  rmsnorm_fwd/_fwdbwd             RMSNorm(768) on [8192, 768]
  batchnorm2d_fwd/_fwdbwd         BatchNorm2d(64), training mode, on [32, 64, 32, 32]
  groupnorm_fwd/_fwdbwd           GroupNorm(8 groups, 64 channels) on [32, 64, 32, 32]
  instancenorm2d_fwd/_fwdbwd      InstanceNorm2d(64, affine) on [32, 64, 32, 32]
  mlp_step                        MLP 32-64-64-10 (ReLU), batch 32, cross-entropy, SGD step
  block_step                      post-LN Transformer block d=256, 4 heads, FFN 1024 (ReLU),
                                  input [8, 128, 256], loss mean(y^2), AdamW step
  batchnorm1d_fwd/_fwdbwd         BatchNorm1d(512), training mode, on [256, 512]
  conv2d_fwd/_fwdbwd              Conv2d(64 -> 128, 3x3, padding 1) on [8, 64, 28, 28]
  cnn_step                        Conv2d(3->32, 3x3, pad 1), BatchNorm2d(32), ReLU,
                                  Conv2d(32->64, 3x3, stride 2, pad 1), GroupNorm(8, 64), ReLU,
                                  global average pool, Linear(64 -> 10); input [32, 3, 32, 32],
                                  cross-entropy, SGD (lr 0.01, momentum 0.9) step
  dgemm1024                       C = A @ B, 1024 x 1024 float64
  attention_fwdbwd                MultiheadAttention(256, 4 heads, batch_first) self-attention on
                                  [8, 128, 256], backward of a random upstream gradient
  hvp_mlp                         Hessian-vector product of an MLP 64-128-128-10 (tanh) cross-entropy
                                  loss, batch 128, w.r.t. every parameter (autograd.grad twice)
  gradient_penalty_step           WGAN-GP critic step: MLP 2-512-512-512-1 with LayerNorm and ReLU,
                                  batch 256, lambda 10, Adam(1e-4, betas (0.5, 0.9))
  layernorm_double_backward       LayerNorm(768) on [8192, 768]: grad of <dy, y> w.r.t. x with
                                  create_graph, then backward of <w, grad> into x and the parameters
"fwdbwd" means forward, then backward of a random upstream gradient into the
input and every parameter.
"""
import argparse, json, time
import torch, torch.nn as nn, torch.nn.functional as F

def time_ms(fn, reps, warm=3, stat="median"):
    """Median (or fastest, or both) wall time of `reps` runs after `warm` warm-up runs, in milliseconds."""
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    ts.sort()
    if stat == "both":
        return {"min": round(1e3 * ts[0], 4), "median": round(1e3 * ts[len(ts) // 2], 4)}
    return 1e3 * (ts[0] if stat == "min" else ts[len(ts) // 2])

def forward_only(mod, shape):
    x = torch.randn(*shape)
    def run():
        with torch.no_grad():
            mod(x)
    return run

def forward_backward(mod, shape):
    x = torch.randn(*shape, requires_grad=True)
    dy = torch.randn(*shape[:-1], mod.out_features) if isinstance(mod, nn.Linear) else torch.randn(*shape)
    def run():
        x.grad = None
        for p in mod.parameters():
            p.grad = None
        mod(x).backward(dy)
    return run

class PostLNBlock(nn.Module):
    def __init__(self, d, heads, ff):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.norm1 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.ReLU(), nn.Linear(ff, d))
        self.norm2 = nn.LayerNorm(d)
    def forward(self, x):
        x = self.norm1(x + self.attn(x, x, x, need_weights=False)[0])
        return self.norm2(x + self.ff(x))

def workloads():
    w = {}
    for n in (512, 1024):
        a, b = torch.randn(n, n), torch.randn(n, n)
        w[f"matmul{n}"] = (lambda a=a, b=b: a @ b)
    layers = {
        "linear": (nn.Linear(768, 768), (4096, 768)),
        "layernorm": (nn.LayerNorm(768), (8192, 768)),
        "rmsnorm": (nn.RMSNorm(768), (8192, 768)),
        "batchnorm2d": (nn.BatchNorm2d(64), (32, 64, 32, 32)),
        "groupnorm": (nn.GroupNorm(8, 64), (32, 64, 32, 32)),
        "instancenorm2d": (nn.InstanceNorm2d(64, affine=True), (32, 64, 32, 32)),
    }
    for name, (mod, shape) in layers.items():
        w[name + "_fwd"] = forward_only(mod, shape)
        w[name + "_fwdbwd"] = forward_backward(mod, shape)
    mlp = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    sgd = torch.optim.SGD(mlp.parameters(), lr=0.01)
    xb, yb = torch.randn(32, 32), torch.randint(0, 10, (32,))
    def mlp_step():
        sgd.zero_grad(); F.cross_entropy(mlp(xb), yb).backward(); sgd.step()
    w["mlp_step"] = mlp_step
    blk = PostLNBlock(256, 4, 1024)
    adamw = torch.optim.AdamW(blk.parameters(), lr=1e-3)
    xt = torch.randn(8, 128, 256)
    def block_step():
        adamw.zero_grad(); blk(xt).pow(2).mean().backward(); adamw.step()
    w["block_step"] = block_step
    bn1d = nn.BatchNorm1d(512)
    w["batchnorm1d_fwd"] = forward_only(bn1d, (256, 512))
    w["batchnorm1d_fwdbwd"] = forward_backward(bn1d, (256, 512))
    conv = nn.Conv2d(64, 128, 3, padding=1)
    xc = torch.randn(8, 64, 28, 28, requires_grad=True)
    dyc = torch.randn(8, 128, 28, 28)
    def conv_fwd():
        with torch.no_grad():
            conv(xc)
    def conv_fwdbwd():
        xc.grad = None
        for p in conv.parameters():
            p.grad = None
        conv(xc).backward(dyc)
    w["conv2d_fwd"], w["conv2d_fwdbwd"] = conv_fwd, conv_fwdbwd
    cnn = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.GroupNorm(8, 64), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
    sgdm = torch.optim.SGD(cnn.parameters(), lr=0.01, momentum=0.9)
    xi, yi = torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))
    def cnn_step():
        sgdm.zero_grad(); F.cross_entropy(cnn(xi), yi).backward(); sgdm.step()
    w["cnn_step"] = cnn_step
    da, db = torch.randn(1024, 1024, dtype=torch.float64), torch.randn(1024, 1024, dtype=torch.float64)
    w["dgemm1024"] = lambda: da @ db
    mha = nn.MultiheadAttention(256, 4, batch_first=True)
    xa = torch.randn(8, 128, 256, requires_grad=True)
    dya = torch.randn(8, 128, 256)
    def attention_fwdbwd():
        xa.grad = None
        for p in mha.parameters():
            p.grad = None
        mha(xa, xa, xa, need_weights=False)[0].backward(dya)
    w["attention_fwdbwd"] = attention_fwdbwd
    hmlp = nn.Sequential(nn.Linear(64, 128), nn.Tanh(), nn.Linear(128, 128), nn.Tanh(), nn.Linear(128, 10))
    hx, hy = torch.randn(128, 64), torch.randint(0, 10, (128,))
    hdirs = [torch.randn_like(p) for p in hmlp.parameters()]
    def hvp_mlp():
        params = list(hmlp.parameters())
        grads = torch.autograd.grad(F.cross_entropy(hmlp(hx), hy), params, create_graph=True)
        dot = sum((g * v).sum() for g, v in zip(grads, hdirs))
        torch.autograd.grad(dot, params)
    w["hvp_mlp"] = hvp_mlp
    critic = nn.Sequential(nn.Linear(2, 512), nn.LayerNorm(512), nn.ReLU(), nn.Linear(512, 512), nn.LayerNorm(512), nn.ReLU(),
                           nn.Linear(512, 512), nn.LayerNorm(512), nn.ReLU(), nn.Linear(512, 1))
    cadam = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.9))
    real, fake = torch.randn(256, 2), torch.randn(256, 2)
    alpha = torch.rand(256, 1)
    between = (alpha * real + (1 - alpha) * fake)
    def gradient_penalty_step():
        cadam.zero_grad()
        x = between.clone().requires_grad_(True)
        g = torch.autograd.grad(critic(x).sum(), x, create_graph=True)[0]
        penalty = (((g * g).sum(dim=1) + 1e-12).sqrt() - 1).pow(2).mean()
        loss = critic(fake).mean() - critic(real).mean() + 10 * penalty
        loss.backward()
        cadam.step()
    w["gradient_penalty_step"] = gradient_penalty_step
    lnd = nn.LayerNorm(768)
    lx = torch.randn(8192, 768, requires_grad=True)
    ldy, lw = torch.randn(8192, 768), torch.randn(8192, 768)
    def layernorm_double_backward():
        lx.grad = None
        for p in lnd.parameters():
            p.grad = None
        g = torch.autograd.grad(lnd(lx), lx, ldy, create_graph=True)[0]
        (g * lw).sum().backward()
    w["layernorm_double_backward"] = layernorm_double_backward
    return w

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--only", default="")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--stat", choices=("median", "min", "both"), default="median",
                   help="report the median (default), the fastest, or both of the timed runs")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    only = set(filter(None, args.only.split(",")))
    out = {}
    for name, fn in workloads().items():
        if only and name not in only:
            continue
        reps = args.reps * 10 if name == "mlp_step" else args.reps
        t = time_ms(fn, reps, stat=args.stat)
        out[name] = t if isinstance(t, dict) else round(t, 4)
    print(json.dumps(out, indent=1))

if __name__ == "__main__":
    main()
"""#
