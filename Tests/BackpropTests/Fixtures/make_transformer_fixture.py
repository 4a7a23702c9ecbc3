"""Writes transformer_post_norm_fixture.safetensors and transformer_pre_norm_fixture.safetensors,
PyTorch nn.TransformerEncoderLayer state_dicts that TransformerTests loads (with Checkpoint.load)
into Backprop's TransformerBlock and whose outputs it compares with PyTorch's.

Produced with torch 2.15.0 and safetensors 0.8.0:

    python3 make_transformer_fixture.py

The layer: d_model=4, nhead=2, dim_feedforward=6, dropout=0, ReLU, batch_first=True, float64,
weights from torch.manual_seed(0) plus linspace(-0.3, 0.3) added to every 1-D parameter, once with
norm_first=False (post-norm) and once with norm_first=True (pre-norm). The input x[n, l, e] = sin(1 + n·12 + l·4 + e) (shape [2, 3, 4]) and
both layers' outputs in eval mode (also with a causal mask) are printed for pasting into the tests.
The file holds only the layers' state_dicts (plain PyTorch names, no metadata), as a user would
save them with save_file(layer.state_dict(), path).
"""
import os

import torch
from safetensors.torch import save_file

torch.set_printoptions(precision=17)
directory = os.path.dirname(os.path.abspath(__file__))
x = torch.tensor([[[float(torch.sin(torch.tensor(1.0 + n * 12 + l * 4 + e, dtype=torch.float64)))
                    for e in range(4)] for l in range(3)] for n in range(2)], dtype=torch.float64)
causal = torch.nn.Transformer.generate_square_subsequent_mask(3, dtype=torch.float64)
for prefix, norm_first in [("post", False), ("pre", True)]:
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, batch_first=True, norm_first=norm_first,
                                             dtype=torch.float64).eval()
    with torch.no_grad():
        # Non-trivial LayerNorm parameters and attention biases, so that they are checked too.
        for name, p in layer.named_parameters():
            if p.dim() == 1:
                p.add_(torch.linspace(-0.3, 0.3, p.numel(), dtype=torch.float64))
        state = {k: v.contiguous() for k, v in layer.state_dict().items()}
        save_file(state, os.path.join(directory, f"transformer_{prefix}_norm_fixture.safetensors"))
        print(prefix, "plain", [round(v, 14) for v in layer(x).flatten().tolist()])
        print(prefix, "causal", [round(v, 14) for v in layer(x, src_mask=causal, is_causal=True).flatten().tolist()])
