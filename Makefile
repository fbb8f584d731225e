# Developer entry points. Everything runs from the repo's own virtualenv (.venv), made on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Same pin as pyproject.toml. Installed on its own first: left to the resolver, sentence-transformers
# pulls torch's default CUDA build (several GB of nvidia-* wheels) that this CPU-only service never uses.
TORCH := torch==2.13.0

.PHONY: setup index run test browser clean distclean

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The stamp is newer than pyproject.toml once installed, so a second `make setup` does nothing.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install $(TORCH)
	$(BIN)/pip install -e '.[test]'
	touch $@

# Built when absent (index/current links to the live build, see index/README.md) or older than the model
# registry, so that an update which changes the default encoder rebuilds it once (the build cache re-embeds
# only what the new encoder has not seen); run `semsearch reindex` after changing the export or the encoder.
index: setup index/current/manifest.json

index/current/manifest.json: models/registry.json | $(STAMP)
	$(BIN)/semsearch reindex

# The HTTP service on SEMSEARCH_HOST:SEMSEARCH_PORT (127.0.0.1:8000); it prints where to point a browser.
run: setup index
	$(BIN)/semsearch serve

# PYTEST_STATUS=<file> records pytest's own exit code, which make turns into 2 (.ci/run reads it).
test: setup
	$(BIN)/python -m pytest $(ARGS); s=$$?; $(if $(PYTEST_STATUS),echo $$s > '$(PYTEST_STATUS)';) exit $$s

# Headless Chromium and its driver for tests/test_ui.py (Debian packages: browser downloads fail here).
# Needs root; .ci/run calls it before `make test`. Locally, test_ui is skipped while they are missing.
browser:
	(command -v chromium && command -v chromedriver) >/dev/null || \
		(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver)

# Generated files only; the virtualenv (minutes and ~1 GB to rebuild) goes with `make distclean`.
clean:
	find index -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache build *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
