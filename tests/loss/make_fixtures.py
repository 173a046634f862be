#!/usr/bin/env python3
"""Writes tests/loss/fixtures/torch_losses.txt: what torch.nn.functional's losses compute, in
float64, for every option kiln spells (reduction, ignore_index, class weight, label smoothing,
weight, pos_weight) and for kiln's valid-row count of a padded last batch.

Run with a Python that has torch (Debian: apt-get install python3-torch; /usr/bin/python3):
    /usr/bin/python3 tests/loss/make_fixtures.py

Plain text, one record per line, whitespace-separated (test_loss_options.cpp parses it):
    torch <version>
    case <label> <loss> <reduction> <key=value...>   eps (label_smoothing), ignore (ignore_index),
                                                      valid (rows that count; the rest is padding)
      <tensor> <n> <values...>   x (logits or probabilities), labels / target, weight, pos_weight,
                                 seed (the upstream gradient g of a reduction='none' loss),
                                 y = loss(x, ...), x.grad = d sum(y * g) / dx (g = 1 for a scalar)
    end
Torch knows no valid count: a case with valid=v < rows gives torch the first v rows only, and kiln
the whole batch, whose padded rows hold garbage (labels out of range, huge logits) that must count
for nothing; with reduction='none' their y and x.grad are 0.
"""
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)

B, C = 6, 4  # cross_entropy: logits [B, C]
R, K = 4, 3  # elementwise losses: [R, K]


def vals(t):
    return " ".join(repr(float(v)) for v in torch.as_tensor(t).detach().reshape(-1).tolist())


def tensor_line(name, t):
    t = torch.as_tensor(t)
    return "%s %d %s" % (name, t.numel(), vals(t))


def run(fn, x, valid, reduction):
    """fn(x) on the first `valid` rows; outputs and gradient padded back to the full batch."""
    xv = x[:valid].clone().requires_grad_(True)
    y = fn(xv)
    seed = torch.randn(y.shape) if reduction == "none" else torch.ones(())
    (y * seed).sum().backward()
    grad = torch.zeros_like(x)
    grad[:valid] = xv.grad
    if reduction == "none":
        full_y = torch.zeros((x.shape[0],) + tuple(y.shape[1:]))
        full_y[:valid] = y
        full_seed = torch.zeros_like(full_y)
        full_seed[:valid] = seed
        full_seed[valid:] = 7.0  # an upstream gradient on padded rows must still give them none
        return full_y, full_seed, grad
    return y, seed, grad


def ce_case(out, label, reduction, eps=0.0, ignore=-100, weight=None, valid=B, labels=None):
    x = torch.randn(B, C) * 2
    x[valid:] = 1e4  # padding: would overflow exp() if it were read
    y = labels if labels is not None else torch.randint(0, C, (B,))
    yv = y[:valid]
    if labels is None:
        y[valid:] = 99  # padding: not a class, must not be checked
    fn = lambda xv: F.cross_entropy(xv, yv, weight=weight, ignore_index=ignore, reduction=reduction,
                                    label_smoothing=eps)
    value, seed, grad = run(fn, x, valid, reduction)
    out.append("case %s cross_entropy %s eps=%r ignore=%d valid=%d" % (label, reduction, eps, ignore, valid))
    out.append(tensor_line("x", x))
    out.append(tensor_line("labels", y))
    if weight is not None:
        out.append(tensor_line("weight", weight))
    out.append(tensor_line("seed", seed))
    out.append(tensor_line("y", value))
    out.append(tensor_line("x.grad", grad))
    out.append("end")


