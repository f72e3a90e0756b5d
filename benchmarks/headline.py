"""The main job's headline: one sentence built from the two tables of
``docs/generated/time_to_success.md``, which the README quotes word for word.

``time_to_success.py`` writes the sentence under its tables, and ``tests/test_docs.py``
rebuilds it from the tables and finds it in the README: a number the README gives for the
main job cannot drift from the file that measured it. No heavy imports: the test reads it.
"""

from __future__ import annotations

import re

HEADLINE = "Headline: "


def table_rows(markdown: str) -> list[dict[str, str]]:
    """Every row of every markdown table, as {column: cell}."""
    rows, header = [], None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not set(line) <= set("|-: "):
            rows.append(dict(zip(header, cells, strict=True)))
    return rows


def headline(rows: list[dict[str, str]], seeds: int, method: str = "main") -> str:
    """The sentence, from the rows of the method's two tables (cells as the script wrote them)."""
    mine = [r for r in rows if r.get("method") == method]
    levels = {(r["mode"], r["success"]): r for r in mine if "mode" in r}
    whole = next(r for r in mine if "frames per CPU-s" in r)
    greedy, sampled = levels[("greedy", "0.9")], levels[("sampled", "0.9")]
    return (f"{HEADLINE}{whole['frames']} frames in {whole['CPU-s']} CPU-s, "
            f"{whole['frames per CPU-s']} frames per CPU-s end to end; 0.9 greedy held-out "
            f"success after {greedy['frames']} frames and {greedy['CPU-s']} CPU-s, 0.9 sampled "
            f"after {sampled['frames']} frames and {sampled['CPU-s']} CPU-s; at the end "
            f"{whole['final greedy']} greedy and {whole['final sampled']} sampled; mean ± std "
            f"over {seeds} seeds.")


def written_headline(markdown: str) -> str:
    """The headline line a report holds (the sentence after ``Headline: ``)."""
    match = re.search(rf"^{HEADLINE}(.*)$", markdown, re.M)
    if match is None:
        raise ValueError("no headline line in the report")
    return HEADLINE + match.group(1)
