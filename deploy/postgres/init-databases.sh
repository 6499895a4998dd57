#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d), as
# the superuser. Creates Temporal's two databases and gridloop's read model, each owned by a
# role of its own that can reach nothing else:
#   temporal  -> temporal, temporal_visibility   (Temporal's history: the source of truth)
#   gridloop  -> gridloop                        (the read model, rebuildable from Temporal)
# Against a PostgreSQL you run yourself, run it once with PGHOST/PGUSER set (docs/deploy.md).
set -eu

: "${TEMPORAL_DB_PASSWORD:?}" "${READ_MODEL_DB_PASSWORD:?}"
TEMPORAL_DB_USER=${TEMPORAL_DB_USER:-temporal}
TEMPORAL_DB=${TEMPORAL_DB:-temporal}
TEMPORAL_VISIBILITY_DB=${TEMPORAL_VISIBILITY_DB:-temporal_visibility}
READ_MODEL_DB_USER=${READ_MODEL_DB_USER:-gridloop}
READ_MODEL_DB=${READ_MODEL_DB:-gridloop}

# psql's :"name" and :'value' quote identifiers and literals, so no password or name is
# pasted into the SQL unquoted.
psql --no-psqlrc --set ON_ERROR_STOP=1 \
    --username "${POSTGRES_USER:-${PGUSER:-postgres}}" --dbname "${POSTGRES_DB:-postgres}" \
    --set temporal_user="$TEMPORAL_DB_USER" \
    --set temporal_password="$TEMPORAL_DB_PASSWORD" \
    --set temporal_db="$TEMPORAL_DB" \
    --set visibility_db="$TEMPORAL_VISIBILITY_DB" \
    --set read_model_user="$READ_MODEL_DB_USER" \
    --set read_model_password="$READ_MODEL_DB_PASSWORD" \
    --set read_model_db="$READ_MODEL_DB" <<'SQL'
CREATE ROLE :"temporal_user" LOGIN PASSWORD :'temporal_password';
CREATE DATABASE :"temporal_db" OWNER :"temporal_user";
CREATE DATABASE :"visibility_db" OWNER :"temporal_user";
CREATE ROLE :"read_model_user" LOGIN PASSWORD :'read_model_password';
CREATE DATABASE :"read_model_db" OWNER :"read_model_user";
-- Every role may connect to a new database unless this is taken from PUBLIC.
REVOKE ALL ON DATABASE :"temporal_db", :"visibility_db" FROM PUBLIC;
REVOKE ALL ON DATABASE :"read_model_db" FROM PUBLIC;
SQL
