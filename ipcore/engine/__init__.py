"""The engine: the maths of one lockstep network step, in torch.

Activations (y = f(u) and ∂y/∂u in terms of y), the intrinsic rules (how u is formed from x, α, β and how α, β
move), the lockstep MLP that stacks every rule × seed into one model, the hand-written backward pass and the
CUDA graphs that replay it, and the per-member optimizers. It knows configs and the rule facts (``ipcore.specs``),
never training loops, records or jobs.
"""
