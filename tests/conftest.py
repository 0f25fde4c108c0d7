"""Shared test helpers: the marker for tests of the compiled extension itself."""

import pytest

from tracking.ops import extension_available, extension_unavailable_reason

# Tests that compare the compiled kernels with the references, or check their registration, skip when the
# extension is absent (or disabled with TRACKING_DISABLE_EXTENSION=1): the reference path is then the
# code under test, and comparing it with itself would prove nothing.
requires_extension = pytest.mark.skipif(
    not extension_available(), reason=f"tracking._C not in use: {extension_unavailable_reason()}")