def elementwise_case(out, label, loss, reduction, weight=None, pos_weight=None, valid=R, x=None, target=None):
    if x is None:
        x = torch.rand(R, K) * 0.9 + 0.05 if loss == "bce" else torch.randn(R, K) * 3
    if target is None:
        target = torch.rand(R, K)  # soft targets in [0, 1]; mse reads them as any reals
        if loss == "mse":
            target = torch.randn(R, K)
    tv = target[:valid]

    def fn(xv):
        w = None if weight is None else weight[:valid] if weight.dim() == 2 and weight.shape[0] == R else weight
        if loss == "mse":
            return F.mse_loss(xv, tv, reduction=reduction)
        if loss == "bce":
            return F.binary_cross_entropy(xv, tv, weight=w, reduction=reduction)
        return F.binary_cross_entropy_with_logits(xv, tv, weight=w, pos_weight=pos_weight, reduction=reduction)

    value, seed, grad = run(fn, x, valid, reduction)
    out.append("case %s %s %s valid=%d" % (label, loss, reduction, valid))
    out.append(tensor_line("x", x))
    out.append(tensor_line("target", target))
    if weight is not None:
        out.append(tensor_line("weight", weight))
    if pos_weight is not None:
        out.append(tensor_line("pos_weight", pos_weight))
    out.append(tensor_line("seed", seed))
    out.append(tensor_line("y", value))
    out.append(tensor_line("x.grad", grad))
    out.append("end")


def main():
    out = ["torch %s" % torch.__version__]
    cw = torch.rand(C) * 2 + 0.2  # class weights
    some_ignored = torch.tensor([1, -100, 3, 0, -100, 2])
    for r in ("mean", "sum", "none"):
        ce_case(out, "ce_plain_" + r, r)
        ce_case(out, "ce_smooth_" + r, r, eps=0.1)
        ce_case(out, "ce_weight_" + r, r, weight=cw)
        ce_case(out, "ce_ignore_" + r, r, labels=some_ignored.clone())
        ce_case(out, "ce_ignore_class2_" + r, r, ignore=2, labels=torch.tensor([2, 0, 2, 1, 3, 2]))
        ce_case(out, "ce_weight_smooth_ignore_" + r, r, eps=0.2, weight=cw, labels=some_ignored.clone())
        ce_case(out, "ce_all_valid4_" + r, r, eps=0.15, weight=cw, ignore=3, valid=4,
                labels=torch.tensor([3, 1, 0, 3, 99, -7]))
        ce_case(out, "ce_valid3_" + r, r, valid=3)
    for r in ("mean", "sum", "none"):
        elementwise_case(out, "mse_" + r, "mse", r)
        elementwise_case(out, "mse_valid3_" + r, "mse", r, valid=3)
        elementwise_case(out, "bce_" + r, "bce", r)
        elementwise_case(out, "bce_weight_row_" + r, "bce", r, weight=torch.rand(K) * 2)
        elementwise_case(out, "bce_weight_col_valid3_" + r, "bce", r, weight=torch.rand(R, 1) * 2, valid=3)
        elementwise_case(out, "bcel_" + r, "bce_with_logits", r)
        elementwise_case(out, "bcel_pos_" + r, "bce_with_logits", r, pos_weight=torch.rand(K) * 3 + 0.1)
        elementwise_case(out, "bcel_pos_weight_valid2_" + r, "bce_with_logits", r, weight=torch.rand(R, K),
                         pos_weight=torch.rand(K) * 3 + 0.1, valid=2)
    # torch clamps BCE's logs at -100: probabilities of exactly 0 and 1, against hard targets
    elementwise_case(out, "bce_clamp_sum", "bce", "sum", weight=torch.tensor([0.5, 1.0, 2.0]),
                     x=torch.tensor([[0.0, 1.0, 0.5], [1.0, 0.0, 0.25], [0.0, 0.0, 1.0], [1.0, 1.0, 0.75]]),
                     target=torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 1.0, 0.5]]))
    # BCE with logits stays finite for logits far from 0, with pos_weight too
    elementwise_case(out, "bcel_pos_extreme_mean", "bce_with_logits", "mean", pos_weight=torch.tensor([0.5, 2.0, 4.0]),
                     x=torch.tensor([[80.0, -80.0, 0.0], [-300.0, 300.0, 35.0], [1e-3, -1e-3, -35.0],
                                     [700.0, -700.0, 5.0]]),
                     target=torch.tensor([[0.0, 1.0, 0.5], [1.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.3, 0.7, 1.0]]))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "torch_losses.txt")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote", path, len(out), "lines")


if __name__ == "__main__":
    main()
