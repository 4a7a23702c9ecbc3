"""Writes pytorch_fixture.safetensors, the file Backprop's safetensors tests load.

The committed file was produced with `safetensors.torch` (torch 2.15.0, safetensors 0.8.0): the
script uses PyTorch when `import torch` works and falls back to `safetensors.numpy` otherwise (same
layout and values for these dtypes). Run it with:

    python3 make_safetensors_fixture.py

Values follow closed forms that the Swift test recomputes:
    layer.weight    float32 [2, 3]  w[i, j] = (i * 3 + j) / 4 - 0.5      (exact in binary)
    layer.bias      float32 [3]     b[j]    = 0.1 * (j + 1)              (rounded to float32)
    norm.running_var float64 [4]    v[k]    = 1 / (k + 3)
    embedding.table float32 [3, 2]  e[i, j] = (-1) ** (i + j) * 2 ** (i - j)
The metadata map is {"format": "pt", "producer": "make_safetensors_fixture.py"}.
"""
import os

import numpy as np

weight = np.array([[(i * 3 + j) / 4 - 0.5 for j in range(3)] for i in range(2)], dtype=np.float32)
bias = np.array([0.1 * (j + 1) for j in range(3)], dtype=np.float32)
running_var = np.array([1 / (k + 3) for k in range(4)], dtype=np.float64)
table = np.array([[(-1) ** (i + j) * 2.0 ** (i - j) for j in range(2)] for i in range(3)], dtype=np.float32)
metadata = {"format": "pt", "producer": "make_safetensors_fixture.py"}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pytorch_fixture.safetensors")

try:
    import torch
    from safetensors.torch import save_file

    tensors = {
        "layer.weight": torch.from_numpy(weight),
        "layer.bias": torch.from_numpy(bias),
        "norm.running_var": torch.from_numpy(running_var),
        "embedding.table": torch.from_numpy(table),
    }
    save_file(tensors, path, metadata=metadata)
    print(f"wrote {path} with safetensors.torch (torch {torch.__version__})")
except ImportError:
    from safetensors.numpy import save_file

    tensors = {"layer.weight": weight, "layer.bias": bias, "norm.running_var": running_var, "embedding.table": table}
    save_file(tensors, path, metadata=metadata)
    print(f"wrote {path} with safetensors.numpy (torch is not installed)")
