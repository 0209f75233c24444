"""Training and simulation: running the engine and measuring what it does.

The network training loop, its measurement kernels and recorder, the resources it runs on (device, threads,
memory admission), the single-neuron simulator, sweeps over a grid of learning rates × η (locally or on Ray) and
``runner.run_config``, the one entry point for any experiment config. It writes a ``MetricsLog`` and reads nothing
back: summaries of finished runs live in ``ipcore.results``.
"""
