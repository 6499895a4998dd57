"""The console's pages, one module per area; each exposes `router`."""

from web.pages import audit, auth, cases, consultations, dashboard, grid, public, queue, stats

PAGES = (
    auth.router,
    dashboard.router,
    cases.router,
    queue.router,
    grid.router,
    audit.router,
    consultations.router,
    stats.router,
    public.router,
)
