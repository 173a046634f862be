#!/usr/bin/env python3
"""Writes tests/nn/fixtures/torch_layer_options.txt: what torch.nn computes for the layer options
kiln spells as template arguments (bias=False, non-square kernel/stride/padding/dilation,
groups, ceil_mode), in float64.

Run with a Python that has torch (Debian: apt-get install python3-torch; /usr/bin/python3):
    /usr/bin/python3 tests/nn/make_fixtures.py

Plain text, one record per line, whitespace-separated (test_layer_options.cpp parses it):
    torch <version>
    case <label> <torch module, for people>
      <tensor> <n> <values...>     x, weight, bias (as the module holds them), seed (the
                                   upstream gradient g), y = module(x), and the gradients of
                                   sum(y * g): x.grad, weight.grad, bias.grad
    end
"""
import os

import torch
import torch.nn as nn

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)


def vals(t):
    return " ".join(repr(float(v)) for v in t.detach().reshape(-1).tolist())


def record(out, label, module, xshape):
    x = torch.randn(*xshape, requires_grad=True)
    y = module(x)
    g = torch.randn(*y.shape)
    (y * g).sum().backward()
    desc = repr(module)
    if isinstance(module, nn.AvgPool2d):  # its repr leaves these out
        desc = desc[:-1] + ", ceil_mode=%s, count_include_pad=%s)" % (module.ceil_mode, module.count_include_pad)
    out.append("case %s %s" % (label, desc.replace(" ", "")))
    out.append("x %d %s" % (x.numel(), vals(x)))
    for name, p in module.named_parameters():
        out.append("%s %d %s" % (name, p.numel(), vals(p)))
    out.append("seed %d %s" % (g.numel(), vals(g)))
    out.append("y %d %s" % (y.numel(), vals(y)))
    out.append("x.grad %d %s" % (x.numel(), vals(x.grad)))
    for name, p in module.named_parameters():
        out.append("%s.grad %d %s" % (name, p.numel(), vals(p.grad)))
    out.append("end")


# label, module, input shape: the C++ test names the same labels with the matching kiln type.
CASES = [
    ("linear_no_bias", nn.Linear(5, 3, bias=False), (4, 5)),
    ("linear_no_bias_3d", nn.Linear(4, 6, bias=False), (2, 3, 4)),
    ("conv_no_bias", nn.Conv2d(2, 3, 3, stride=1, padding=1, bias=False), (2, 2, 5, 6)),
    ("conv_nonsquare", nn.Conv2d(3, 4, (3, 5), stride=(1, 2), padding=(1, 2)), (2, 3, 7, 9)),
    ("conv_nonsquare_dilated", nn.Conv2d(2, 3, (2, 3), stride=(2, 1), padding=(0, 2), dilation=(2, 1)), (1, 2, 8, 7)),
    ("conv_groups2", nn.Conv2d(4, 6, 3, stride=1, padding=1, groups=2), (2, 4, 5, 5)),
    ("conv_groups2_batched", nn.Conv2d(4, 6, (2, 1), groups=2, bias=False), (5, 4, 3, 3)),
    ("conv_groups2_1x1", nn.Conv2d(4, 6, 1, groups=2), (3, 4, 4, 4)),
    ("conv_depthwise", nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4), (2, 4, 6, 6)),
    ("conv_depthwise_x2_nonsquare", nn.Conv2d(3, 6, (3, 1), stride=(1, 2), padding=(1, 0), groups=3, bias=False),
     (2, 3, 5, 7)),
    ("max_pool_ceil", nn.MaxPool2d(3, 2, 1, ceil_mode=True), (2, 2, 8, 10)),
    ("max_pool_ceil_nonsquare", nn.MaxPool2d((2, 3), (2, 2), 0, ceil_mode=True), (1, 2, 5, 8)),
    ("max_pool_ceil_dilated", nn.MaxPool2d((3, 2), (2, 3), (1, 1), dilation=(2, 1), ceil_mode=True), (1, 2, 8, 9)),
    ("avg_pool_ceil", nn.AvgPool2d(3, 2, 1, ceil_mode=True), (2, 2, 8, 10)),
    ("avg_pool_ceil_exclude_pad", nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False), (2, 2, 8, 10)),
    ("avg_pool_ceil_nonsquare", nn.AvgPool2d((2, 3), (2, 2), (1, 0), ceil_mode=True), (1, 2, 5, 8)),
    ("avg_pool_nonsquare", nn.AvgPool2d((3, 2), (1, 2), (1, 1)), (1, 2, 5, 6)),
]


def main():
    out = ["torch %s" % torch.__version__]
    for label, module, xshape in CASES:
        record(out, label, module, xshape)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "torch_layer_options.txt")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
