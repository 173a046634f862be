#!/usr/bin/env python3
"""Writes the interop fixtures test_safetensors.cpp reads:

  fixtures/sequential.safetensors  the state_dict of nn.Sequential(Linear(4, 3), ReLU(), Linear(3, 2))
                                   (seed 1) in safetensors format
  fixtures/sequential_io.txt       an input batch and torch's output for it:
                                       torch <version>
                                       input <rows> <cols> <values...>
                                       output <rows> <cols> <values...>

Run with a Python that has torch (Debian: apt-get install python3-torch; /usr/bin/python3):
    /usr/bin/python3 tests/io/make_fixture.py

The safetensors Python package is not in Debian 12, so the file is written here by hand with
struct and json (the format: 8-byte little-endian header length, JSON header, raw data), the
way safetensors.torch.save_file lays it out (header padded with spaces to a multiple of 8).
If the package is installed, the file is also read back with it as a check.
"""
import json
import os
import struct

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}


def save_safetensors(tensors, path, metadata=None):
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    blobs, offset = [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        data = t.view(torch.uint8).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def rows(tag, t):
    return "%s %d %d %s" % (tag, t.shape[0], t.shape[1], " ".join("%.9g" % v for v in t.reshape(-1).tolist()))


torch.manual_seed(1)  # a seed where every hidden unit is active for some rows and clipped for others
model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
x = torch.randn(5, 4)
with torch.no_grad():
    y = model(x)

path = os.path.join(OUT, "sequential.safetensors")
save_safetensors(model.state_dict(), path, {"format": "pt"})
with open(os.path.join(OUT, "sequential_io.txt"), "w") as f:
    f.write("torch %s\n%s\n%s\n" % (torch.__version__, rows("input", x), rows("output", y)))

try:
    from safetensors.torch import load_file
except ImportError:
    load_file = None
if load_file is not None:
    back = load_file(path)
    for k, v in model.state_dict().items():
        assert torch.equal(back[k], v), k
print("wrote", path)
