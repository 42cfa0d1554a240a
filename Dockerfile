# tiktok-signer: Debian-based image with Debian's chromium for the browser provider.

# Stage 1: fetch TikTok's pinned SDK files (npm pack + sha256 pins); never in the repo.
FROM python:3.11-slim-bookworm AS sdk
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY pyproject.toml README.md ./
COPY signer ./signer
COPY providers ./providers
COPY monitoring ./monitoring
RUN pip install --no-cache-dir . && SIGNER_DATA_DIR=/build/data tiktok-signer sdk fetch

# Stage 2: the service.
FROM python:3.11-slim-bookworm

# fonts-liberation: Chromium's recommended font; the SDK's canvas fingerprint depends on it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-liberation \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 signer

WORKDIR /app
COPY pyproject.toml README.md ./
COPY signer ./signer
COPY providers ./providers
COPY monitoring ./monitoring
COPY config ./config
RUN pip install --no-cache-dir . && mkdir -p /app/data && chown signer:signer /app/data
COPY --from=sdk --chown=signer:signer /build/data/sdk /app/data/sdk

USER signer
ENV SIGNER_HOST=0.0.0.0 \
    SIGNER_PORT=8080 \
    SIGNER_DATA_DIR=/app/data \
    SIGNER_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('SIGNER_PORT', '8080'), timeout=2)" || exit 1
# The exec form makes the service PID 1, so SIGTERM reaches it and shutdown is graceful.
CMD ["tiktok-signer", "serve"]
