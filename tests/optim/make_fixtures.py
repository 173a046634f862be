#!/usr/bin/env python3
"""Writes tests/optim/fixtures/torch_optim.txt: what torch.optim computes on a tiny problem.

Run with a Python that has torch (Debian: apt-get install python3-torch; /usr/bin/python3):
    /usr/bin/python3 tests/optim/make_fixtures.py

Plain text, one record per line, whitespace-separated (test_optim.cpp parses it):
    torch <version>
    init|target|curv <param> <n> <values...>      the problem: grad = curv * (p - target)
    case <label> <optimizer> <steps> <key=value...>
      expect <param> <n> <values...>              parameters after <steps> steps
      state <name> <n> <values...>                optimizer state, kiln's names
    end
    sched <label> <scheduler> <epochs> <key=value...>
      metrics <n> <values...>                     (reduce_lr_on_plateau only)
      lrs <n> <values...>                         lr after each scheduler step
    end
    clip <label> <max_norm> <norm_type>
      grad|clipped <param> <n> <values...>        gradients before / after clipping
      total <value>
    end
"""
import math
import os

import torch

torch.manual_seed(0)
SHAPES = [("fc.weight", (4, 5)), ("fc.bias", (4,)), ("scale", (3,))]


def f32(xs):
    return " ".join("%.9g" % float(x) for x in xs)


def f64(xs):
    return " ".join(repr(float(x)) for x in xs)


def row(tag, name, t):
    flat = t.detach().reshape(-1).tolist()
    return "%s %s %d %s" % (tag, name, len(flat), f32(flat))


init = {n: torch.randn(s) for n, s in SHAPES}
target = {n: torch.randn(s) for n, s in SHAPES}
curv = {n: torch.rand(s) * 2 + 0.1 for n, s in SHAPES}

OPTIMIZERS = [
    ("sgd_plain", "sgd", dict(lr=0.1)),
    ("sgd_momentum", "sgd", dict(lr=0.05, momentum=0.9)),
    ("sgd_dampening_wd", "sgd", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    ("sgd_nesterov", "sgd", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.02)),
    ("sgd_maximize", "sgd", dict(lr=0.05, momentum=0.5, maximize=True)),
    ("adam_default", "adam", dict(lr=0.01)),
    ("adam_wd", "adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05)),
    ("adam_amsgrad", "adam", dict(lr=0.03, amsgrad=True, weight_decay=0.01)),
    ("adamw_default", "adamw", dict(lr=0.01)),
    ("adamw_amsgrad", "adamw", dict(lr=0.02, betas=(0.85, 0.95), weight_decay=0.1, amsgrad=True)),
]
CLASSES = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
STATE_NAMES = ["momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
STEPS = 12

lines = ["torch %s" % torch.__version__]
for n, _ in SHAPES:
    lines += [row("init", n, init[n]), row("target", n, target[n]), row("curv", n, curv[n])]

for label, kind, kw in OPTIMIZERS:
    params = {n: init[n].clone().requires_grad_(True) for n, _ in SHAPES}
    opt = CLASSES[kind]([params[n] for n, _ in SHAPES], **kw)
    for _ in range(STEPS):
        for n, _ in SHAPES:
            p = params[n]
            p.grad = curv[n] * (p.detach() - target[n])
        opt.step()
    opts = []
    for k, v in kw.items():
        if k == "betas":
            opts += ["beta1=%r" % v[0], "beta2=%r" % v[1]]
        else:
            opts.append("%s=%r" % (k, float(v)))
    lines.append("case %s %s %d %s" % (label, kind, STEPS, " ".join(opts)))
    for n, _ in SHAPES:
        lines.append(row("expect", n, params[n]))
    for key in STATE_NAMES:
        for n, _ in SHAPES:
            st = opt.state[params[n]]
            if st.get(key) is not None:
                lines.append(row("state", key + "." + n, st[key]))
    step = opt.state[params[SHAPES[0][0]]].get("step")
    lines.append("state step 1 %s" % f32([float(step) if step is not None else STEPS]))
    lines.append("end")


def lr_rows(sched_factory, epochs, metrics=None):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    s = sched_factory(opt)
    out = []
    for e in range(epochs):
        opt.step()
        s.step(metrics[e]) if metrics is not None else s.step()
        out.append(opt.param_groups[0]["lr"])
    return out


LRS = torch.optim.lr_scheduler
SCHEDULES = [
    ("step", "step_lr", 10, dict(step_size=3, gamma=0.5), None),
    ("cosine", "cosine_annealing", 13, dict(T_max=5, eta_min=0.001), None),
    ("cosine_zero", "cosine_annealing", 8, dict(T_max=4), None),
    ("plateau_min", "reduce_lr_on_plateau", 16, dict(mode="min", factor=0.5, patience=2, cooldown=1),
     [1.0, 0.9, 0.95, 0.91, 0.92, 0.89, 0.8999, 0.9, 0.91, 0.7, 0.71, 0.72, 0.73, 0.74, 0.75, 0.76]),
    ("plateau_max_abs", "reduce_lr_on_plateau", 14,
     dict(mode="max", factor=0.1, patience=1, threshold=0.05, threshold_mode="abs", min_lr=0.0005),
     [0.5, 0.52, 0.6, 0.61, 0.62, 0.7, 0.71, 0.7, 0.69, 0.8, 0.8, 0.8, 0.8, 0.8]),
    ("plateau_nan", "reduce_lr_on_plateau", 6, dict(patience=0), [1.0, float("nan"), 0.5, float("nan"), 0.4, 0.3]),
]
CTORS = {"step_lr": LRS.StepLR, "cosine_annealing": LRS.CosineAnnealingLR, "reduce_lr_on_plateau": LRS.ReduceLROnPlateau}
for label, kind, epochs, kw, metrics in SCHEDULES:
    lrs = lr_rows(lambda o: CTORS[kind](o, **kw), epochs, metrics)
    opts = " ".join("%s=%s" % (k, v if isinstance(v, str) else repr(float(v))) for k, v in kw.items())
    lines.append("sched %s %s %d %s" % (label, kind, epochs, opts))
    if metrics is not None:
        lines.append("metrics %d %s" % (len(metrics), f64(metrics)))
    lines.append("lrs %d %s" % (len(lrs), f64(lrs)))
    lines.append("end")

grads = {n: torch.randn(s) * 0.7 for n, s in SHAPES}
for label, max_norm, norm_type in [("l2", 1.0, 2.0), ("l2_noclip", 100.0, 2.0), ("l1", 2.0, 1.0),
                                    ("linf", 0.5, math.inf), ("l3", 1.0, 3.0)]:
    params = [torch.zeros(s, requires_grad=True) for _, s in SHAPES]
    for p, (n, _) in zip(params, SHAPES):
        p.grad = grads[n].clone()
    total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)
    lines.append("clip %s %r %r" % (label, max_norm, norm_type))
    for n, _ in SHAPES:
        lines.append(row("grad", n, grads[n]))
    for p, (n, _) in zip(params, SHAPES):
        lines.append(row("clipped", n, p.grad))
    lines.append("total %s" % f32([float(total)]))
    lines.append("end")

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "torch_optim.txt")
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
print("wrote", out)
