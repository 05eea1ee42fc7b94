"""Deadlines and automation: business calendars, SLA settings, durable timers. Its side effects of every
transition (the SLA clocks) and its timer kinds are installed by returnflow/bootstrap.py."""
