"""The two-way PyTorch state-dict test of a model with every layer type.

    python3 make_every_layer_fixture.py write   # writes every_layer_state.safetensors and every_layer_outputs.safetensors
    python3 make_every_layer_fixture.py check PATH

`write` (run once; the committed files come from torch 2.15.0) builds `EveryLayer` with seed 0,
runs three training-mode forwards so that the BatchNorm and InstanceNorm running statistics and
`num_batches_tracked` (int64, 3) move, saves `model.state_dict()` with `safetensors.torch.save_file`,
then records the evaluation-mode outputs of the inputs below. The Swift test loads the state dict
with strict loading into its own `EveryLayer` and checks the outputs.

`check PATH` loads a file Backprop wrote with `load_state_dict(..., strict=True)` and prints one
line per buffer and a checksum of the parameters; the Swift test compares the printout.

Inputs (closed forms, recomputed by the Swift test):
    image[n, c, h, w] = sin(1 + n·36 + c·9 + h·3 + w)                     [2, 2, 3, 3]
    tokens[n, l, e]   = cos(1 + n·12 + l·4 + e)                           [2, 3, 4]
    ids               = [[0, 3, 1], [4, 2, 2]]
"""
import math
import os
import sys

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file


class EveryLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.batch_norm = nn.BatchNorm2d(4)
        self.instance_norm = nn.InstanceNorm2d(4, affine=True, track_running_stats=True)
        self.group_norm = nn.GroupNorm(2, 4)
        self.batch_norm1d = nn.BatchNorm1d(3)
        self.layer_norm = nn.LayerNorm(3)
        self.rms_norm = nn.RMSNorm(3)
        self.embedding = nn.Embedding(5, 3)
        self.attention = nn.MultiheadAttention(4, 2, batch_first=True)
        self.block = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True)
        self.head = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))

    def forward(self, image, tokens, ids):
        images = self.group_norm(self.instance_norm(self.batch_norm(self.conv(image))))
        embedded = self.embedding(ids)                                   # [2, 3, 3]
        normalized = self.rms_norm(self.layer_norm(self.batch_norm1d(embedded.transpose(1, 2)).transpose(1, 2)))
        heads = self.head(normalized)
        attended = self.block(self.attention(tokens, tokens, tokens, need_weights=False)[0])
        return {"images": images, "heads": heads, "attended": attended, "linear": self.linear(tokens)}


def inputs():
    image = torch.tensor([math.sin(1 + i) for i in range(36)], dtype=torch.float32).reshape(2, 2, 3, 3)
    tokens = torch.tensor([math.cos(1 + i) for i in range(24)], dtype=torch.float32).reshape(2, 3, 4)
    ids = torch.tensor([[0, 3, 1], [4, 2, 2]])
    return image, tokens, ids


def write():
    torch.manual_seed(0)
    model = EveryLayer()
    image, tokens, ids = inputs()
    model.train()
    for step in range(3):
        model(image * (1 + step), tokens, ids)
    model.eval()
    with torch.no_grad():
        outputs = {k: v.contiguous() for k, v in model(image, tokens, ids).items()}
    here = os.path.dirname(os.path.abspath(__file__))
    save_file(model.state_dict(), os.path.join(here, "every_layer_state.safetensors"))
    save_file(outputs, os.path.join(here, "every_layer_outputs.safetensors"))
    print("wrote every_layer_state.safetensors and every_layer_outputs.safetensors with torch", torch.__version__)


def check(path):
    model = EveryLayer()
    result = model.load_state_dict(load_file(path), strict=True)
    print("missing", result.missing_keys, "unexpected", result.unexpected_keys)
    for name, buffer in model.named_buffers():
        print(name, str(buffer.dtype), " ".join("%.4f" % float(x) for x in buffer.reshape(-1)))
    print("parameters %.4f" % sum(float(p.double().sum()) for p in model.parameters()))


if __name__ == "__main__":
    if sys.argv[1:2] == ["write"]:
        write()
    elif sys.argv[1:2] == ["check"] and len(sys.argv) == 3:
        check(sys.argv[2])
    else:
        sys.exit(__doc__)
