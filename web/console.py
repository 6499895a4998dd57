"""The web console, installed on gridloop's HTTP application: session cookies, static assets,
the pages of each role, and error pages in the user's language."""

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from gridloop.messages import message
from gridloop.secrets import signing_key
from gridloop.service import RefusalKind, Refused
from gridloop.settings import Settings
from web.i18n import translations
from web.pages import PAGES
from web.render import render
from web.session import CsrfRefused, SignInRequired, language_of

STATIC = Path(__file__).parent / "static"
SESSION_LIFETIME = timedelta(hours=8)


def install_console(app: FastAPI, settings: Settings) -> None:
    """Add the console to `app`, whose state already holds settings, sessions, service and
    calendar (gridloop.http.create_app)."""
    app.add_middleware(
        SessionMiddleware,
        secret_key=signing_key(settings),
        session_cookie="gridloop_session",
        max_age=int(SESSION_LIFETIME.total_seconds()),
        same_site="lax",
        # Plain HTTP on 127.0.0.1 in development; production is served over HTTPS.
        https_only=settings.environment == "production",
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in PAGES:
        app.include_router(router)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _: SignInRequired) -> Response:
        return RedirectResponse(f"/login?next={request.url.path}", status.HTTP_303_SEE_OTHER)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, _: CsrfRefused) -> HTMLResponse:
        gettext = translations(language_of(request)).gettext
        return _problem(
            request,
            status.HTTP_403_FORBIDDEN,
            gettext(
                "This form has expired or did not come from this site. "
                "Reload the page and try again."
            ),
        )

    @app.exception_handler(Refused)
    async def _refused(request: Request, refused: Refused) -> HTMLResponse:
        code = PAGE_STATUS.get(refused.kind, status.HTTP_409_CONFLICT)
        return _problem(request, code, message(refused.type, language_of(request), refused.params))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> HTMLResponse:
        gettext = translations(language_of(request)).gettext
        text = gettext("There is no such page.") if error.status_code == 404 else str(error.detail)
        return _problem(request, error.status_code, text)


# What a refused page answers; a refused action is a conflict unless it is one of these.
PAGE_STATUS = {
    RefusalKind.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    RefusalKind.FORBIDDEN: status.HTTP_403_FORBIDDEN,
    RefusalKind.UNAVAILABLE: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def _problem(request: Request, status_code: int, text: str) -> HTMLResponse:
    context = {"problem": text, "code": status_code}
    return render(request, "problem.html", context, status_code=status_code)
