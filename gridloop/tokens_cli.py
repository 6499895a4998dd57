"""`gridloop api-token create|list|revoke`: the command-line face of gridloop.tokens."""

import argparse
import sys

from gridloop import tokens
from gridloop.settings import Settings
from store.db import database_url, prepare_read_model


def run_api_token(settings: Settings, args: argparse.Namespace) -> int:
    sessions = prepare_read_model(database_url(settings.database_url, settings.data_dir))
    with sessions.begin() as session:
        if args.token_command == "create":
            try:
                issued = tokens.create_token(session, args.department, args.name)
            except tokens.UnknownDepartment:
                print(f"no department {args.department!r}", file=sys.stderr)
                return 2
            except tokens.DuplicateTokenName:
                print(
                    f"{args.department} already has a valid token named {args.name!r}",
                    file=sys.stderr,
                )
                return 2
            print(issued.token)
            print(
                "Shown once: give it to the department's system as "
                "`Authorization: Bearer <token>`.",
                file=sys.stderr,
            )
            return 0
        if args.token_command == "list":
            for token in tokens.list_tokens(session):
                state = (
                    f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "valid"
                )
                print(
                    f"{token.department}\t{token.name}\t{token.created_at:%Y-%m-%d %H:%M}\t{state}"
                )
            return 0
        if tokens.revoke_token(session, args.department, args.name):
            print(f"revoked {args.department} {args.name!r}", file=sys.stderr)
            return 0
        print(f"{args.department} has no valid token named {args.name!r}", file=sys.stderr)
        return 1
