"""`gridloop reset-passwords`: give users new random passwords, shown once.

Seeding an organisation gives every user its username as password; production refuses to
start until none is left (`users_with_demo_passwords`). `--demo` picks exactly those users."""

import secrets
import sys
from collections.abc import Sequence

from sqlalchemy import select

from gridloop.settings import Settings
from store.db import database_url, prepare_read_model
from store.models import UserRecord
from store.reference import PASSWORDS, users_with_demo_passwords

# 16 URL-safe characters, about 96 bits: typed from a printed list, but not guessable.
PASSWORD_BYTES = 12


def run_reset_passwords(settings: Settings, usernames: Sequence[str], demo: bool) -> int:
    """Print `username<TAB>password` for every user reset; exit code 2 (nothing changed) if a
    named user does not exist."""
    sessions = prepare_read_model(database_url(settings.database_url, settings.data_dir))
    issued: dict[str, str] = {}
    with sessions.begin() as session:
        wanted = set(usernames) | (set(users_with_demo_passwords(session)) if demo else set())
        users = session.scalars(select(UserRecord).where(UserRecord.username.in_(wanted))).all()
        if unknown := wanted - {user.username for user in users}:
            print(f"no such user: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        for user in sorted(users, key=lambda u: u.username):
            password = secrets.token_urlsafe(PASSWORD_BYTES)
            user.password_hash = PASSWORDS.hash(password)
            issued[user.username] = password
    sessions.kw["bind"].dispose()
    if not issued:
        print("no user has a demo password; nothing changed", file=sys.stderr)
        return 0
    # Printed only once the new hashes are committed: a password shown is a password that works.
    for username, password in issued.items():
        print(f"{username}\t{password}")
    print(
        f"{len(issued)} passwords reset. Shown once: hand each to its user.",
        file=sys.stderr,
    )
    return 0
