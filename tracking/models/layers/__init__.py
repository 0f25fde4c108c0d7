"""Building blocks of the tracking networks: conv/linear blocks (``blocks``), InstanceL2Norm
(``normalization``), parametric activations (``activation``), distance bins (``distance``) and per-sequence
filtering (``filter``). Import the submodules directly; this package file imports nothing."""
