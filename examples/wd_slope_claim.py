# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Does weighted decay keep the gradient flowing? A thesis claim, end to end from Python
#
# The thesis (§4.2, Fig. 4.4) reports that in the third hidden layer of a deep tanh network on MNIST the mean
# slope ∂y/∂u = 1 − y² is much larger under WD (weighted decay) than under IP and the standard network, over the
# course of training: WD keeps its units out of saturation, so gradients pass the layer better.
#
# This notebook re-runs that comparison at a small scale — the gallery entry's own settings (7 hidden layers of
# 50 units, lr 0.005, batch 200, Adam; WD η 0.1, IP η 1e-4) on 10 000 MNIST images for 3 epochs and 4 seeds
# instead of 60 000 for 20 epochs and 10 — then reads the result as a table, draws the lab's chart, and tests
# the claim with a paired test over seeds that share their initial weights.
#
# It is kept as a percent-format script (jupytext, VS Code and PyCharm open it as a notebook) and run by the test
# suite (tests/test_examples.py), so it cannot rot. MNIST is read from `$IPCORE_DATA` (the repository's tests
# use `../shared/datasets`).

# %%
import ipcore
from ipcore.gallery.entries import get_entry

entry = get_entry("fig4.4")
config = entry.config("mnist", seeds=4, epochs=3, subset=10_000)  # the entry's settings, a smaller run
print(entry.claim)
print(config)

# %% [markdown]
# ## Train
# One call trains the three rules × four seeds in lockstep; seed *s* starts from the same weights under every
# rule, so per-seed differences are the rules' effect. `save=True` would also store the record, as the CLI's
# `--save` does.

# %%
run = ipcore.run_networks(config)
run  # noqa: B018 - a cell's last expression is what Jupyter shows

# %% [markdown]
# ## The slope as a tidy table
# `run.table(metric)` gives any recorded metric in long form: here the mean ∂y/∂u of every hidden layer, per
# recorded step, rule and seed. Pandas does the rest.

# %%
slope = run.table("grad_y_u")
third = slope[slope.layer == 3]
over_time = third.groupby(["rule", third.step // 30 * 30]).value.mean().unstack("rule")
print(over_time.round(3))

# %%
per_seed = run.seeds(layer=2)  # per-seed final numbers; "slope" is the mean ∂y/∂u of hidden layer 3 over the run
print(per_seed[["rule", "seed", "healthy", "slope", "final_loss", "test_acc"]].round(4))

# %% [markdown]
# ## The lab's chart
# `run.figure("slope", layers=[2])` is the chart the network lab draws (layers are 0-based), as a plotly figure.

# %%
figure = run.figure("slope", layers=[2])
figure  # noqa: B018

# %% [markdown]
# ## The paired test
# WD − IP and WD − standard, per seed, over the seeds healthy under both rules: the mean difference, its 95 %
# t-interval and the paired t-test. The claim holds where the interval lies above 0 (the gallery's rule).

# %%
from ipcore.results.statistics import interval_verdict  # noqa: E402

verdicts = {}
for baseline in ("ip", "none"):
    test = run.paired("wd", baseline, metric="slope", layer=2)
    verdicts[baseline] = interval_verdict(test["low"], test["high"], ">")
    print(
        f"WD − {baseline}: Δ ∂y/∂u {test['mean']:+.4f} [95 % CI {test['low']:+.4f}, {test['high']:+.4f}], "
        f"p = {test['p']:.2g}, {test['n']} seeds → {verdicts[baseline]}"
    )

# %% [markdown]
# ## Against the gallery
# The gallery's full-size record of the same entry (20 epochs, 10 seeds) and its verdict:

# %%
gallery = ipcore.gallery_entries(ids=["fig4.4"])
print(gallery.loc[0, "verdict"], "—", gallery.loc[0, "measured"][:300], "…")
