#!/usr/bin/env python3
"""Writes tests/nn/fixtures/torch_attention_options.txt: what torch.nn.MultiheadAttention,
TransformerEncoderLayer and TransformerDecoderLayer (batch_first=True) compute with their
options (separate key/value, kdim/vdim, boolean/additive/3-D attn_mask, key_padding_mask,
need_weights averaged or per head, norm_first, gelu, layer_norm_eps, decoder masks), in float64.

Run with a Python that has torch (Debian: apt-get install python3-torch; /usr/bin/python3):
    /usr/bin/python3 tests/nn/make_attention_fixtures.py

Plain text, one record per line, whitespace-separated (test_attention_options.cpp parses it;
-inf is written as -inf):
    torch <version>
    case <label> <torch module, for people>
      <tensor> <n> <values...>   inputs (q, k, v or x, mem), masks (bool as 0/1), every parameter
                                 under its state_dict name, seed (the upstream gradient g),
                                 y = the output, w = the attention weights (attention cases),
                                 and the gradients of sum(y * g): q.grad ..., <param>.grad
    end
The layers run in training mode with dropout=0.0, so torch takes its reference (not fast) path.
"""
import os

import torch
import torch.nn as nn

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)

B, SQ, SK, E, H, FF = 2, 3, 4, 8, 2, 16


def vals(t):
    return " ".join(repr(float(v)) if v == v and abs(v) != float("inf") else ("-inf" if v < 0 else "inf")
                    for v in t.detach().to(torch.float64).reshape(-1).tolist())


def put(out, name, t):
    out.append("%s %d %s" % (name, t.numel(), vals(t)))


def bool_mask(*shape, p=0.35):
    """A random boolean mask (True = masked) with at least one visible key in every row."""
    m = torch.rand(*shape) < p
    m[..., 0] = False
    return m


def float_mask(*shape):
    m = torch.randn(*shape)
    m[torch.rand(*shape) < 0.25] = float("-inf")
    m[..., 1] = 0.5  # every row keeps a visible key
    return m


def padding():
    m = torch.zeros(B, SK, dtype=torch.bool)
    m[0, SK - 1] = True
    m[1, SK - 2:] = True
    return m


def randomize(module):
    # torch zeroes in_proj_bias and out_proj.bias; random values test that they are used.
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias"):
                p.copy_(torch.randn_like(p) * 0.3)
            if name.startswith("norm") and name.endswith("weight"):
                p.copy_(1 + torch.randn_like(p) * 0.2)


def record(out, label, module, inputs, masks, call, weights=False):
    randomize(module)
    module.train()
    for t in inputs.values():
        t.requires_grad_(True)
    res = call(module, inputs, masks)
    y, w = (res if weights else (res, None))
    g = torch.randn(*y.shape)
    (y * g).sum().backward()
    out.append("case %s %s" % (label, repr(module).replace(" ", "").replace("\n", "")))
    for name, t in inputs.items():
        put(out, name, t)
    for name, m in masks.items():
        put(out, name, m.to(torch.float64) if m.dtype == torch.bool else m)
    for name, p in module.named_parameters():
        put(out, name, p)
    put(out, "seed", g)
    put(out, "y", y)
    if w is not None:
        put(out, "w", w)
    for name, t in inputs.items():
        put(out, name + ".grad", t.grad)
    for name, p in module.named_parameters():
        put(out, name + ".grad", p.grad)
    out.append("end")


def qkv(kdim=E, vdim=E):
    return {"q": torch.randn(B, SQ, E), "k": torch.randn(B, SK, kdim), "v": torch.randn(B, SK, vdim)}


def mha(m, i, k, average=True):
    return m(i["q"], i["k"], i["v"], attn_mask=k.get("attn_mask"), key_padding_mask=k.get("key_padding_mask"),
             need_weights=True, average_attn_weights=average)


def mha_case(out, label, masks, kdim=E, vdim=E, average=True):
    m = nn.MultiheadAttention(E, H, batch_first=True, kdim=kdim, vdim=vdim)
    record(out, label, m, qkv(kdim, vdim), masks, lambda m, i, k: mha(m, i, k, average), weights=True)


def enc(m, i, k):
    return m(i["x"], src_mask=k.get("src_mask"), src_key_padding_mask=k.get("src_key_padding_mask"))


def dec(m, i, k):
    return m(i["x"], i["mem"], tgt_mask=k.get("tgt_mask"), memory_mask=k.get("memory_mask"),
             tgt_key_padding_mask=k.get("tgt_key_padding_mask"),
             memory_key_padding_mask=k.get("memory_key_padding_mask"))


def main():
    out = ["torch %s" % torch.__version__]
    mha_case(out, "mha_separate_kv", {})
    mha_case(out, "mha_bool_mask", {"attn_mask": bool_mask(SQ, SK)})
    mha_case(out, "mha_float_mask", {"attn_mask": float_mask(SQ, SK)})
    mha_case(out, "mha_key_padding", {"key_padding_mask": padding()})
    mha_case(out, "mha_bool_mask_padding", {"attn_mask": bool_mask(SQ, SK), "key_padding_mask": padding()})
    mha_case(out, "mha_float_mask_padding", {"attn_mask": float_mask(SQ, SK), "key_padding_mask": padding()})
    mha_case(out, "mha_bool_mask_3d", {"attn_mask": bool_mask(B * H, SQ, SK)})
    mha_case(out, "mha_float_mask_3d_padding", {"attn_mask": float_mask(B * H, SQ, SK), "key_padding_mask": padding()})
    mha_case(out, "mha_per_head_weights", {"key_padding_mask": padding()}, average=False)
    mha_case(out, "mha_kdim_vdim", {"key_padding_mask": padding()}, kdim=5, vdim=6)

    S = SK
    src = lambda: {"x": torch.randn(B, S, E)}
    src_masks = lambda: {"src_mask": bool_mask(S, S), "src_key_padding_mask": padding()}
    layer = lambda **kw: nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, batch_first=True, **kw)
    record(out, "encoder_default", layer(), src(), {}, enc)
    record(out, "encoder_masks", layer(), src(), src_masks(), enc)
    record(out, "encoder_float_mask", layer(), src(), {"src_mask": float_mask(S, S)}, enc)
    record(out, "encoder_norm_first_gelu", layer(activation="gelu", norm_first=True, layer_norm_eps=1e-3), src(),
           src_masks(), enc)

    ST, SS = SQ, SK
    tgt = lambda: {"x": torch.randn(B, ST, E), "mem": torch.randn(B, SS, E)}
    tpad = torch.zeros(B, ST, dtype=torch.bool)
    tpad[1, ST - 1] = True
    dec_masks = lambda: {"tgt_mask": torch.triu(torch.ones(ST, ST, dtype=torch.bool), 1),
                         "memory_mask": float_mask(ST, SS), "tgt_key_padding_mask": tpad,
                         "memory_key_padding_mask": padding()}
    dlayer = lambda **kw: nn.TransformerDecoderLayer(E, H, FF, dropout=0.0, batch_first=True, **kw)
    record(out, "decoder_default", dlayer(), tgt(), {}, dec)
    record(out, "decoder_masks", dlayer(), tgt(), dec_masks(), dec)
    record(out, "decoder_norm_first_gelu", dlayer(activation="gelu", norm_first=True, layer_norm_eps=1e-3), tgt(),
           dec_masks(), dec)

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "torch_attention_options.txt")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote", path, len(out), "lines")


if __name__ == "__main__":
    main()
