"""Optimisers beyond plain SGD: momentum (heavy ball and Nesterov), RMSProp, Adam and AdamW.

Each keeps PyTorch's verbs and hyper-parameter names (``zero_grad()``,
``step()``, ``momentum``, ``betas``, ``eps`` ...) and its state per
parameter name in ``optimizer.state[name]``.  Every update is written once,
against the array namespace of the parameter (``nnref.namespace``), so the
same lines run on NumPy and on torch, in float32 and float64.

Weight decay follows ``nnref.optim.SGD``: it applies to the weight matrices
(names ending in ``W``) and never to biases or normalisation parameters, see
:func:`nnref.module.is_weight`.  torch decays every tensor it is given; to compare the two,
give torch the weights and the rest as separate parameter groups.
"""

from __future__ import annotations

from .backend import namespace
from .module import is_weight
from .validation import check_compatible, check_positive, check_same_shape


def _check_fraction(value, name: str, *, upper_open: bool = True) -> float:
    """A hyper-parameter in [0, 1) (or [0, 1])."""
    inside = 0 <= value < 1 if upper_open else 0 <= value <= 1
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not inside:
        interval = "[0, 1)" if upper_open else "[0, 1]"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


class Optimizer:
    """The shared part: validation, weight decay, per-parameter state, the step loop.

    A subclass writes one method, ``update(theta, g, state)``, returning the new
    parameter from the old one θ, its gradient g (weight decay already added)
    and its state dict (``state["step"]`` is t = 1, 2, ... for this parameter).
    """

    decoupled = False  # True: weight decay shrinks θ directly (AdamW) instead of entering g

    def __init__(self, model, lr: float, weight_decay: float = 0.0):
        if not callable(getattr(model, "parameters", None)) or not callable(getattr(model, "set_parameters", None)):
            raise TypeError(f"model must be an nnref Module (with parameters() and set_parameters()), "
                            f"got {type(model).__name__}")
        check_positive(lr, "lr")
        check_positive(weight_decay, "weight_decay", allow_zero=True)
        self.model, self.lr, self.weight_decay = model, float(lr), float(weight_decay)
        self.state: dict[str, dict] = {}

    def zero_grad(self) -> None:
        self.model.zero_grad()

    def step(self, grads: dict | None = None) -> None:
        """One update of every parameter, from ``grads`` or the model's last backward pass."""
        grads = self.model.gradients() if grads is None else grads
        params = self.model.parameters()
        missing = sorted(set(params) - set(grads))
        if missing:
            raise RuntimeError(f"no gradient for {missing}: call backward before step")
        new = {}
        for name, theta in params.items():
            g = grads[name]
            check_compatible(g, f"the gradient of {name!r}", theta, f"the parameter {name!r}")
            check_same_shape(g, f"the gradient of {name!r}", theta, f"the parameter {name!r}")
            if self.weight_decay and is_weight(name):
                if self.decoupled:
                    theta = theta * (1 - self.lr * self.weight_decay)
                else:
                    g = g + self.weight_decay * theta
            state = self.state.setdefault(name, {"step": 0})
            state["step"] += 1
            new[name] = self.update(theta, g, state)
        self.model.set_parameters(new)

    def update(self, theta, g, state):
        raise NotImplementedError

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k not in ("model", "state"))
        return f"{type(self).__name__}({settings})"


class Momentum(Optimizer):
    """SGD with momentum, heavy ball or Nesterov, as ``torch.optim.SGD`` computes it.

    Heavy ball (Polyak, 1964, "Some methods of speeding up the convergence of
    iteration methods"): θₜ₊₁ = θₜ − α ∇L(θₜ) + μ (θₜ − θₜ₋₁).  With a velocity
    b this is

        bₜ = μ bₜ₋₁ + (1 − τ) gₜ   (b₁ = g₁),    θₜ = θₜ₋₁ − lr · bₜ,

    with dampening τ = 0 (the same sequence as long as lr is constant; a
    schedule that changes lr rescales the whole velocity, as torch does).

    Nesterov (1983; in this form Sutskever, Martens, Dahl and Hinton, 2013,
    "On the importance of initialization and momentum in deep learning")
    takes the gradient at the look-ahead point θ + μ v; in the shifted
    variables that torch stores it becomes

        θₜ = θₜ₋₁ − lr · (gₜ + μ bₜ).

    ``momentum`` μ defaults to 0.9: torch's SGD defaults to 0, which is plain
    SGD (``nnref.optim.SGD``).  Nesterov needs μ > 0 and τ = 0, as in torch.
    """

    def __init__(self, model, lr: float, momentum: float = 0.9, dampening: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        super().__init__(model, lr, weight_decay)
        self.momentum = _check_fraction(momentum, "momentum")
        self.dampening = _check_fraction(dampening, "dampening", upper_open=False)
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum == 0 or self.dampening != 0):
            raise ValueError(f"Nesterov momentum needs momentum > 0 and dampening = 0, "
                             f"got momentum={momentum!r}, dampening={dampening!r}")

    def update(self, theta, g, state):
        if state["step"] == 1:
            state["velocity"] = g
        else:
            state["velocity"] = self.momentum * state["velocity"] + (1 - self.dampening) * g
        direction = g + self.momentum * state["velocity"] if self.nesterov else state["velocity"]
        return theta - self.lr * direction


