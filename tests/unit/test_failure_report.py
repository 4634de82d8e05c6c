"""A failed flink or integration test explains itself: its registered sources, the logs that
changed while it ran, once per module for a module fixture, with this environment's secrets
masked. Run as an inner pytest session with the suite's own conftest."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
pytest_plugins = ["pytester"]

TESTS = Path(__file__).resolve().parents[1]
SECRET = "sk-never-print-this-0123456789"


@pytest.fixture
def suite(pytester, monkeypatch):
    pytester.makeconftest((TESTS / "conftest.py").read_text())
    for module in ("failure_report", "timing_report"):
        pytester.makepyfile(**{module: (TESTS / f"{module}.py").read_text()})
    pytester.makeini(
        "[pytest]\nmarkers =\n    unit: u\n    flink: f\n    integration: i\n    live: l\n"
    )
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    # The stack's log directory of the inner session: an empty home of its own.
    monkeypatch.setenv("FLINK_RAG_HOME", str(pytester.path / "home"))
    return pytester


def test_a_failed_scenario_prints_its_sources_and_the_logs_it_wrote(suite):
    logs = suite.path / "cluster-logs"
    suite.makepyfile(
        test_scenario=f"""
        import pytest
        from pathlib import Path
        pytestmark = pytest.mark.integration

        @pytest.fixture(scope="module")
        def report(module_diagnostics):
            logs = Path({str(logs)!r})
            logs.mkdir()
            module_diagnostics.add_log_dir(logs)
            module_diagnostics.add("scenario report", lambda: "answered 3 of 40 passengers")
            (logs / "taskmanager-1.log").write_text(
                "INFO started\\nERROR worker lost: connection refused\\n"
                + "INFO tick\\n" * 100 + "key {SECRET}\\n"
            )
            return 3

        def test_all_answered(report):
            assert report == 40

        def test_nothing_lost(report):
            assert 40 - report == 0
        """
    )
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "answered 3 of 40 passengers" in out
    # An earlier problem line is kept although it is far from the log's tail.
    assert "ERROR worker lost: connection refused" in out
    assert "taskmanager-1.log" in out
    # Printed once for the module, not once per failed test.
    assert out.count("answered 3 of 40 passengers") == 1
    assert "printed with this module's first failure" in out
    assert SECRET not in out
    assert "<OPENAI_API_KEY>" in out


def test_a_broken_source_does_not_hide_the_others(suite):
    suite.makepyfile(
        test_broken="""
        import pytest
        pytestmark = pytest.mark.flink

        def test_it(diagnostics):
            diagnostics.add("gone", lambda: 1 / 0)
            diagnostics.add("cause", "the LLM double never answered: 0 of 4 requests")
            assert False
        """
    )
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "could not collect: ZeroDivisionError" in out
    assert "the LLM double never answered: 0 of 4 requests" in out


def test_unit_failures_and_passing_tests_print_no_diagnostics(suite):
    suite.makepyfile(
        test_plain="""
        import pytest

        @pytest.mark.unit
        def test_unit(diagnostics):
            diagnostics.add("x", "UNIT" + "-SOURCE")
            assert False

        @pytest.mark.integration
        def test_ok(diagnostics):
            diagnostics.add("x", "PASSING" + "-SOURCE")
        """
    )
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, passed=1)
    out = result.stdout.str()
    assert "UNIT-SOURCE" not in out
    assert "PASSING-SOURCE" not in out
    # Every run ends with where its time went.
    assert "time per tier" in out
    assert "unit              1" in out and "integration       1" in out
