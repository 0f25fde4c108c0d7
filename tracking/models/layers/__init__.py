"""Network layers (blocks, normalisation, activations, distance maps, filter application)."""
