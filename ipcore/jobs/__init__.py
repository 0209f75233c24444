"""Jobs: experiments running in the background of a server, and what a browser may ask of it.

``manager.JobManager`` queues configs, runs them (each in a process of its own, ``process``), streams their
metrics to readers and cancels them; ``serving`` decides which configs and messages a shared server accepts
(nothing a browser sends is ever a server path). It sits on top of ``ipcore.training`` and ``ipcore.results``.
"""
