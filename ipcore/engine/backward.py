"""One training step's forward and backward pass for a lockstep model, written out by hand where that is possible.

The step (``ipcore.training.loop``) needs, for every member m of a ``LockstepMLP``: the logits of its batch, its mean
cross-entropy L_m, each hidden layer's x and y, and the gradient of Σ_m L_m in every parameter's ``.grad``.
Autograd gets there with about a dozen recorded operations per layer; for the thesis's deep MNIST setting
(depth 7, width 50, 10 members) that bookkeeping, and the small elementwise kernels it cannot fuse, cost as much
as the matrix products themselves. ``forward_backward`` computes the same quantities directly when every rule of
the model is *elementwise* — u = a·x + c per unit with a, c fixed during the pass (``ip``, ``wd``, ``infomax``,
``bn_inc``, ``bn_wd``, the covariance and printed variants, ``triesch``, ``none``) — and falls back to autograd
otherwise (``ip_hard``, whose α, β come from the batch; ``batchnorm``, whose γ, b are learned).

Backward pass, per member (B = batch, z = pre-ReLU logits, o = ReLU(z) or z, p = softmax(o), t = the labels;
layer l: x_l = y_{l−1} W_l + b_l, u_l = a_l ⊙ x_l + c_l, y_l = f(u_l), y_0 = the input):

    ∂L/∂o = (p − onehot(t)) / B;        ∂L/∂z = ∂L/∂o ⊙ [o > 0]  (ReLU output)
    ∂L/∂W_out = y_Lᵀ ∂L/∂z;   ∂L/∂b_out = Σ_batch ∂L/∂z;   ∂L/∂y_L = ∂L/∂z W_outᵀ
    ∂L/∂x_l = ∂L/∂y_l ⊙ f′(u_l) ⊙ a_l,  f′ written in terms of y_l (``Activation.derivative_from_output``)
    ∂L/∂W_l = y_{l−1}ᵀ ∂L/∂x_l;   ∂L/∂b_l = Σ_batch ∂L/∂x_l;   ∂L/∂y_{l−1} = ∂L/∂x_l W_lᵀ

— the chain rule autograd applies, operation for operation, so the two agree to float rounding (the tests compare
them for every rule family, every activation, and members with NaN losses).

When the step needs no layer's x itself (``keep_pre`` False: its rules update from batch means and measure their
fixed points from them) and no rule has the affine form (``folds_coefficients``), a, c are folded into the hidden
layers' weights instead, W′_l = W_l ⊙ a_l (each unit's incoming column scaled) and b′_l = a_l ⊙ b_l + c_l, so that
u_l = y_{l−1} W′_l + b′_l comes out of the product itself: two elementwise passes over the batch per layer (a·x + c
forward, ⊙ a backward) become passes over the H × H weights. Backward, ∂L/∂y_{l−1} = ∂L/∂u_l W′_lᵀ,
∂L/∂W_l = a_l ⊙ (y_{l−1}ᵀ ∂L/∂u_l), ∂L/∂b_l = a_l ⊙ Σ_batch ∂L/∂u_l; the means come from u: E[x] = (E[u] − c)/a,
E[xy] = (E[uy] − c E[y])/a. The first layer keeps u = a·x + c (its weights, D × H, are larger than its batch of x).

Three choices that change no value (docs/performance.md, "What the engine does"): where tanh is computed as
2σ(2u) − 1 (``ipcore.engine.activations.cpu_tanh_kernel``) σ gets v = 2u directly (2a, 2c; doubling is exact);
every batch tensor is held units × batch, ``[M, H, B]``, handed out as transposed ``[M, B, ·]`` views; and f′
is applied by the fused kernel autograd uses (``tanh_backward``, ``sigmoid_backward``, ``threshold_backward``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ipcore.engine.activations import ACTIVATIONS, Activation, tanh_from_doubled, uses_logistic_tanh
from ipcore.engine.model import LockstepMLP, class_log_probs, mean_negative_log_likelihood, member_losses
from ipcore.engine.rules import batch_moments

_aten = torch.ops.aten
_FUSED_BACKWARD: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "tanh": _aten.tanh_backward,  # grad · (1 − y²)
    "logistic": _aten.sigmoid_backward,  # grad · y(1 − y)
    "relu": lambda grad, y: _aten.threshold_backward(grad, y, 0),  # grad where y > 0, else 0
}


def activation_backward(activation: Activation, grad: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """∂L/∂u = ∂L/∂y ⊙ f′(u), with f′ from the output y: for the registered tanh, logistic and ReLU one fused
    kernel (the one autograd's own backward uses), for any other activation ``grad · derivative_from_output(y)``."""
    fused = _FUSED_BACKWARD.get(activation.name)
    if fused is not None and type(activation) is ACTIVATIONS.get(activation.name):
        return fused(grad, y)
    return grad * activation.derivative_from_output(y)


class StepOutputs(NamedTuple):
    """What one training pass gives the step, all detached: logits ``[M, B, C]``, losses ``[M]``, each hidden
    layer's x (none, when the pass was told ``keep_pre=False``) and y ``[M, B, H]``, and the batch means of x and
    y that were asked for (``Rule.moments``), ``[M, depth·H]`` each by name."""

    logits: torch.Tensor
    losses: torch.Tensor
    pre: list[torch.Tensor]
    post: list[torch.Tensor]
    means: dict[str, torch.Tensor]


def manual_backward_supported(model: LockstepMLP) -> bool:
    """Whether ``forward_backward`` can skip autograd for ``model``: every rule elementwise (the base class's
    transform, no ``prepare``, no learned parameters) and a ReLU or linear output."""
    return (
        all(model._elementwise)
        and not any(rule.has_parameters for rule in model.rules)
        and model.output in ("relu", "linear")
    )


def forward_backward(
    model: LockstepMLP,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    manual: bool | None = None,
    moments: tuple[str, ...] = (),
    keep_pre: bool = True,
) -> StepOutputs:
    """A training forward pass on ``inputs`` ``[S, B, D]`` with ``labels`` ``[M, B]``, and the gradients of
    Σ_m L_m left in each parameter's ``.grad`` (which must be None on entry, as after ``zero_grad``).

    Returns the ``StepOutputs``, with the batch means ``moments`` (names from ``ipcore.engine.rules.MOMENTS``) of every
    hidden layer's x and y: the hand-written pass takes them layer by layer while x and y are in the cache.
    ``manual``: None chooses (the hand-written pass where ``manual_backward_supported``), True/False forces one
    (True on an unsupported model is a ValueError). ``keep_pre`` False: the caller needs no layer's x, and the
    hand-written pass returns ``pre`` empty (it then folds a, c into the hidden weights; see the module's text)."""
    if manual is None:
        manual = manual_backward_supported(model)
    if manual:
        if not manual_backward_supported(model):
            raise ValueError("the hand-written backward pass needs elementwise rules and a relu or linear output")
        return manual_forward_backward(model, inputs, labels, moments, keep_pre)
    logits, pre, post = model.forward(inputs, training=True)
    losses = member_losses(logits, labels)
    losses.sum().backward()
    model.drop_bias_gradients_before_normalisation()
    pre, post = [x.detach() for x in pre], [y.detach() for y in post]
    means = batch_moments(model.stack_layers(pre), model.stack_layers(post), moments) if moments else {}
    return StepOutputs(logits.detach(), losses.detach(), pre, post, means)


def _shared_coefficients(model: LockstepMLP) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(a, c) ``[M, 1, depth·H]`` with u = a·x + c for every member, or None when every rule is ``none`` (u = x);
    the same tensors ``LockstepMLP.forward`` builds."""
    if all(model._identity):
        return None
    pairs = [model._coefficients(g) for g in range(model.num_rules)]
    if model.num_rules == 1:
        return pairs[0]
    return torch.cat([a for a, _ in pairs]), torch.cat([c for _, c in pairs])


def folds_coefficients(model: LockstepMLP) -> bool:
    """Whether the hand-written pass may fold a, c into the hidden weights when asked for no x (``keep_pre``
    False): some rule transforms x, and none has the affine form u = αx + β. There a = α can come near 0 (Infomax's
    α crossing zero), and x's means recovered from u, (E[u] − β)/α, would lose their precision as it does; in the
    divide form a = 1/α is at most 10⁶ (``safe_alpha``) and they keep it."""
    return not all(model._identity) and not any(rule.form == "affine" for rule in model.rules)


def _means_of_x_from_u(
    means_u: dict[str, torch.Tensor], a: torch.Tensor, c: torch.Tensor, moments: tuple[str, ...]
) -> dict[str, torch.Tensor]:
    """The batch means ``moments`` of x and y from those of u = a·x + c and y (``means_u`` holds "x" → E[u] and
    "xy" → E[uy] where asked, and "y" → E[y] always when "xy" is asked): E[x] = (E[u] − c)/a,
    E[xy] = (E[uy] − c·E[y])/a; ``a``, ``c`` ``[M, U]``, any number U of units."""
    means = {}
    for name in moments:
        if name == "y":
            means[name] = means_u["y"]
        elif name == "x":
            means[name] = (means_u["x"] - c) / a
        else:  # "xy"
            means[name] = (means_u["xy"] - c * means_u["y"]) / a
    return means


def _doubles_tanh_argument(activation: Activation, like: torch.Tensor) -> bool:
    """Whether the pass feeds tanh 2u instead of u: tanh(u) = 2σ(2u) − 1 is this machine's tanh kernel
    (``uses_logistic_tanh``), and the 2 can ride on coefficients the pass multiplies by anyway, so that the
    separate pass u·2 disappears. Doubling is exact in floating point, so every value stays the same to the bit."""
    return type(activation) is ACTIVATIONS["tanh"] and uses_logistic_tanh(like)


@torch.no_grad()
def manual_forward_backward(
    model: LockstepMLP,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    moments: tuple[str, ...] = (),
    keep_pre: bool = True,
) -> StepOutputs:
    R, S, H, D, L = model.num_rules, model.num_seeds, model.width, model.input_dim, model.depth
    M, B = model.members, inputs.shape[1]
    activation = model.activation
    coefficients = _shared_coefficients(model)
    # (parameters are used as they are: under no_grad nothing is recorded, so they need no detach)
    # batch tensors are held units × batch, [M, H, B] (names ending in _t; see the module's text)

    # --- forward (the arithmetic of LockstepMLP.forward in training mode) ---
    x_t = torch.baddbmm(
        model.first_bias.view(S, R * H, 1), model.first_weight.view(S, R * H, D), inputs.transpose(1, 2)
    )
    if R > 1:  # [S, R·H, B] → members r·S + s
        x_t = x_t.view(S, R, H, B).transpose(0, 1).reshape(M, H, B)
    fold = coefficients is not None and not keep_pre and folds_coefficients(model)
    doubled = coefficients is not None and _doubles_tanh_argument(activation, x_t)
    if coefficients is not None:
        a_all, c_all = coefficients  # [M, 1, L·H]
        # what multiplies x (or, folded, each unit's incoming weights) to give the activation's argument
        a_arg, c_arg = (a_all * 2, c_all * 2) if doubled else (a_all, c_all)
        a_layers, a_arg_layers, c_arg_layers = a_all.split(H, -1), a_arg.split(H, -1), c_arg.split(H, -1)
    # with a folded layer, the pass takes the means of its argument v (u, or 2u) and converts them at the end
    means_v_names = tuple(dict.fromkeys(moments + (("y",) if "xy" in moments else ())))
    pre: list[torch.Tensor] = []
    post_t: list[torch.Tensor] = []  # each layer's y, [M, H, B]
    layer_means: dict[str, list[torch.Tensor]] = {name: [] for name in moments}
    folded_means: dict[str, list[torch.Tensor]] = {name: [] for name in means_v_names}
    folded_weights: list[torch.Tensor] = []  # W′_l = W_l ⊙ a_l of the hidden layers, when folding
    for layer in range(L):
        if fold and layer > 0:
            weight = model.hidden_weights[layer - 1] * a_layers[layer]
            folded_weights.append(weight)
            bias = torch.addcmul(c_arg_layers[layer], model.hidden_biases[layer - 1], a_arg_layers[layer])
            # vᵀ = W′ᵀyᵀ·2 + b′·2 when doubled: the product's own scale factor, exact
            v_t = torch.baddbmm(bias.view(M, H, 1), weight.transpose(1, 2), post_t[-1], alpha=2 if doubled else 1)
            post_t.append(tanh_from_doubled(v_t) if doubled else activation.value(v_t))
            y = post_t[-1].transpose(1, 2)
            for name, mean in batch_moments(v_t.transpose(1, 2), y, means_v_names).items():
                folded_means[name].append(mean)
            continue
        if layer > 0:
            weight, bias = model.hidden_weights[layer - 1], model.hidden_biases[layer - 1]
            x_t = torch.baddbmm(bias.view(M, H, 1), weight.transpose(1, 2), post_t[-1])
        x = x_t.transpose(1, 2)
        if keep_pre:
            pre.append(x)
        if coefficients is None:
            post_t.append(activation.value(x_t))
        else:
            # a·x then + c: with a, c broadcast along the batch (the last, contiguous axis), addcmul is 2× slower
            v_t = torch.mul(x_t, a_arg_layers[layer].view(M, H, 1)).add_(c_arg_layers[layer].view(M, H, 1))
            post_t.append(tanh_from_doubled(v_t) if doubled else activation.value(v_t))
        for name, mean in batch_moments(x, post_t[-1].transpose(1, 2), moments).items():
            layer_means[name].append(mean)
    if fold and moments and L > 1:  # E[x], E[xy] of every folded layer at once, from those of v = a′x + c′
        stacked = {name: torch.cat(parts, dim=-1) for name, parts in folded_means.items()}
        converted = _means_of_x_from_u(stacked, a_arg[:, 0, H:], c_arg[:, 0, H:], moments)
        for name in moments:
            layer_means[name].append(converted[name])
    out_weight = model.out_weight  # [M, H, C]
    C = out_weight.shape[-1]
    logits = torch.baddbmm(model.out_bias.view(M, C, 1), out_weight.transpose(1, 2), post_t[-1]).transpose(1, 2)
    if model.output == "relu":
        logits = F.relu(logits)
    log_probs = class_log_probs(logits)
    losses = mean_negative_log_likelihood(log_probs, labels)  # [M]

    # --- backward: ∂(Σ_m L_m) ---
    grad = log_probs.exp_().mul_(1.0 / B)  # p / B (log_probs is not needed any more)
    grad.scatter_add_(-1, labels.unsqueeze(-1), torch.full((M, B, 1), -1.0 / B, dtype=grad.dtype, device=grad.device))
    if model.output == "relu":
        grad = _aten.threshold_backward(grad, logits, 0)
    grads: dict[int, torch.Tensor] = {}
    grads[id(model.out_weight)] = torch.bmm(post_t[-1], grad)  # y_Lᵀ ∂L/∂z, [M, H, C]
    grads[id(model.out_bias)] = grad.sum(dim=1, keepdim=True)
    grad_t = torch.bmm(out_weight, grad.transpose(1, 2))  # (∂L/∂y)ᵀ of the last hidden layer, [M, H, B]
    for layer in reversed(range(L)):
        grad_t = activation_backward(activation, grad_t, post_t[layer])  # (∂L/∂u)ᵀ
        weight_a = None if coefficients is None else a_layers[layer]  # [M, 1, H]
        if fold and layer > 0:  # ∂L/∂W = a ⊙ (yᵀ ∂L/∂u), ∂L/∂b = a ⊙ Σ ∂L/∂u, ∂L/∂y = ∂L/∂u W′ᵀ
            weight, bias = model.hidden_weights[layer - 1], model.hidden_biases[layer - 1]
            grads[id(weight)] = torch.bmm(post_t[layer - 1], grad_t.transpose(1, 2)).mul_(weight_a)
            grads[id(bias)] = grad_t.sum(dim=2).view(M, 1, H).mul_(weight_a)
            grad_t = torch.bmm(folded_weights[layer - 1], grad_t)
            continue
        if weight_a is not None:
            grad_t.mul_(weight_a.view(M, H, 1))  # ∂L/∂x = ∂L/∂u ⊙ a
        if layer == 0:
            break
        weight, bias = model.hidden_weights[layer - 1], model.hidden_biases[layer - 1]
        grads[id(weight)] = torch.bmm(post_t[layer - 1], grad_t.transpose(1, 2))
        grads[id(bias)] = grad_t.sum(dim=2).view(M, 1, H)
        grad_t = torch.bmm(weight, grad_t)
    if R > 1:  # members back to the first layer's [S, R·H, B]
        grad_t = grad_t.view(R, S, H, B).transpose(0, 1).reshape(S, R * H, B)
    # ∂L/∂W₁ᵀ = Gᵀ X: the first weights are stored transposed ([S, R, H, D]), so this product is laid out like
    # them, as the fused Adam kernel needs
    grads[id(model.first_weight)] = torch.bmm(grad_t, inputs).view(S, R, H, D)
    grads[id(model.first_bias)] = grad_t.sum(dim=2).view(S, 1, R, H)
    for param in model.parameters():
        param.grad = grads[id(param)]
    means = {name: torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0] for name, parts in layer_means.items()}
    post = [y_t.transpose(1, 2) for y_t in post_t]  # [M, B, H] views
    # the logits laid out [M, B, C], as LockstepMLP.forward gives them: the step's argmax over the 10 classes runs
    # 10× faster on a CPU along a contiguous last dimension (0.025 against 0.25 ms), for a copy of 2 · 10⁴ floats
    return StepOutputs(logits.contiguous(), losses, pre, post, means)
