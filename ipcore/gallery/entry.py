"""What one gallery entry is: a claim of the thesis (or our own question), the configs that re-run it, and how it
is plotted and checked. The entries themselves are in ``ipcore.gallery.entries`` (the thesis's chapters) and
``ipcore.gallery.beyond`` (chapter 7, beyond the thesis)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ipcore.config import CONFIG_KINDS, Config, config_from_dict


@dataclass(frozen=True)
class GalleryEntry:
    """One thesis figure: its claim, how we re-run it (``parts``: name → config dict), how to plot and check it.

    ``check`` selects the assessment in ``assess`` ("paired" for network entries: the sub-claims in
    ``extra["claims"]``); ``baseline`` is the rule the others are compared with; ``extra`` may also hold
    ``fixed_point_layer`` (the card charts each rule's distance to its fixed point in that hidden layer) and
    ``group_labels`` (chart names of part groups).
    """

    id: str
    title: str
    chapter: int
    claim: str
    kind: str  # "train" | "neuron"
    datasets: tuple[str, ...]
    rules: tuple[str, ...]
    parts: dict[str, dict[str, Any]]
    plot: str  # "loss" | "grad_y_u" | "entropy" | "histogram" | "beta_median" | "stability"
    check: str
    layer: int | None = None
    baseline: str = "none"
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def config(self, part: str, **overrides: Any) -> Config:
        """The validated config of one part. ``overrides`` (seeds, epochs, subset, device, data_root, iters …)
        apply where this kind's config has that field; ``None`` values are ignored."""
        data = dict(self.parts[part])
        fields = {f.name for f in dataclasses.fields(CONFIG_KINDS[self.kind])}
        data.update({k: v for k, v in overrides.items() if v is not None and k in fields})
        return config_from_dict(data)

    def run_id(self, part: str) -> str:
        return f"gallery-{self.id}-{part}"

    def owns(self, meta: dict) -> bool:
        """Whether a record's metadata is one of this entry's own parts (its run id is ``run_id(part)``): a
        sweep's records carry an ``experiment`` name too, and one named like this entry must not join its card."""
        part = meta.get("part")
        return meta.get("experiment") == self.id and part in self.parts and meta.get("run_id") == self.run_id(part)
