"""A gate the sync rails of the health tests wait on (imported by their ``actions.py``)."""

import threading

GATE = threading.Event()
"""Set it to let every waiting rail return."""
