"""The console's pages, one module per area; each exposes `router`."""

from web.pages import auth, cases, dashboard

PAGES = (auth.router, dashboard.router, cases.router)
