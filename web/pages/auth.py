"""Signing in and out, choosing the language, and each role's home page."""

from typing import Annotated

from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gridloop.admission import LoginThrottle, Throttled, client_address
from store.models import UserRecord
from store.reference import PASSWORDS
from web.i18n import LANGUAGES, translations
from web.render import HOME, render
from web.session import (
    LANGUAGE,
    CsrfChecked,
    language_of,
    local_path,
    principal_of,
    sessions_of,
    sign_in,
    sign_out,
)

router = APIRouter(include_in_schema=False)

# Verified against when the username is unknown, so that both answers take as long.
_UNKNOWN_USER_HASH = PASSWORDS.hash("no such user")


@router.get("/")
def home(request: Request) -> Response:
    principal = principal_of(request)
    if principal is None:
        return RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    return RedirectResponse(HOME[principal.role], status.HTTP_303_SEE_OTHER)


@router.get("/login")
def login_page(request: Request, next: str = "") -> HTMLResponse:
    return render(request, "login.html", {"next": local_path(next)})


@router.post("/login", dependencies=[CsrfChecked])
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    gettext = translations(language_of(request)).gettext
    # The same count as the API's token endpoint (gridloop/http.py shares one throttle).
    throttle: LoginThrottle = request.app.state.login_throttle
    address = client_address(request)
    try:
        throttle.check(username, address)
    except Throttled as throttled:
        context = {"error": gettext("Too many failed sign-ins; try again later."), "username": ""}
        refused = render(
            request,
            "login.html",
            context | {"next": local_path(next)},
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        )
        refused.headers["Retry-After"] = str(throttled.retry_after)
        return refused
    with sessions_of(request)() as session:
        user = session.get(UserRecord, username)
        try:
            PASSWORDS.verify(user.password_hash if user else _UNKNOWN_USER_HASH, password)
            accepted = user is not None and user.active
        except (VerificationError, InvalidHashError):
            accepted = False
    if not accepted or user is None:
        throttle.failed(username, address)
        context = {"error": gettext("Wrong username or password."), "username": username}
        return render(request, "login.html", context | {"next": local_path(next)}, status_code=401)
    throttle.succeeded(username)
    sign_in(request, user.username)
    return RedirectResponse(local_path(next) or "/", status.HTTP_303_SEE_OTHER)


@router.post("/logout", dependencies=[CsrfChecked])
def logout(request: Request) -> Response:
    sign_out(request)
    return RedirectResponse("/login", status.HTTP_303_SEE_OTHER)


@router.post("/language", dependencies=[CsrfChecked])
def choose_language(request: Request, language: Annotated[str, Form()]) -> Response:
    if language in LANGUAGES:
        request.session[LANGUAGE] = language
    back = local_path(request.headers.get("referer", "").split(request.url.netloc, 1)[-1])
    return RedirectResponse(back or "/", status.HTTP_303_SEE_OTHER)
