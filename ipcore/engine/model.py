"""Lockstep tanh MLPs: every rule × seed of a comparison as one batched model.

Member m (of M = R·S) runs rule ``rules[m // S]`` from seed ``seeds[m % S]``. Hidden layer l of member m:

    x = h W + b,   u = rule.transform(x) (e.g. u = (x − β)/α),   y = tanh(u)

(thesis §3.2.1–3.2.2), then a Linear output followed by ReLU (the thesis's networks) or nothing ("linear").

Layout: hidden and output weights are stacked ``[M, fan_in, fan_out]`` with biases ``[M, 1, fan_out]`` and a
layer is one ``torch.baddbmm``. The first layer is stored ``[S, R, H, D]`` instead (transposed, with its bias
``[S, 1, R, H]``): all rules of one seed see the same input batch, so that layer is one ``[S, B, D] × [S, D,
R·H]`` product without copying the input R times, and its weight gradient Gᵀ·X is laid out like the weights.
Every member is initialised like PyTorch's ``nn.Linear`` (W and b uniform in ±1/√fan_in) from a
``torch.Generator`` seeded with the member's seed, so all rules start from identical weights for the same seed.

Each rule group keeps one state for all its hidden layers, ``[S, L·H]`` (layer l owns units l·H … l·H+H−1):
the forward pass hands the rule per-layer views, and one ``rule.update`` call updates every layer at once,
which is the same arithmetic as L separate calls (every statistic is per unit) with L times fewer operations.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F

from ipcore.engine.activations import Activation, get_activation
from ipcore.engine.rules import BatchNorm, NoRule, Rule, State, safe_alpha


def _overrides(rule: Rule, method: str) -> bool:
    return getattr(type(rule), method) is not getattr(Rule, method)


class LockstepMLP:
    """R rules × S seeds of a ``depth``-layer, ``width``-unit tanh MLP, trained together."""

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        depth: int,
        width: int,
        rules: Sequence[Rule],
        seeds: Sequence[int],
        output: str = "relu",
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        activation: str = "tanh",
    ):
        self.input_dim, self.num_classes, self.depth, self.width = input_dim, num_classes, depth, width
        self.rules, self.seeds, self.output = list(rules), list(seeds), output
        self.device, self.dtype = torch.device(device), dtype
        self.num_rules, self.num_seeds = len(self.rules), len(self.seeds)
        self.members = self.num_rules * self.num_seeds
        R, S, D, H, C = self.num_rules, self.num_seeds, input_dim, width, num_classes

        # Draw every seed's weights on the CPU (same numbers on any device), then tile them over the rules.
        per_seed = [self._init_seed(seed) for seed in self.seeds]  # [(W, b) per layer] per seed

        def stack(layer: int, part: int) -> torch.Tensor:
            tensor = torch.stack([p[layer][part] for p in per_seed])  # [S, ...]
            return tensor.repeat(R, *([1] * (tensor.dim() - 1)))  # [M, ...] rule-major

        first_w = torch.stack([p[0][0] for p in per_seed])  # [S, D, H]
        first_b = torch.stack([p[0][1] for p in per_seed])  # [S, H]
        # the first layer's weights are stored transposed, [S, R, H, D]: its gradient Gᵀ·X then lands in this
        # layout directly (X·W and Xᵀ·G in the [S, D, R·H] layout cost a copy of the gradient, 5–8 % of a deep
        # MNIST step on one CPU thread)
        first_t = first_w.transpose(1, 2).unsqueeze(1).repeat(1, R, 1, 1).contiguous()
        self.first_weight = first_t.to(self.device, dtype).requires_grad_()
        self.first_bias = first_b.view(S, 1, 1, H).repeat(1, 1, R, 1).to(self.device, dtype).requires_grad_()
        self.hidden_weights = [stack(layer, 0).to(self.device, dtype).requires_grad_() for layer in range(1, depth)]
        self.hidden_biases = [
            stack(layer, 1).unsqueeze(1).to(self.device, dtype).requires_grad_() for layer in range(1, depth)
        ]
        self.out_weight = stack(depth, 0).to(self.device, dtype).requires_grad_()  # [M, H, C]
        self.out_bias = stack(depth, 1).unsqueeze(1).to(self.device, dtype).requires_grad_()  # [M, 1, C]
        assert self.first_weight.shape == (S, R, H, D) and self.out_weight.shape == (R * S, H, C)

        # One rule state per group for all hidden layers: [S, depth·H].
        self.states: list[State] = [rule.init_state(S, depth * H, self.device, dtype) for rule in self.rules]
        self._views = [[self._layer_view(g, layer) for layer in range(depth)] for g in range(R)]
        self._needs_prepare = [_overrides(rule, "prepare") for rule in self.rules]
        self.activation: Activation = get_activation(activation)
        # Rules whose u depends on x, α, β alone, by the base class's formula: u = a·x + c (see forward).
        self._elementwise = [not _overrides(rule, "transform") and not _overrides(rule, "prepare") for rule in rules]
        self._identity = [e and rule.form == "none" for e, rule in zip(self._elementwise, self.rules, strict=True)]
        # Batch normalisation subtracts the batch mean, so the bias of the layer feeding it has gradient 0
        # exactly; in floats it gets rounding noise, which Adam (g/√v) would blow up into lr-sized random
        # steps that only show through the running mean. Those biases are kept fixed instead.
        normalised = torch.tensor([isinstance(rule, BatchNorm) for rule in self.rules for _ in self.seeds])
        self._fixed_bias = None
        if normalised.any():
            normalised = normalised.to(self.device)
            first = normalised.view(R, S).t().reshape(S, 1, R, 1)
            self._fixed_bias = [(self.first_bias, first)] + [(b, normalised.view(-1, 1, 1)) for b in self.hidden_biases]
        self._updates = [not isinstance(rule, NoRule) for rule in self.rules]

    # --- construction -------------------------------------------------------------------------------
    def _init_seed(self, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """nn.Linear's default initialisation, W ~ U(±1/√fan_in) then b ~ U(±1/√fan_in), layer by layer."""
        generator = torch.Generator().manual_seed(int(seed))
        sizes = [self.input_dim] + [self.width] * self.depth + [self.num_classes]
        layers = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            bound = 1.0 / math.sqrt(fan_in)
            weight = (torch.rand(fan_in, fan_out, generator=generator) * 2 - 1) * bound
            bias = (torch.rand(fan_out, generator=generator) * 2 - 1) * bound
            layers.append((weight, bias))
        return layers

    def _layer_view(self, group: int, layer: int) -> State:
        """Layer ``layer``'s slice of group ``group``'s state (views: in-place updates reach the full state)."""
        lo, hi = layer * self.width, (layer + 1) * self.width
        state = self.states[group]
        return {k: (v[:, lo:hi] if isinstance(v, torch.Tensor) else v) for k, v in state.items()}

    def parameters(self) -> list[torch.Tensor]:
        """Everything Adam trains: weights, biases, and the learned parameters of rules such as batchnorm."""
        params = [self.first_weight, self.first_bias]
        for weight, bias in zip(self.hidden_weights, self.hidden_biases, strict=True):
            params += [weight, bias]
        params += [self.out_weight, self.out_bias]
        for state in self.states:
            params += [v for v in state.values() if isinstance(v, torch.Tensor) and v.requires_grad]
        return params

    def drop_bias_gradients_before_normalisation(self) -> None:
        """Zero the (mathematically zero) gradients of the biases that feed a batch-normalised layer."""
        if self._fixed_bias is None:
            return
        for bias, mask in self._fixed_bias:
            if bias.grad is not None:
                bias.grad.masked_fill_(mask, 0.0)

    def member_masks(self, member_flags: torch.Tensor) -> list[torch.Tensor]:
        """``member_flags`` [M] bool laid out like each tensor of ``parameters()`` (broadcastable)."""
        R, S = self.num_rules, self.num_seeds
        by_seed = member_flags.view(R, S).t()  # [S, R]
        masks = [by_seed.reshape(S, R, 1, 1), by_seed.reshape(S, 1, R, 1)]  # first weight [S, R, H, D], bias
        per_member = member_flags.view(-1, 1, 1)
        masks += [per_member] * (2 * (self.depth - 1) + 2)
        for g, state in enumerate(self.states):
            group = member_flags[g * S : (g + 1) * S].view(S, 1)
            masks += [group for v in state.values() if isinstance(v, torch.Tensor) and v.requires_grad]
        return masks

    def member_parameters(self, member: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Member ``member``'s (W [fan_in, fan_out], b [fan_out]) per layer, copied to the CPU."""
        r, s = divmod(member, self.num_seeds)
        layers = [(self.first_weight[s, r].t(), self.first_bias[s, 0, r])]
        layers += [(w[member], b[member, 0]) for w, b in zip(self.hidden_weights, self.hidden_biases, strict=True)]
        layers.append((self.out_weight[member], self.out_bias[member, 0]))
        return [(w.detach().cpu().clone(), b.detach().cpu().clone()) for w, b in layers]

    # --- forward ------------------------------------------------------------------------------------
    def _first_layer(self, inputs: torch.Tensor) -> torch.Tensor:
        """x of the first hidden layer, ``[M, B, H]``, from ``[S, B, D]`` (a batch per seed) or ``[B, D]``
        (one batch shared by every member, e.g. evaluation)."""
        R, S, H, D = self.num_rules, self.num_seeds, self.width, self.input_dim
        if inputs.dim() == 2:  # one product for every member: [B, D] × [D, S·R·H]
            weight = self.first_weight.reshape(S * R * H, D).t()  # [D, S·R·H], a view
            x = torch.addmm(self.first_bias.reshape(1, S * R * H), inputs, weight)  # [B, S·R·H]
            return x.view(-1, S, R, H).permute(2, 1, 0, 3).reshape(R * S, -1, H)
        x = torch.baddbmm(
            self.first_bias.view(S, 1, R * H), inputs, self.first_weight.view(S, R * H, D).transpose(1, 2)
        )
        if R == 1:
            return x
        return x.view(S, -1, R, H).permute(2, 0, 1, 3).reshape(R * S, -1, H)

    def _rule_views(self, group: int) -> list[State]:
        if self.rules[group].has_parameters:  # sliced afresh: views of tensors that need gradients
            return [self._layer_view(group, layer) for layer in range(self.depth)]
        return self._views[group]

    def _coefficients(self, group: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(a, c) with u = a·x + c for every hidden unit of a group, ``[S, 1, depth·H]`` each:
        divide form u = (x − β)/α → a = 1/α, c = −β/α (α kept away from 0 by ``safe_alpha``, as the rule
        does); affine form u = αx + β → a = α, c = β; no rule → a = 1, c = 0."""
        rule, state = self.rules[group], self.states[group]
        if rule.form == "divide":
            a = safe_alpha(state["alpha"]).reciprocal_()
            c = state["beta"] * a
            return a.unsqueeze(1), c.neg_().unsqueeze(1)
        if rule.form == "affine":
            return state["alpha"].unsqueeze(1), state["beta"].unsqueeze(1)
        ones = torch.ones(self.num_seeds, 1, self.depth * self.width, device=self.device, dtype=self.dtype)
        return ones, torch.zeros_like(ones)

    def forward(
        self, inputs: torch.Tensor, training: bool
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Logits ``[M, B, C]`` plus each hidden layer's x (before the rule) and y = tanh(u), ``[M, B, H]``.

        In training mode rules use batch statistics where they have any (``ip_hard`` first sets α, β from the
        batch via ``prepare``; batchnorm updates its running statistics); evaluation changes no state.

        Rules that use the base class's transform (u = (x−β)/α, u = αx + β or u = x) and no ``prepare`` are
        applied as u = a·x + c with a, c computed once per pass for all layers: one ``addcmul`` per layer for
        every such member together, instead of several operations per rule per layer.
        """
        S, H = self.num_seeds, self.width
        elementwise = [g for g in range(self.num_rules) if self._elementwise[g]]
        coefficients = {g: self._coefficients(g) for g in elementwise if not self._identity[g]}
        shared = None  # (a, c) for all M members when every rule is elementwise
        if len(elementwise) == self.num_rules and coefficients:
            pairs = [coefficients[g] if g in coefficients else self._coefficients(g) for g in range(self.num_rules)]
            a_all = torch.cat([a for a, _ in pairs]) if self.num_rules > 1 else pairs[0][0]
            c_all = torch.cat([c for _, c in pairs]) if self.num_rules > 1 else pairs[0][1]
            shared = (a_all, c_all)
        views = [self._rule_views(g) for g in range(self.num_rules)]
        pre: list[torch.Tensor] = []
        post: list[torch.Tensor] = []
        x = self._first_layer(inputs)
        for layer in range(self.depth):
            if layer > 0:
                x = torch.baddbmm(self.hidden_biases[layer - 1], post[-1], self.hidden_weights[layer - 1])
            units = slice(layer * H, (layer + 1) * H)
            if len(elementwise) == self.num_rules:
                u = x if shared is None else torch.addcmul(shared[1][..., units], x, shared[0][..., units])
            else:
                parts = []
                for g, rule in enumerate(self.rules):
                    x_group = x[g * S : (g + 1) * S]
                    if self._identity[g]:
                        parts.append(x_group)
                    elif g in coefficients:
                        a, c = coefficients[g]
                        parts.append(torch.addcmul(c[..., units], x_group, a[..., units]))
                    else:
                        if training and self._needs_prepare[g]:
                            rule.prepare(views[g][layer], x_group)
                        parts.append(rule.transform(x_group, views[g][layer], training))
                u = parts[0] if self.num_rules == 1 else torch.cat(parts)
            pre.append(x)
            # without autograd (evaluation) the kernel that reuses its output's memory (``Activation.value``)
            post.append(self.activation.apply(u) if torch.is_grad_enabled() else self.activation.value(u))
        logits = torch.baddbmm(self.out_bias, post[-1], self.out_weight)
        if self.output == "relu":
            logits = F.relu(logits)
        return logits, pre, post

    # --- intrinsic update ---------------------------------------------------------------------------
    @staticmethod
    def stack_layers(per_layer: list[torch.Tensor]) -> torch.Tensor:
        """Hidden layers' ``[M, B, H]`` tensors side by side, ``[M, B, depth·H]``, detached. Layers held units ×
        batch (transposed views of ``[M, H, B]`` tensors, as the hand-written pass gives them) are joined in that
        layout and returned as a transposed view too: a copy that reads and writes in order, 2–3× faster than
        gathering them into ``[M, B, depth·H]``."""
        if len(per_layer) == 1:
            return per_layer[0].detach()
        if all(t.dim() == 3 and t.transpose(1, 2).is_contiguous() and not t.is_contiguous() for t in per_layer):
            return torch.cat([t.detach().transpose(1, 2) for t in per_layer], dim=1).transpose(1, 2)
        return torch.cat([t.detach() for t in per_layer], dim=-1)

    @torch.no_grad()
    def update_rules(
        self, x_all: torch.Tensor, y_all: torch.Tensor, etas: Sequence[float], active: torch.Tensor | None
    ) -> None:
        """Every rule's update after a training forward pass, from that pass's x and y of all hidden layers
        (``[M, B, depth·H]``, see ``stack_layers``). ``active`` [M] bool: members where it is False keep
        their α, β and rule buffers."""
        for g, rule, group, group_active in self._updating_groups(active):
            rule.update(self.states[g], x_all[group], y_all[group], etas[g], group_active)

    @torch.no_grad()
    def update_rules_from_moments(
        self, means: dict[str, torch.Tensor], etas: Sequence[float], active: torch.Tensor | None
    ) -> None:
        """``update_rules`` from the batch means of x and y (``[M, depth·H]`` each, at least ``moments``)."""
        for g, rule, group, group_active in self._updating_groups(active):
            rule.update_from_moments(self.states[g], {k: v[group] for k, v in means.items()}, etas[g], group_active)

    def _updating_groups(self, active: torch.Tensor | None) -> Iterator[tuple[int, Rule, slice, torch.Tensor | None]]:
        """(group, rule, its members' slice, their ``active`` flags) of every rule group that updates."""
        S = self.num_seeds
        for g, rule in enumerate(self.rules):
            if self._updates[g]:
                group = slice(g * S, (g + 1) * S)
                yield g, rule, group, None if active is None else active[group]

    @property
    def moments(self) -> tuple[str, ...] | None:
        """The batch means of x and y that are all this model's rule updates need (``Rule.moments``, in a fixed
        order), or None when a rule that updates needs the whole x and y."""
        names: list[str] = []
        for rule, updates in zip(self.rules, self._updates, strict=True):
            if not updates:
                continue
            if not rule.steps_from_moments:
                return None
            names += [name for name in rule.moments if name not in names]
        return tuple(names)

    @property
    def distances_from_moments(self) -> bool:
        """Whether ``fixed_point_distances`` can do with the batch means of ``moments``: every rule either has
        moments or no fixed point."""
        return self.moments is not None and all(
            rule.measures_from_moments or not rule.has_fixed_point for rule in self.rules
        )

    @property
    def any_updates(self) -> bool:
        """Whether any rule of this model changes its state after a forward pass (``none`` does not)."""
        return any(self._updates)

    def input_gains(self) -> torch.Tensor:
        """du/dx of every member and hidden unit, ``[M, depth·H]`` (the factor backprop applies beside ∂y/∂u):
        1/α for u = (x − β)/α, α for u = αx + β, 1 without a rule (``_coefficients``); NaN for rules with their
        own transform (batch statistics: the gain then depends on the batch)."""
        gains = []
        for group in range(self.num_rules):
            if self._elementwise[group]:
                gains.append(self._coefficients(group)[0].detach().reshape(self.num_seeds, -1))
            else:
                gains.append(torch.full((self.num_seeds, self.depth * self.width), math.nan, device=self.device))
        return torch.cat(gains).to(torch.float32)

    def alpha_beta(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Effective α and β of every member and hidden unit, ``[M, depth, width]`` each."""
        alphas, betas = [], []
        for rule, state in zip(self.rules, self.states, strict=True):
            alpha, beta = rule.effective_alpha_beta(state)
            alphas.append(alpha.detach())
            betas.append(beta.detach())
        shape = (self.members, self.depth, self.width)
        return torch.cat(alphas).view(shape), torch.cat(betas).view(shape)

    @torch.no_grad()
    def fixed_point_distances(
        self,
        x_all: torch.Tensor | None,
        y_all: torch.Tensor | None,
        means: dict[str, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean over each hidden layer's units of |α − α*| and the β criterion of each rule's own fixed point
        (``Rule.fixed_point_distance``) on this pass's x, y (``[M, B, depth·H]``), ``[M, depth]`` each; NaN for
        rules that declare none. With ``means`` (the pass's batch means, see ``moments``), rules with moments
        use those, and x, y may be None where ``distances_from_moments``."""
        S, L, H = self.num_seeds, self.depth, self.width
        alphas, betas = [], []
        for g, (rule, state) in enumerate(zip(self.rules, self.states, strict=True)):
            lo, hi = g * S, (g + 1) * S
            if means is not None and rule.measures_from_moments and all(name in means for name in rule.moments):
                distance = rule.fixed_point_from_moments(state, {k: v[lo:hi] for k, v in means.items()})
            elif rule.has_fixed_point:
                distance = rule.fixed_point_distance(state, x_all[lo:hi], y_all[lo:hi])
            else:  # nothing of x is needed
                distance = None
            if distance is None:
                nan = torch.full((S, L), math.nan, device=self.device, dtype=self.dtype)
                alphas.append(nan)
                betas.append(nan)
                continue
            alphas.append(distance[0].view(S, L, H).mean(-1))
            betas.append(distance[1].view(S, L, H).mean(-1))
        return torch.cat(alphas), torch.cat(betas)

    def raw_alpha(self) -> torch.Tensor:
        """The stored α of every member, ``[M, depth·width]`` (what the α ≤ 0 count looks at)."""
        return torch.cat([state["alpha"].detach() for state in self.states])


def class_log_probs(logits: torch.Tensor) -> torch.Tensor:
    """log pₖ = oₖ − log Σⱼ exp oⱼ over the classes (the last dimension) of logits ``[M, B, C]``, as ``[M, B, C]``.

    On a CPU it is taken along the batch of a class-major copy ``[M, C, B]`` (and returned as a transposed view):
    torch's CPU kernel over a last dimension as short as 10 classes handles one row at a time, an order of magnitude
    slower than along the batch (docs/performance.md, "Measurements behind the engine's defaults"). The two agree to float rounding (the sum of
    exponentials is added in another order). A GPU keeps the plain kernel."""
    if logits.device.type != "cpu":
        return torch.log_softmax(logits, dim=-1)
    return torch.log_softmax(logits.transpose(-1, -2).contiguous(), dim=-2).transpose(-1, -2)


def mean_negative_log_likelihood(log_probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L = −E[log p_label] over each member's batch: log-probabilities ``[M, B, C]``, labels ``[M, B]`` → ``[M]``."""
    return log_probs.gather(-1, labels.unsqueeze(-1)).squeeze(-1).mean(dim=1).neg()


def member_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Each member's mean cross-entropy over its batch: logits ``[M, B, C]``, labels ``[M, B]`` → ``[M]``
    (``class_log_probs``, then ``mean_negative_log_likelihood``; differentiable)."""
    return mean_negative_log_likelihood(class_log_probs(logits), labels)
