#!/bin/sh
# One-shot job in temporalio/admin-tools: brings Temporal's two databases (created by
# deploy/postgres/init-databases.sh) to the schema of this server version. Safe to run again:
# setup-schema leaves an existing schema alone, update-schema applies only what is missing.
# Run on every deployment, so that upgrading the server image upgrades its schema first.
set -eu

: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
DB_PORT=${DB_PORT:-5432}
SCHEMA=/etc/temporal/schema/postgresql/v12

TEMPORAL_DB=${TEMPORAL_DB:-temporal}
TEMPORAL_VISIBILITY_DB=${TEMPORAL_VISIBILITY_DB:-temporal_visibility}

for database in "$TEMPORAL_DB:temporal" "$TEMPORAL_VISIBILITY_DB:visibility"; do
    name=${database%%:*}
    kind=${database##*:}
    echo "temporal schema: $name ($kind)"
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" \
        -u "$POSTGRES_USER" --db "$name" setup-schema -v 0.0
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" \
        -u "$POSTGRES_USER" --db "$name" update-schema -d "$SCHEMA/$kind/versioned"
done
echo "temporal schema: up to date"
