"""Training data semantics: dataset indexes, samplers, processing into per-sample records, and a
procedural synthetic dataset generator (tests, demos, benchmarks).

Loader backends (``loaders/``) execute the records this package produces; nothing here decodes frames.
"""
