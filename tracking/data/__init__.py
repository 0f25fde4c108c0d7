"""Training data semantics: dataset indexes, samplers, processing into per-sample records.

Nothing here decodes pixels; loader backends (``loaders/``) execute the records this package produces.
"""
