"""Write tests/optimizer_reference.json: optimizer trajectories computed by PyTorch.

The optimizer tests compare this engine's SGD and AdamW (and the Grokfast
gradient filter) against these numbers, so the tests never restate the update
rules the students are asked to write. Each case starts from the same
parameter, feeds the same three gradients, and records the parameter after
every step, in float64:
  - torch.optim.AdamW and torch.optim.SGD, as PyTorch implements them;
  - Grokfast-EMA as its authors' code applies it (Lee et al. 2024,
    github.com/ironjr/grokfast, `gradfilter_ema`): the filter runs on p.grad,
    then the PyTorch optimizer steps.

Not part of the project (it needs PyTorch, which the project never uses).
Regenerate, in any environment that has PyTorch and NumPy:
    python tools/optimizer_reference.py > tests/optimizer_reference.json
"""
import json

import numpy as np
import torch

START = [1.0, -2.0]
GRADS = [[0.5, -1.0], [0.1, 0.2], [-0.3, 0.4]]

CASES = {
    "adamw": ("AdamW", dict(lr=0.1, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.5), None),
    "adamw-default-betas": ("AdamW", dict(lr=0.01, weight_decay=0.0), None),
    "sgd": ("SGD", dict(lr=0.5), None),
    "sgd-momentum": ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01), None),
    "sgd-nesterov": ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True), None),
    "sgd-dampening": ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5), None),
    "adamw-grokfast": ("AdamW", dict(lr=0.1, betas=(0.9, 0.98), weight_decay=0.5), dict(alpha=0.98, lamb=2.0)),
    "sgd-grokfast": ("SGD", dict(lr=0.1, momentum=0.9), dict(alpha=0.8, lamb=5.0)),
}


def gradfilter_ema(params, grads, alpha, lamb):
    """Lee et al.'s gradfilter_ema, over a list of parameters instead of a module."""
    if grads is None:
        grads = [p.grad.data.detach() for p in params]
    for i, p in enumerate(params):
        grads[i] = grads[i] * alpha + p.grad.data.detach() * (1 - alpha)
        p.grad.data = p.grad.data + grads[i] * lamb
    return grads


def trajectory(name, kwargs, grokfast):
    p = torch.tensor(START, dtype=torch.float64, requires_grad=True)
    optimizer = getattr(torch.optim, name)([p], **kwargs)
    ema, out = None, []
    for g in GRADS:
        p.grad = torch.tensor(g, dtype=torch.float64)
        if grokfast:
            ema = gradfilter_ema([p], ema, grokfast["alpha"], grokfast["lamb"])
        optimizer.step()
        out.append(p.detach().numpy().tolist())
    return out


def main():
    cases = {}
    for key, (name, kwargs, grokfast) in CASES.items():
        cases[key] = {"optimizer": name, "kwargs": {k: list(v) if isinstance(v, tuple) else v
                                                    for k, v in kwargs.items()},
                      "grokfast": grokfast, "params_after_each_step": trajectory(name, kwargs, grokfast)}
    print(json.dumps({"computed_with": f"PyTorch {torch.__version__}, NumPy {np.__version__}, float64; "
                                       "tools/optimizer_reference.py",
                      "start": START, "grads": GRADS, "cases": cases}, indent=1))


if __name__ == "__main__":
    main()
