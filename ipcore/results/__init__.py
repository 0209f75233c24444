"""Results: what a run leaves behind and how it is read.

The live metrics log a run writes, run records on disk (JSON and npz, no pickle), which members are healthy, the
one reader of recorded metrics (means over healthy seeds) and the statistics that compare them (entropy of an
output histogram, paired differences and their verdicts). It never trains: it only needs configs and, for the
rules' parameterisation, ``ipcore.engine.rules``.
"""
