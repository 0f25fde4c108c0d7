"""Procedural synthetic tracking videos, written as real JPEG sequences in the layouts of GOT-10k and LaSOT.

Tests, benchmarks and demo configs train on these instead of the real datasets. Everything is a pure
function of ``(SyntheticSpec, sequence index)``: sequence ``i`` draws all its randomness from
``np.random.default_rng((spec.seed, i))``, so the same spec gives byte-identical annotation files and
identical frames (and, with the same OpenCV build, identical JPEG files).

Content of one sequence (``T = spec.num_frames`` frames of ``spec.height x spec.width`` BGR pixels):

- a textured background (multi-octave smooth noise with a random palette, a colour gradient, blended
  rectangles, circles and lines), larger than the frame and seen through a slowly panning camera;
- one target: an axis-aligned ellipse or rectangle with its own texture (noise, stripes, checker or spots in
  a saturated colour; ellipses are shaded), moving with a damped random-walk velocity and changing scale and
  aspect ratio smoothly. It may be truncated by up to ~35 % at the image border;
- 0-2 distractors (other textured shapes) moving behind the target;
- with probability ``occlusion_prob``: an occluder rectangle that sweeps across the target for a few frames,
  in front of it, hiding at most ~60 % of it;
- with probability ``out_of_view_prob``: the target leaves the frame across the nearest border, stays fully
  out of view for a few frames, and comes back;
- a smooth global illumination change (gain and bias).

The first frame always shows the whole target, unoccluded.

Ground truth (``boxes``) is the target's exact axis-aligned extent ``(x, y, w, h)`` in the continuous pixel
coordinates of ``tracking.data.sequence`` (0-based, pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)``),
clipped to the image. Occluders do not change the box. A frame is *absent* when less than
``MIN_VISIBLE_RATIO`` of the target's area is visible (unoccluded and inside the image) or the clipped box
is thinner than one pixel; ``generate_sequence`` gives NaN boxes there. The visible ratio is also binned
into a GOT-10k style ``cover`` label: 0 for absent frames, 8 for a fully visible target, otherwise
``clip(ceil(8 * ratio), 1, 7)``.

Shapes are drawn anti-aliased: pixel ``(i, j)`` gets coverage ``clip(d + 0.5, 0, 1)`` where ``d`` is the
signed distance (in pixels) of its centre ``(j + 0.5, i + 0.5)`` to the shape boundary, evaluated only on the
pixels that intersect the continuous box, so the target never changes a pixel outside
``[floor(x), ceil(x + w)) x [floor(y), ceil(y + h))``.

On-disk layouts (see ``write_got10k`` and ``write_lasot`` for the exact formats) and ``ensure_dataset``, a
cache that regenerates only when the spec changes. Command line::

    python -m tracking.data.synthetic --out DIR --layout got10k --sequences 8 --frames 60 --size 640x360 --seed 0

Modules (each imports only modules listed before it; everything public is re-exported here):

- ``spec``: ``SyntheticSpec``, the ``Layout`` and ``ProgressFn`` types, ``MIN_VISIBLE_RATIO``,
  ``DEFAULT_LASOT_CLASSES``.
- ``textures``: smooth noise, palettes, the background, target/distractor/occluder textures, mipmap pyramids,
  colour names.
- ``raster``: anti-aliased shape coverage and textured compositing of a shape onto a frame.
- ``motion``: the target's trajectory, the out-of-view and occlusion episodes, the distractors' trajectories,
  bounded random walks (camera, illumination).
- ``scene``: ``SyntheticScene`` (random streams, annotations, rendering), ``generate_sequence``,
  ``cover_label``.
- ``writers``: JPEG frames, ``write_got10k``, ``write_lasot``, ``got10k_sequence_name``,
  ``lasot_sequence_name``.
- ``cache``: ``ensure_dataset`` (marker file, partial record, ``filelock.FileLock``), ``GENERATOR_VERSION``,
  ``MARKER_NAME``.
- ``cli`` (and ``__main__``): the command line, ``main``.

OpenCV (``cv2``) is imported by the functions that need it, never at import time.
"""

from .cache import GENERATOR_VERSION, MARKER_NAME, ensure_dataset
from .cli import main
from .scene import SyntheticScene, cover_label, generate_sequence
from .spec import DEFAULT_LASOT_CLASSES, MIN_VISIBLE_RATIO, Layout, ProgressFn, SyntheticSpec
from .writers import got10k_sequence_name, lasot_sequence_name, write_got10k, write_lasot

__all__ = [
    "DEFAULT_LASOT_CLASSES", "GENERATOR_VERSION", "MARKER_NAME", "MIN_VISIBLE_RATIO", "Layout", "ProgressFn",
    "SyntheticScene", "SyntheticSpec", "cover_label", "ensure_dataset", "generate_sequence", "got10k_sequence_name",
    "lasot_sequence_name", "main", "write_got10k", "write_lasot",
]
