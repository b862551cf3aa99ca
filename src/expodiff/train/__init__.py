"""Training: ``expodiff train`` (one process or DDP under torchrun) and checkpoints.

Modules (imported on use: this package imports nothing itself):
``loop`` (:class:`~expodiff.train.loop.Trainer`), ``setup`` (optimiser, datasets, loaders,
DDP wrapping, restoring a checkpoint), ``progress`` (run state, log rows and the bar),
``objectives``, ``schedule``, ``checkpoint``, ``resume``, ``runlog``, ``validation`` and
``distributed``. Model folders
(weights + config) are read and written by :mod:`expodiff.io.modelfiles`, which inference
uses without importing this package. See docs/training.md.
"""
