"""Who is signed in to the console, in which language, and the CSRF token of their forms.

The session lives in a signed, HTTP-only cookie (Starlette's SessionMiddleware, keyed with the
same secret as the API's tokens); it holds the username, the language and the CSRF token. The
user is read again on every request, so a deactivated account stops at once.
"""

import secrets
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from domain.model import Role
from gridloop.access import Principal
from gridloop.messages import preferred_language
from store.models import UserRecord
from web.i18n import DEFAULT_LANGUAGE, LANGUAGES

USER, LANGUAGE, CSRF = "user", "language", "csrf"
CSRF_FIELD, CSRF_HEADER = "csrf_token", "x-csrf-token"


class SignInRequired(Exception):
    """Rendered as a redirect to the sign-in page, back to where the user was going."""


class CsrfRefused(Exception):
    """A form arrived without the token of the session that rendered it."""


def sessions_of(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


def principal_of(request: Request) -> Principal | None:
    username = request.session.get(USER)
    if not isinstance(username, str):
        return None
    with sessions_of(request)() as session:
        user = session.get(UserRecord, username)
        if user is None or not user.active:
            request.session.pop(USER, None)
            return None
        return Principal(
            user_id=user.username,
            role=Role(user.role),
            department=user.department_code,
            grids=frozenset(user.grid_codes),
            display_name=user.display_name,
        )


def _require_principal(request: Request) -> Principal:
    principal = principal_of(request)
    if principal is None:
        raise SignInRequired
    return principal


def sign_in(request: Request, username: str) -> None:
    """A new session for the user: a fresh CSRF token, the language kept."""
    language = request.session.get(LANGUAGE)
    request.session.clear()
    request.session[USER] = username
    request.session[CSRF] = secrets.token_urlsafe(32)
    if language:
        request.session[LANGUAGE] = language


def sign_out(request: Request) -> None:
    language = request.session.get(LANGUAGE)
    request.session.clear()
    if language:
        request.session[LANGUAGE] = language


def language_of(request: Request) -> str:
    """The language chosen in the page, else the browser's preference, else zh-CN."""
    chosen = request.session.get(LANGUAGE)
    if chosen in LANGUAGES:
        return str(chosen)
    preferred = preferred_language(request.headers.get("accept-language", ""))
    return preferred if preferred in LANGUAGES else DEFAULT_LANGUAGE


def csrf_token(request: Request) -> str:
    token = request.session.get(CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[CSRF] = token
    return token


async def _verify_csrf(request: Request) -> None:
    """Every form posts the session's token (htmx sends it as a header)."""
    expected = request.session.get(CSRF)
    form = await request.form()
    sent = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    if not isinstance(expected, str) or not isinstance(sent, str):
        raise CsrfRefused
    if not secrets.compare_digest(expected, sent):
        raise CsrfRefused


SignedIn = Annotated[Principal, Depends(_require_principal)]
CsrfChecked = Depends(_verify_csrf)


FLASH = "flash"


def flash(request: Request, text: str) -> None:
    """A message shown once, on the next page the user sees."""
    request.session[FLASH] = [*request.session.get(FLASH, []), text]


def take_flashes(request: Request) -> list[str]:
    messages = request.session.pop(FLASH, [])
    return [str(m) for m in messages] if isinstance(messages, list) else []


def local_path(target: str) -> str:
    """Only a path on this site: a redirect never takes the user elsewhere."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return ""
    return target
