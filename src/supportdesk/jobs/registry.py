"""The scheduled jobs every scheduler runs, embedded in the server or in ``supportdesk worker``."""

from __future__ import annotations

from datetime import timedelta

from supportdesk.automation import tasks
from supportdesk.automation.tasks import AcrossWorkspaces
from supportdesk.config import Settings
from supportdesk.jobs.scheduler import ScheduledJob


def default_jobs(settings: Settings) -> list[ScheduledJob]:
    """The jobs to schedule; each domain's time-based jobs are registered here.

    They run at ``settings.scheduler_tick_seconds``: each handles everything due at its tick, so a
    missed tick only delays. Every process must register the same names, since claims are made per name.
    """
    every = timedelta(seconds=settings.scheduler_tick_seconds)
    return [
        ScheduledJob("sla.notify_breaches", every, AcrossWorkspaces("announced", tasks.notify_sla_breaches)),
        ScheduledJob("sla.escalate", every, AcrossWorkspaces("escalated", tasks.escalate_overdue_tickets)),
        ScheduledJob("tickets.auto_close", every, AcrossWorkspaces("closed", tasks.auto_close_resolved)),
        ScheduledJob("tickets.remind_pending", every, AcrossWorkspaces("reminded", tasks.remind_pending)),
    ]
