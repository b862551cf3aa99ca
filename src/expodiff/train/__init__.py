"""Training: ``expodiff train`` (one process or DDP under torchrun), checkpoints, model files.

Modules (imported on use, so that :mod:`expodiff.config` can import :mod:`.kinds` cheaply):
``loop`` (:class:`~expodiff.train.loop.Trainer`), ``objectives``, ``schedule``,
``checkpoint``, ``resume``, ``runlog``, ``validation``, ``distributed`` and ``modelio``
(:func:`~expodiff.train.modelio.load_denoiser`). See docs/training.md.
"""
