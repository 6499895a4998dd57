# gridloop's image: one image for every gridloop process, one process per container
# (`gridloop api`, `gridloop worker`, `gridloop migrate`, and the admin commands), configured
# by GRIDLOOP_* environment variables. docker-compose.yml runs it; docs/deploy.md explains.
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The packages pyproject.toml installs (tests/test_deploy.py keeps this list complete).
WORKDIR /src
COPY pyproject.toml README.md worker.py ./
COPY domain/ domain/
COPY workflows/ workflows/
COPY activities/ activities/
COPY store/ store/
COPY api/ api/
COPY web/ web/
COPY gridloop/ gridloop/
COPY bench/ bench/
RUN pip install . && rm -rf /src

# Not root: the processes need to write nothing but their data directory.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/gridloop --create-home gridloop
USER gridloop
WORKDIR /var/lib/gridloop

ENV GRIDLOOP_DATA_DIR=/var/lib/gridloop \
    GRIDLOOP_HTTP_HOST=0.0.0.0 \
    GRIDLOOP_LOG_FORMAT=json
EXPOSE 8000
# SIGTERM stops gracefully: the HTTP server drains, the worker finishes its activities.
STOPSIGNAL SIGTERM
CMD ["gridloop", "api"]
