"""Datasets: clean and paired samples on the packed raw (see docs/data.md).

Modules (import them directly; this package imports nothing, so that importing one light
module does not pull in torch):

* :mod:`~expodiff.data.types`: ``RawSample``, ``RawBatch``, ``collate_samples``, ``Split``;
* :mod:`~expodiff.data.factory`: ``build_dataset(cfg, split)``, ``has_split``;
* :mod:`~expodiff.data.unprocess` / :mod:`~expodiff.data.unprocess_dataset`: clean sRGB -> raw;
* :mod:`~expodiff.data.sid`, :mod:`~expodiff.data.eld`, :mod:`~expodiff.data.cleanraw`:
  raw-file sources (read through :func:`expodiff.io.rawio.read_raw`);
* :mod:`~expodiff.data.augment`: crops, flips, transposes keeping the CFA phase;
* :mod:`~expodiff.data.cache`: the memory-mapped patch cache (``expodiff cache-patches``);
* :mod:`~expodiff.data.epochs`: ``EpochSampler``, resumable and shardable;
* :mod:`~expodiff.data.base`: the ``RawDataset`` base class and per-item randomness.
"""
