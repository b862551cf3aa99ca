"""Evaluation: ``expodiff evaluate``, its protocols, metrics, baselines and report tables.

Modules (imported on use, so that :mod:`expodiff.config` can import :mod:`.kinds` cheaply):
``protocols`` (:func:`~expodiff.eval.protocols.protocol_pairs`,
:func:`~expodiff.eval.protocols.evaluate_pairs`), ``pairs``, ``methods``, ``metrics``,
``baselines`` and ``report``. See docs/training.md.
"""
