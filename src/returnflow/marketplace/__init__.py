"""Marketplace after-sales sync (Taobao/Tmall refunds): pull the platform's requests into cases, push the desk's
decisions back once, flag what changed on both sides. Importing the package registers the "marketplace" outbox
handler, the workflow producer of decisions and the worker's pull job."""

from __future__ import annotations


def register() -> None:
    """Adds this package's outbox handler, workflow producer and worker job (once)."""
    from ..cases import workflow
    from ..jobs import JOBS
    from ..notify.outbox import HANDLERS
    from . import push, schedule

    HANDLERS[push.TOPIC] = push.deliver
    if push.decisions not in workflow.SIDE_EFFECTS:
        workflow.SIDE_EFFECTS.append(push.decisions)
    if schedule.due_pulls not in JOBS:
        JOBS.append(schedule.due_pulls)


register()
