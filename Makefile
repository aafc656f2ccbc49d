# Every target bootstraps .venv on its own, so a fresh clone needs only `make demo` / `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CORE   := $(VENV)/.core-installed
FULL   := $(VENV)/.full-installed
PYTEST_ARGS ?=

.PHONY: demo test docs lint format bench clean redis-server chromium nemo-packages screenshots \
	train-detector injection-figures

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(CORE): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

# torch is pinned explicitly: an unpinned torch pulls several GB of CUDA wheels.
$(FULL): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[all,test,lint,docs]"
	touch $(CORE) $@

demo: $(CORE)
	$(BIN)/python -m langchain_guardrails.cli.demo

# The server's scale-out tests start a real redis-server: installed here when apt-get can.
redis-server:
	@command -v redis-server >/dev/null || apt-get install -y -q redis-server >/dev/null 2>&1 \
		|| (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q redis-server >/dev/null 2>&1) \
		|| echo "redis-server could not be installed: the Redis tests will be skipped"

# The console's browser tests drive Debian's chromium with chromedriver: installed here when
# apt-get can (elsewhere they are skipped, saying why).
chromium:
	@(command -v chromium >/dev/null && command -v chromedriver >/dev/null) \
		|| apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
		|| (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1) \
		|| echo "chromium could not be installed: the console's browser tests will be skipped"

# The Colang tests run NeMo Guardrails' own config folders, read from its packages published on
# PyPI (never copied into this repository): downloaded once into $(NEMO_PKGS), kept there.
NEMO_PKGS := $(VENV)/nemo-packages
nemo-packages: | $(BIN)/python
	@mkdir -p $(NEMO_PKGS)
	@test -f $(NEMO_PKGS)/nemoguardrails-0.17.0.tar.gz || $(BIN)/pip download -q --no-deps \
		--no-binary :all: -d $(NEMO_PKGS) nemoguardrails==0.17.0 \
		|| echo "nemoguardrails 0.17.0 could not be downloaded: its folders' tests will be skipped"
	@test -f $(NEMO_PKGS)/nemoguardrails-0.24.1-py3-none-any.whl || $(BIN)/pip download -q \
		--no-deps --only-binary :all: -d $(NEMO_PKGS) nemoguardrails==0.24.1 \
		|| echo "nemoguardrails 0.24.1 could not be downloaded: its folders' tests will be skipped"
	@test -f $(NEMO_PKGS)/nemoguardrails-0.8.3-py3-none-any.whl || $(BIN)/pip download -q \
		--no-deps --only-binary :all: -d $(NEMO_PKGS) nemoguardrails==0.8.3 \
		|| echo "nemoguardrails 0.8.3 could not be downloaded: its folders' tests will be skipped"

# The suite also builds the documentation site with `mkdocs build --strict`
# (tests/unit_tests/docs): a broken link or a missing API reference fails it.
test: $(FULL) redis-server chromium nemo-packages
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

docs: $(FULL)
	$(BIN)/python -m mkdocs serve

lint: $(FULL)
	$(BIN)/ruff check langchain_guardrails tests benchmarks
	$(BIN)/ruff format --check langchain_guardrails tests benchmarks
	$(BIN)/mypy langchain_guardrails

format: $(FULL)
	$(BIN)/ruff format langchain_guardrails tests benchmarks
	$(BIN)/ruff check --fix langchain_guardrails tests benchmarks

bench: $(CORE)
	$(BIN)/python benchmarks/stream_overhead.py
	$(BIN)/python -m langchain_guardrails eval --shipped --markdown --concurrency 1
	$(BIN)/python -m langchain_guardrails eval --spans langchain_guardrails/eval/data/pii_spans.jsonl --reference presidio --markdown

# The console's screenshots in the docs, taken from the real pages in headless chromium.
screenshots: $(FULL) chromium
	$(BIN)/python scripts/screenshots.py

# The offline prompt-injection model: weights from the vendored data (standard library only,
# deterministic), and its cross-corpus figures (docs/rails/prompt-injection.md).
train-detector: $(CORE)
	$(BIN)/python -m langchain_guardrails.eval.injection_train

injection-figures: $(CORE)
	$(BIN)/python -m langchain_guardrails.eval.injection_figures
	$(BIN)/python benchmarks/injection_rail.py

clean:
	rm -rf $(VENV) build dist site *.egg-info
