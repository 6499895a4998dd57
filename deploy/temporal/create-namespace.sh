#!/bin/sh
# One-shot job in temporalio/admin-tools (or anywhere the `temporal` CLI is): registers the
# namespace that holds the cases and gridloop's custom search attributes on it. Safe to run
# again: an existing namespace is kept (its retention too), an existing attribute is skipped.
# The attributes must match gridloop/search_attributes.py (tests/test_deploy.py checks).
set -eu

: "${TEMPORAL_ADDRESS:?}"
NAMESPACE=${NAMESPACE:-default}
RETENTION=${RETENTION:-365d}
ATTEMPTS=${ATTEMPTS:-60}

# Retries for a server that is still starting, or a namespace created a moment ago that the
# frontend's namespace cache does not know yet.
retry() {
    attempt=1
    until "$@"; do
        if [ "$attempt" -ge "$ATTEMPTS" ]; then
            echo "gave up after $ATTEMPTS attempts: $*" >&2
            return 1
        fi
        attempt=$((attempt + 1))
        sleep 2
    done
}

retry temporal operator cluster health --address "$TEMPORAL_ADDRESS"
if ! temporal operator namespace describe --address "$TEMPORAL_ADDRESS" \
    --namespace "$NAMESPACE" >/dev/null 2>&1; then
    temporal operator namespace create --address "$TEMPORAL_ADDRESS" \
        --namespace "$NAMESPACE" --retention "$RETENTION"
fi

# One attribute per command: `--type` takes one value and applies to the first `--name` only.
for attribute in \
    GridloopStage:Keyword \
    GridloopCategory:Keyword \
    GridloopGrid:Keyword \
    GridloopTown:Keyword \
    GridloopUrgency:Keyword \
    GridloopLeadDepartment:Keyword \
    GridloopOverdue:Bool; do
    retry temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" \
        --namespace "$NAMESPACE" --name "${attribute%%:*}" --type "${attribute##*:}"
done
echo "namespace $NAMESPACE ready with gridloop's search attributes"
