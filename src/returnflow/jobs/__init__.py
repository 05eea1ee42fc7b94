"""Background work: the worker loop (worker.py) and the periodic jobs other packages add to it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

# Periodic jobs run by every worker round: job(db, now) -> how much it did (0: nothing was due). A job claims its
# own work (several workers may run), e.g. the marketplace pulls (marketplace.schedule).
JOBS: list[Callable[[Any, datetime | None], int]] = []
