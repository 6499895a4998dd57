"""The console's pages, one module per area; each exposes `router`."""

from web.pages import (
    audit,
    auth,
    cases,
    consultations,
    dashboard,
    grid,
    history,
    public,
    queue,
    scorecards,
    stats,
    webhooks,
)

PAGES = (
    auth.router,
    dashboard.router,
    history.router,
    cases.router,
    queue.router,
    grid.router,
    audit.router,
    consultations.router,
    stats.router,
    scorecards.router,
    webhooks.router,
    public.router,
)
