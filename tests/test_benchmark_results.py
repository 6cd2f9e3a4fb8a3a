"""Saving one benchmark's report keeps every other benchmark's section of RESULTS.md."""

from __future__ import annotations

from pathlib import Path

from benchmarks.results import replace_section, save_section

DOCUMENT = (
    "# Webhook receiver benchmark\n\nold receiver table\n\n"
    "# GitHub write budget and costs\n\ncosts table\n\n"
    "# End-to-end latency\n\nlatency table\n"
)


def test_saving_the_receivers_report_keeps_the_other_sections(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text(DOCUMENT)
    save_section(
        "Webhook receiver benchmark", "# Webhook receiver benchmark\n\nnew table\n", path=path
    )
    assert path.read_text() == (
        "# Webhook receiver benchmark\n\nnew table\n\n"
        "# GitHub write budget and costs\n\ncosts table\n\n"
        "# End-to-end latency\n\nlatency table\n"
    )


def test_a_middle_or_last_section_is_replaced_in_place() -> None:
    middle = replace_section(DOCUMENT, "GitHub write budget", "# GitHub write budget\n\nv2\n")
    assert middle.count("# ") == 3 and "costs table" not in middle and "v2" in middle
    assert middle.index("v2") < middle.index("# End-to-end latency")
    last = replace_section(DOCUMENT, "End-to-end latency", "# End-to-end latency\n\nv3\n")
    assert last.endswith("# End-to-end latency\n\nv3\n") and "old receiver table" in last


def test_a_new_benchmark_appends_its_section() -> None:
    added = replace_section(DOCUMENT, "Reconciler resync", "# Reconciler resync\n\nnew\n")
    assert added == DOCUMENT + "\n# Reconciler resync\n\nnew\n"
