# The guardrails gateway: an OpenAI-compatible server in front of your model.
#   docker build -t langchain-guardrails:0.1.0 .     # tag = the package version (pyproject.toml)
#   docker run -p 8000:8000 -v "$PWD/examples/configs:/configs:ro" \
#     -e LANGCHAIN_GUARDRAILS_API_KEY=s3cret langchain-guardrails:0.1.0
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY langchain_guardrails ./langchain_guardrails
RUN pip install --no-cache-dir ".[serve,openai]" \
    && groupadd --gid 10001 guardrails \
    && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin guardrails

# Never root: a numeric user, so runtimes (and Kubernetes' runAsNonRoot) can verify it.
USER 10001:10001
EXPOSE 8000
# The image has no curl: Python's standard library asks /health (open without an API key).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]
# uvicorn drains on SIGTERM: it stops accepting and lets open streams finish (--drain-timeout).
STOPSIGNAL SIGTERM
# Config folders are mounted at /configs (one folder per config_id). API keys come from
# LANGCHAIN_GUARDRAILS_API_KEY (comma-separated). Add --redis-url for limits across replicas.
CMD ["langchain-guardrails", "server", "--config", "/configs", "--host", "0.0.0.0", \
     "--port", "8000", "--allowed-host", "*", "--workers", "2", "--drain-timeout", "30", \
     "--log-format", "json"]
