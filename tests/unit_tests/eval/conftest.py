"""The tiny offline classifier of the rails tests (any text with ``!`` is ``toxic``)."""

from tests.unit_tests.rails.conftest import tiny_classifier

__all__ = ["tiny_classifier"]
