"""DiMP's target classifier: classification features (``features``), filter initialiser (``initializer``),
unrolled filter optimisers (``optimizer``) and the ``LinearFilter`` module tying them (``linear_filter``).
Import the submodules directly; this package file imports nothing."""
