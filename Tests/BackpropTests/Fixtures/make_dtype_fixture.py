"""Writes every_dtype.safetensors: one small tensor per safetensors dtype, written by PyTorch.

Run once with `python3 make_dtype_fixture.py` (needs torch and safetensors); the committed file was
written with torch 2.15.0 and safetensors 0.8.0. The Swift test (SafeTensorsDTypeTests) recomputes
every value from the closed forms below, so the file checks the byte layout PyTorch writes.

    f64      float64  [0.1, -1/3, 1e300, 2**-1074]
    f32      float32  [0.1, -1/3, 2**-149, 3.4028234663852886e38]       (rounded to float32)
    f16      float16  [1, -2.5, 2**-24, 65504, -inf]
    bf16     bfloat16 [1.5, -3.140625, 2**-133, 2**127]
    f8e4m3   float8_e4m3fn [0.5, -448, 2**-9]
    f8e5m2   float8_e5m2   [0.5, -57344, 2**-16]
    i64      int64    [0, -1, 2**53, -2**62]
    i64_big  int64    [2**53 + 1, 2**63 - 1]      (not exact in float64)
    i32      int32    [2**24, -2**31, 2**24 + 1]  (the last is not exact in float32)
    i16      int16    [-32768, 32767]
    i8       int8     [-128, 127]
    u8       uint8    [0, 255]
    bool     bool     [True, False, True]
    counter  int64    scalar 7 (as PyTorch's num_batches_tracked)
"""
import os

import torch
from safetensors.torch import save_file

tensors = {
    "f64": torch.tensor([0.1, -1 / 3, 1e300, 2.0 ** -1074], dtype=torch.float64),
    "f32": torch.tensor([0.1, -1 / 3, 2.0 ** -149, 3.4028234663852886e38], dtype=torch.float32),
    "f16": torch.tensor([1, -2.5, 2.0 ** -24, 65504, float("-inf")], dtype=torch.float16),
    "bf16": torch.tensor([1.5, -3.140625, 2.0 ** -133, 2.0 ** 127], dtype=torch.bfloat16),
    "f8e4m3": torch.tensor([0.5, -448, 2.0 ** -9], dtype=torch.float32).to(torch.float8_e4m3fn),
    "f8e5m2": torch.tensor([0.5, -57344, 2.0 ** -16], dtype=torch.float32).to(torch.float8_e5m2),
    "i64": torch.tensor([0, -1, 2 ** 53, -(2 ** 62)], dtype=torch.int64),
    "i64_big": torch.tensor([2 ** 53 + 1, 2 ** 63 - 1], dtype=torch.int64),
    "i32": torch.tensor([2 ** 24, -(2 ** 31), 2 ** 24 + 1], dtype=torch.int32),
    "i16": torch.tensor([-32768, 32767], dtype=torch.int16),
    "i8": torch.tensor([-128, 127], dtype=torch.int8),
    "u8": torch.tensor([0, 255], dtype=torch.uint8),
    "bool": torch.tensor([True, False, True]),
    "counter": torch.tensor(7, dtype=torch.int64),
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "every_dtype.safetensors")
save_file(tensors, path, metadata={"producer": "make_dtype_fixture.py"})
print(f"wrote {path} (torch {torch.__version__})")
