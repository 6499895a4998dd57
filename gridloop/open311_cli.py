"""`gridloop open311-key issue|list|revoke`: the command-line face of gridloop.open311_keys."""

import argparse
import sys

from gridloop import open311_keys
from gridloop.settings import Settings
from store.db import database_url, prepare_read_model


def run_open311_key(settings: Settings, args: argparse.Namespace) -> int:
    sessions = prepare_read_model(database_url(settings.database_url, settings.data_dir))
    with sessions.begin() as session:
        if args.key_command == "issue":
            try:
                issued = open311_keys.issue_key(session, args.name)
            except open311_keys.InvalidKeyName:
                print(
                    f"{args.name!r}: a name is 1 to 48 letters, digits, '_', '.' or '-'",
                    file=sys.stderr,
                )
                return 2
            except open311_keys.DuplicateKeyName:
                print(f"there is already a valid key named {args.name!r}", file=sys.stderr)
                return 2
            print(issued.key)
            print("Shown once: configure it in the Open311 client as its api_key.", file=sys.stderr)
            return 0
        if args.key_command == "list":
            for key in open311_keys.list_keys(session):
                state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "valid"
                print(f"{key.name}\t{key.created_at:%Y-%m-%d %H:%M}\t{state}")
            return 0
        if open311_keys.revoke_key(session, args.name):
            print(f"revoked {args.name!r}", file=sys.stderr)
            return 0
        print(f"no valid key named {args.name!r}", file=sys.stderr)
        return 1
