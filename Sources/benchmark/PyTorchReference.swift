// The PyTorch side of `--compare-pytorch`: a verbatim copy of `shared/bench/pytorch_reference.py`,
// shipped inside the benchmark so the comparison runs the same workloads in the same invocation.

/// The Python reference script, run with `python3 - ARGS` when `python3` can import torch.
let pytorchReferenceScript = #"""
#!/usr/bin/env python3
"""Reference workloads, timed on PyTorch (CPU, float32, 2 threads).

Prints one JSON object: workload name -> median milliseconds. A Backprop
benchmark that runs the same workloads under the same names can be compared
side by side, as a ratio, in the same invocation:

    python3 pytorch_reference.py [--only NAME,...] [--reps N]

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
"fwdbwd" means forward, then backward of a random upstream gradient into the
input and every parameter.
"""
import argparse, json, time
import torch, torch.nn as nn, torch.nn.functional as F

def median_ms(fn, reps, warm=3):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    ts.sort()
    return 1e3 * ts[len(ts) // 2]

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
    return w

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--only", default="")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    only = set(filter(None, args.only.split(",")))
    out = {}
    for name, fn in workloads().items():
        if only and name not in only:
            continue
        reps = args.reps * 10 if name == "mlp_step" else args.reps
        out[name] = round(median_ms(fn, reps), 4)
    print(json.dumps(out, indent=1))

if __name__ == "__main__":
    main()
"""#
