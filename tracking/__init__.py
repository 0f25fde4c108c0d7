"""High-throughput training and inference of visual single-object trackers.

Importing this package is cheap and has no side effects: the compiled operators (``tracking._C``),
DALI, OpenCV and tensorboard are loaded only by the code paths that need them.
"""

__version__ = "0.1.0"
