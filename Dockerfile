# The guardrails gateway: an OpenAI-compatible server in front of your model.
#   docker build -t langchain-guardrails .
#   docker run -p 8000:8000 -v "$PWD/examples/configs:/configs:ro" \
#     -e LANGCHAIN_GUARDRAILS_API_KEY=s3cret langchain-guardrails
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY langchain_guardrails ./langchain_guardrails
RUN pip install --no-cache-dir ".[serve,openai]" \
    && useradd --uid 10001 --no-create-home guardrails

USER 10001
EXPOSE 8000
# uvicorn drains on SIGTERM: it stops accepting and lets open streams finish (--drain-timeout).
STOPSIGNAL SIGTERM
# Config folders are mounted at /configs (one folder per config_id). API keys come from
# LANGCHAIN_GUARDRAILS_API_KEY (comma-separated). Add --redis-url for limits across replicas.
CMD ["langchain-guardrails", "server", "--config", "/configs", "--host", "0.0.0.0", \
     "--port", "8000", "--allowed-host", "*", "--workers", "2", "--drain-timeout", "30", \
     "--log-format", "json"]
