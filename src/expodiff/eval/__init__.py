"""Evaluation: ``expodiff evaluate``, its protocols, metrics, baselines and report tables.

Modules (imported on use: this package imports nothing itself):
``protocols`` (:func:`~expodiff.eval.protocols.protocol_pairs`,
:func:`~expodiff.eval.protocols.evaluate_pairs`), ``pairs``, ``methods``, ``metrics``,
``baselines`` and ``report``. See docs/training.md.
"""
