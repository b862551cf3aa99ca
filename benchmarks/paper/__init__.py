"""``python -m benchmarks.paper``: the paper's claims reproduced at an equal budget, speed and
memory. A benchmark beside the package: it reads expodiff's API, never the other way round.

Modules (see docs/benchmarks.md for the report they produce):

* :mod:`.bench_config`: :class:`~.bench_config.BenchConfig` (budget, evaluation, speed) and the
  :class:`~.bench_config.BenchTable` names of ``--only``;
* :mod:`.plan`: the trained runs, the evaluated methods and the tables;
* :mod:`.training`: train, resume or reuse each run at the budget;
* :mod:`.evaluation`: SID-synth evaluation with per-method result caching;
* :mod:`.speed`: full-frame seconds and peak memory in fresh processes, sizes and FLOPs;
* :mod:`.report`, :mod:`.document`, :mod:`.texts`, :mod:`.plots`: the Markdown report;
* :mod:`.runner`: :func:`~.runner.run_benchmark`, the whole pipeline.
"""
