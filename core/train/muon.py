"""Muon for a from-scratch model's hidden matrices, AdamW for the rest, as one optimizer the Trainer can drive.

Muon (torch.optim.Muon, torch >= 2.9) orthogonalises each 2-D weight's momentum before the step: more learnt per
token seen, which is what a model trained for minutes is short of. It takes the transformer blocks' matrices only;
the embeddings (tied to the output head), biases and layer norms stay with AdamW, as in Keller Jordan's recipe. With
`adjust_lr_fn="match_rms_adamw"` its steps are scaled to AdamW's, and the run's one schedule serves both; its rate is
MUON_RATE times the run's (AdamW's). The embeddings' group is named EMBEDDINGS, so that a run of few passes can raise
its rate (sizing.embedding_rate_for, applied by callbacks.PassesCallback).

transformers has no Muon of its own (only a hook for optimizer factories, which is how this one is handed over), and
torch's two optimizers each want all of a model's parameters, hence this small composite: one param_groups list and
one state over both, so the Trainer's schedule, checkpoints and resume see a single optimizer.
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch

# Muon's rate over the run's: at 1x a step matches AdamW's size, but a larger one paid (4 x 128 from scratch, 2e-3:
# zh-poetry 2 min 5.05 / 5.02 / 5.18 nats per character at 1x / 3x / 6x; tinyshakespeare 75 s 1.62 / 1.60 / 1.64).
MUON_RATE = 3.0
EMBEDDINGS = "embeddings"  # the name of AdamW's group of the token and position embeddings (and the tied head)


def hidden_matrices(model) -> list[str]:
    """The names of the parameters Muon trains: the 2-D weights other than the token and position embeddings and the
    output head (GPT-2's attention and MLP matrices)."""
    embeddings = {id(module.weight) for module in model.modules() if isinstance(module, torch.nn.Embedding)}
    head = model.get_output_embeddings()
    if head is not None:
        embeddings.add(id(head.weight))
    return [name for name, p in model.named_parameters() if p.requires_grad and p.ndim == 2 and id(p) not in embeddings]


class StackedMuon(torch.optim.Muon):
    """torch's Muon with the matrices of one shape orthogonalised together: the same update, state and groups (a
    checkpoint of either loads into the other). torch's loop runs Newton-Schulz one matrix at a time; for a tiny
    model on a CPU that is a fifth of a step, and stacked by shape (GPT-2 has four per layer) it takes less (one
    core of the Xeon in BENCHMARKS.md, bf16: 19 -> 12 ms a step at 4 x 128, 35 -> 30 ms at 4 x 192). Hand-written
    for that alone; a test holds it to torch's own steps.

    Newton-Schulz runs in bf16 on a GPU, as torch's Muon, and in float32 on a CPU: a CPU without bf16 instructions
    (AVX2 only, most laptops) multiplies bf16 matrices ~20x slower than float32 ones (192 x 768, one core: 444 against
    21 ms), which made a step there ~15x slower than AdamW's. `orthogonal_dtype` forces one (the tests compare with
    torch's bf16 steps)."""

    def __init__(self, params, *, orthogonal_dtype: torch.dtype | None = None, **options):
        super().__init__(params, **options)
        self.orthogonal_dtype = orthogonal_dtype

    @torch.no_grad()
    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            by_shape = defaultdict(list)
            for p in group["params"]:
                if p.grad is not None:
                    by_shape[p.shape].append(p)
            for shape, params in by_shape.items():
                self._step_stack(group, shape, params)
        return loss

    def _step_stack(self, group, shape, params) -> None:
        momentum, lr = group["momentum"], group["lr"]
        grads = [p.grad for p in params]
        buffers = []
        for p in params:
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(p.grad)
            buffers.append(state["momentum_buffer"])
        torch._foreach_lerp_(buffers, grads, 1 - momentum)
        if group["nesterov"]:
            updates = torch.stack([g.lerp(b, momentum) for g, b in zip(grads, buffers, strict=True)])
        else:
            updates = torch.stack(buffers)
        dtype = self.orthogonal_dtype or (torch.bfloat16 if updates.is_cuda else torch.float32)
        orthogonal = _newton_schulz(updates, group["ns_coefficients"], group["ns_steps"], group["eps"], dtype)
        torch._foreach_mul_(params, 1 - lr * group["weight_decay"])
        torch._foreach_add_(params, list(orthogonal.to(params[0].dtype).unbind(0)),
                            alpha=-_adjusted_lr(lr, group["adjust_lr_fn"], shape))


def _closure_loss(closure):
    """What torch's optimizers do with a closure: call it, with gradients on, before the step."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def _newton_schulz(stack: torch.Tensor, coefficients, steps: int, eps: float, dtype: torch.dtype) -> torch.Tensor:
    """torch.optim._muon._zeropower_via_newtonschulz over a stack of matrices (in `dtype`, the shorter side first)."""
    a, b, c = coefficients
    x = stack.to(dtype)
    tall = stack.size(-2) > stack.size(-1)
    if tall:
        x = x.mT
    x = x / x.norm(dim=(-2, -1), keepdim=True).clamp(min=eps)
    for _ in range(steps):
        gram = x @ x.mT
        x = torch.baddbmm(x, torch.baddbmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.mT if tall else x


def _adjusted_lr(lr: float, adjust_lr_fn: str | None, shape) -> float:
    """torch.optim._muon._adjust_lr: the rate for a matrix of this shape."""
    rows, cols = shape[:2]
    if adjust_lr_fn == "match_rms_adamw":
        return 0.2 * math.sqrt(max(rows, cols)) * lr
    return math.sqrt(max(1, rows / cols)) * lr


class MuonAdamW(torch.optim.Optimizer):
    def __init__(self, model, *, lr: float, weight_decay: float, betas=(0.9, 0.99), eps: float = 1e-8,
                 muon_lr: float | None = None):
        """`lr` for AdamW's parameters; Muon's is `muon_lr`, by default MUON_RATE x lr."""
        hidden = set(hidden_matrices(model))
        muon_params, decay, no_decay = [], [], []
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            if name in hidden:
                muon_params.append(p)
            else:  # GPT-2's usual split: weight decay on matrices (the embeddings), none on biases and norms
                (decay if p.ndim >= 2 else no_decay).append(p)
        self.muon = StackedMuon(muon_params, lr=muon_lr or MUON_RATE * lr, weight_decay=weight_decay,
                                adjust_lr_fn="match_rms_adamw")
        self.adamw = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay, "name": EMBEDDINGS},
                                        {"params": no_decay, "weight_decay": 0.0}],
                                       lr=lr, betas=betas, eps=eps, fused=True)
        # the children's group dicts themselves, so a scheduler's change of lr reaches them
        super().__init__(self.muon.param_groups + self.adamw.param_groups, {})
        self._share()

    def _share(self) -> None:
        """The children step over this optimizer's groups and state (after a load, new objects)."""
        split = len(self.muon.param_groups)
        self.muon.param_groups, self.adamw.param_groups = self.param_groups[:split], self.param_groups[split:]
        self.muon.state = self.adamw.state = self.state

    @torch.no_grad()
    def step(self, closure=None):
        loss = _closure_loss(closure)
        self.muon.step()
        self.adamw.step()
        return loss

    def load_state_dict(self, state_dict) -> None:
        super().load_state_dict(state_dict)
        self._share()


class MuonAdamWFactory:
    """What Trainer(optimizer_cls_and_kwargs=(MuonAdamWFactory, kwargs)) calls with the model (transformers' hook
    for optimizers that split a model's parameters)."""

    def __call__(self, model, **kwargs) -> MuonAdamW:
        return MuonAdamW(model, **kwargs)
