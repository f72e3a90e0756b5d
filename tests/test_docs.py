"""The docs a reader trusts: the README's main-job numbers are the measuring file's, and
the current pages are current (history lives in docs/log/)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from headline import HEADLINE, headline, table_rows, written_headline

ROOT = Path(__file__).resolve().parent.parent

GENERATED = ROOT / "docs" / "generated" / "time_to_success.md"
README = ROOT / "README.md"
# the README's first two commands, exactly as a user copies them (and CI runs the second)
FIRST_COMMANDS = [
    "python3 -m venv .venv && . .venv/bin/activate && pip install -c constraints.txt -e . "
    "&& llm4teach fit --config configs/simpledoorkey.yaml",
    "pip install tox && tox p",
]
CURRENT_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _words(text: str) -> str:
    """Markdown prose as plain words: line breaks and quote marks are layout, not content."""
    return " ".join(text.replace(">", " ").split())


def test_the_generated_headline_is_built_from_its_own_tables():
    report = GENERATED.read_text()
    seeds = int(re.search(r"over (\d+) seeds\.$", written_headline(report)).group(1))
    assert written_headline(report) == headline(table_rows(report), seeds)


def test_the_readme_quotes_the_main_job_headline_word_for_word():
    sentence = written_headline(GENERATED.read_text())[len(HEADLINE):]
    assert _words(sentence) in _words((ROOT / "README.md").read_text())


def test_a_changed_number_breaks_the_agreement():
    report = GENERATED.read_text()
    (rate,) = [row["frames per CPU-s"] for row in table_rows(report)
               if row.get("method") == "main" and "frames per CPU-s" in row]
    changed = str((int(rate[0]) + 1) % 10) + rate[1:]  # one digit of the measured rate
    report = report.replace(f"| {rate} |", f"| {changed} |")
    sentence = headline(table_rows(report), 3)[len(HEADLINE):]
    assert _words(sentence) not in _words((ROOT / "README.md").read_text())


@pytest.mark.parametrize("page", CURRENT_PAGES, ids=lambda p: p.name)
def test_current_pages_hold_no_dated_layers(page):
    text = page.read_text().lower()
    for layer in ("re-judged", "since then", "before this"):
        assert layer not in text, f"{page.name} says {layer!r}: history goes to docs/log/"


@pytest.mark.parametrize("config", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_configs_carry_no_measured_numbers(config):
    comments = [line.partition("#")[2] for line in config.read_text().splitlines()]
    # a spread, a clock, or a success rate: what a run measured, not what it is set to
    measured = [c for c in comments
                if re.search(r"±|\+-|CPU-s|\d\.\d+ (greedy|sampled)|success (about )?\d", c)]
    assert not measured, f"{config.name}: measured numbers belong in docs/: {measured}"


def test_the_readme_opens_with_three_sentences_then_the_two_commands():
    text = README.read_text()
    intro = text.split("\n\n")[1]  # after the title
    assert len(re.findall(r"[.!?](?:\s|$)", intro)) == 3, intro
    blocks = re.findall(r"```bash\n(.*?)\n```", text, re.S)
    assert blocks[:2] == FIRST_COMMANDS
    assert "tox p" in (ROOT / ".ci" / "run").read_text()


def test_the_readme_meets_a_first_contact(capsys):
    """Every llm4teach command is in the README; so are tox p's time and live output, and
    where MLflow 3's UI keeps the runs."""
    from llm4teach.cli import main

    with pytest.raises(SystemExit):
        main(["--help"])
    commands = re.findall(r"^    (\w+)  ", capsys.readouterr().out, re.M)
    assert "demo" in commands
    text = _words(README.read_text())
    for command in commands:
        assert f"llm4teach {command}" in text, f"llm4teach {command} is not in the README"
    assert "tox p -o" in text and re.search(r"about [\d.]+ minutes", text)
    assert "GenAI view" in text and "machine-learning view" in text


def test_benchmark_budgets_are_the_configs():
    import yaml

    from sample_efficiency import BUDGET, PAPER_TASKS, config_path

    for task in PAPER_TASKS:
        config = yaml.safe_load(config_path(task).read_text())
        assert BUDGET[task] == config["budget"]["total_frames"], task


@pytest.mark.parametrize("script", sorted((ROOT / "benchmarks").glob("*.py")), ids=lambda p: p.name)
def test_benchmark_scripts_write_only_generated_files(script):
    """A script writes whole files under docs/generated/ (report.write_generated), never
    into a page a person writes."""
    if script.name != "report.py":
        text = script.read_text()
        assert "DOCS" not in text and "write_section" not in text
