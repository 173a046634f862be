#!/usr/bin/env python3
"""Writes the interop fixtures test_safetensors.cpp and test_load_tensor.cpp read:

  fixtures/sequential.safetensors  the state_dict of nn.Sequential(Linear(4, 3), ReLU(), Linear(3, 2))
                                   (seed 1) in safetensors format
  fixtures/sequential_io.txt       an input batch and torch's output for it:
                                       torch <version>
                                       input <rows> <cols> <values...>
                                       output <rows> <cols> <values...>
  fixtures/tensors.safetensors     tensors of every dtype kiln reads (F16 and BF16 with subnormals,
                                   the extremes, +-0, +-inf and NaN; F64, F32, I64, I32, U8, BOOL,
                                   a 0-d tensor), the U8 one first so later data is unaligned
  fixtures/tensors_expected.txt    torch's values of each, one line a tensor:
                                       <name> <dtype> <shape, comma-joined or "-"> <kind> <values...>
                                   kind "float": float.hex() of t.float() (what a float tensor must
                                   read), then a second line kind "double": float.hex() of t.double();
                                   kind "int": the integers

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

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64",
          torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL"}


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

# Every dtype, and conversions checked against torch's own: t.float() and t.double().
torch.manual_seed(2)
inf, nan = float("inf"), float("nan")
special = torch.tensor([65504.0, 2.0**-24, 2.0**-14, 6.0e-5, -0.0, 0.0, inf, -inf, nan, 1 / 3, 1e-5, -2.5])
wide = torch.cat([torch.randn(16) * 10, special]).reshape(4, 7)
bf_special = torch.tensor([3.0e38, -3.0e38, 1.0e-38, 9.2e-41, -0.0, inf, -inf, nan, 1 / 3, 1e30, 123456.0, -1.5])
tensors = {
    "byte": torch.tensor([0, 1, 51, 128, 200, 255], dtype=torch.uint8).reshape(2, 3),  # 6 bytes: what follows is unaligned
    "half": wide.half(),
    "bfloat": torch.cat([torch.randn(16) * 1e3, bf_special]).reshape(4, 7).bfloat16(),
    "single": torch.randn(2, 3),
    "double": torch.cat([torch.randn(3, dtype=torch.float64), torch.tensor([1e-40, 1e-50, 0.1, 3.4e38, -1e30, 1 / 3], dtype=torch.float64)]).reshape(3, 3),
    "long": torch.tensor([-(2**40), 2**24, -(2**24), 2**53, 0, -5], dtype=torch.int64),
    "int": torch.tensor([[-(2**31), 2**31 - 1], [7, -7]], dtype=torch.int32),
    "mask": torch.tensor([True, False, True, True]),
    "scalar": torch.tensor(3.25),
}
path = os.path.join(OUT, "tensors.safetensors")
save_safetensors(tensors, path, {"format": "pt", "source": "make_fixture.py"})
with open(os.path.join(OUT, "tensors_expected.txt"), "w") as f:
    for name, t in tensors.items():
        head = "%s %s %s" % (name, DTYPES[t.dtype], ",".join(map(str, t.shape)) or "-")
        if t.dtype.is_floating_point:
            f.write("%s float %s\n" % (head, " ".join(float(v).hex() for v in t.float().reshape(-1).tolist())))
            f.write("%s double %s\n" % (head, " ".join(float(v).hex() for v in t.double().reshape(-1).tolist())))
        else:
            f.write("%s int %s\n" % (head, " ".join(str(int(v)) for v in t.reshape(-1).tolist())))

try:
    from safetensors.torch import load_file
except ImportError:
    load_file = None
if load_file is not None:
    back = load_file(path)
    for k, v in model.state_dict().items():
        assert torch.equal(back[k], v), k
    back = load_file(path)
    for k, v in tensors.items():
        assert torch.equal(back[k], v) or (v.is_floating_point() and torch.equal(back[k].isnan(), v.isnan())), k
print("wrote the fixtures in", OUT)
