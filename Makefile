# The two commands of the README:
#   make demo   set everything up, then run the rebooking demo on local defaults
#   make test   set everything up, then run every test tier but `live`
.PHONY: setup demo test lint clean

setup:
	@bash scripts/setup.sh

demo: setup
	@.venv/bin/flink-rag demo

test: setup
	@bash scripts/test.sh

lint: setup
	@.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

clean:
	-@.venv/bin/flink-rag local down 2>/dev/null
	rm -rf .flink-rag jars/lib jars/target jars/*/target
