"""The gallery: the thesis's experiments, and chapter 7's own questions, as declarative entries with their check.

An entry (``entry``) names a claim, the configs that re-run it and how it is plotted; ``entries`` holds the
thesis's chapters and the public API (``get_entry``, ``assess``), ``beyond`` chapter 7; ``assessment`` turns the
stored records into paired verdicts and ``report`` writes REPRODUCTION.md's table from them. It reads records
(``ipcore.results``) and never trains: the CLI computes missing parts through ``ipcore.training.runner``.
"""
