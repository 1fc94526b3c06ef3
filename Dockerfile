# hpsearch service image: slim Python, non-root user, health check on /healthz.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HPSEARCH_HOST=0.0.0.0 \
    HPSEARCH_PORT=8000 \
    HPSEARCH_DATA_DIR=/data \
    HPSEARCH_DATABASE_URL=sqlite:////data/hpsearch.db

# A regular (non-editable) install: the wheel carries the Alembic migrations and the dashboard's
# templates and static files (pyproject.toml, [tool.setuptools.*]), so the sources are removed
# once installed and the service runs from site-packages alone
# (tests/hardening/test_hardening_packaging.py builds and runs the same install).
WORKDIR /tmp/hpsearch-src
COPY pyproject.toml README.md MANIFEST.in alembic.ini ./
COPY engine ./engine
COPY samplers ./samplers
COPY service ./service
COPY hpsearch ./hpsearch
COPY alembic ./alembic
RUN pip install "/tmp/hpsearch-src[dask]" \
    && rm -rf /tmp/hpsearch-src \
    && useradd --create-home --uid 10001 hpsearch \
    && mkdir -p /data && chown hpsearch /data

WORKDIR /home/hpsearch
USER hpsearch
EXPOSE 8000
VOLUME ["/data"]
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
# Inside the container only, the service binds 0.0.0.0 (set above); outside, the default stays 127.0.0.1.
CMD ["hpsearch", "serve"]