class RMSProp(Optimizer):
    """RMSProp (Hinton, Srivastava and Swersky, 2012, Neural Networks for Machine
    Learning, lecture 6e), as ``torch.optim.RMSprop`` computes it:

        vₜ = α vₜ₋₁ + (1 − α) gₜ²   (v₀ = 0),    θₜ = θₜ₋₁ − lr · gₜ / (√vₜ + ε).

    ``centered=True`` (Graves, 2013, "Generating sequences with recurrent
    neural networks") divides by the standard deviation instead:
    mₜ = α mₜ₋₁ + (1 − α) gₜ and √(vₜ − mₜ²) + ε.  ``momentum`` μ > 0 keeps
    a velocity of the scaled steps: bₜ = μ bₜ₋₁ + gₜ / (…), θₜ = θₜ₋₁ − lr · bₜ.
    ε is added outside the square root, as in torch.
    """

    def __init__(self, model, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False):
        super().__init__(model, lr, weight_decay)
        self.alpha = _check_fraction(alpha, "alpha")
        check_positive(eps, "eps", allow_zero=True)
        self.eps = float(eps)
        self.momentum = _check_fraction(momentum, "momentum")
        self.centered = bool(centered)

    def update(self, theta, g, state):
        xp = namespace(theta)
        if state["step"] == 1:
            state["square_avg"] = xp.zeros_like(theta)
            state["grad_avg"] = xp.zeros_like(theta)
            state["velocity"] = xp.zeros_like(theta)
        state["square_avg"] = self.alpha * state["square_avg"] + (1 - self.alpha) * g * g
        second_moment = state["square_avg"]
        if self.centered:
            state["grad_avg"] = self.alpha * state["grad_avg"] + (1 - self.alpha) * g
            second_moment = second_moment - state["grad_avg"] * state["grad_avg"]
        scaled = g / (xp.sqrt(second_moment) + self.eps)
        if self.momentum:
            state["velocity"] = self.momentum * state["velocity"] + scaled
            scaled = state["velocity"]
        return theta - self.lr * scaled


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015, "Adam: a method for stochastic optimization",
    Algorithm 1), as ``torch.optim.Adam`` computes it:

        mₜ = β₁ mₜ₋₁ + (1 − β₁) gₜ,      vₜ = β₂ vₜ₋₁ + (1 − β₂) gₜ²   (m₀ = v₀ = 0),
        m̂ₜ = mₜ / (1 − β₁ᵗ),             v̂ₜ = vₜ / (1 − β₂ᵗ),
        θₜ = θₜ₋₁ − lr · m̂ₜ / (√v̂ₜ + ε).

    The bias corrections undo the pull of the zero start towards 0: at t = 1,
    m̂₁ = g₁ and v̂₁ = g₁², so every coordinate moves by about lr.
    ``weight_decay`` λ adds λθ to g (an L2 penalty); :class:`AdamW` decouples it.
    """

    def __init__(self, model, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(model, lr, weight_decay)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (_check_fraction(betas[0], "betas[0]"), _check_fraction(betas[1], "betas[1]"))
        check_positive(eps, "eps", allow_zero=True)
        self.eps = float(eps)

    def update(self, theta, g, state):
        xp, (beta1, beta2), t = namespace(theta), self.betas, state["step"]
        if t == 1:
            state["exp_avg"] = xp.zeros_like(theta)
            state["exp_avg_sq"] = xp.zeros_like(theta)
        state["exp_avg"] = beta1 * state["exp_avg"] + (1 - beta1) * g
        state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1 - beta2) * g * g
        m_hat = state["exp_avg"] / (1 - beta1**t)
        v_hat = state["exp_avg_sq"] / (1 - beta2**t)
        return theta - self.lr * m_hat / (xp.sqrt(v_hat) + self.eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019, "Decoupled
    weight decay regularization"), as ``torch.optim.AdamW`` computes it:

        θ ← θ · (1 − lr · λ), then the Adam step with the gradient alone,

    so the decay is not divided by √v̂ as an L2 term in g would be.
    """

    decoupled = True

    def __init__(self, model, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(model, lr, betas, eps, weight_decay)


OPTIMIZERS = {"momentum": Momentum, "rmsprop": RMSProp, "adam": Adam, "adamw": AdamW}

__all__ = ["OPTIMIZERS", "Adam", "AdamW", "Momentum", "Optimizer", "RMSProp"]
