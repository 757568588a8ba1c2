"""The documentation cites primary sources (specifications, kernel and peer files) or states the
fact, never the project's working notes outside the repository (issue 9 part 5): no path into
``../shared/spec`` and no section number of those notes (``amd.md §5.6``, ``spec §2.2``)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTES = r"(amd|tdx|cca_igvm|appraisal|reference_values|cca_token)\.md"
FORBIDDEN = [
    re.compile(r"shared/spec"),
    re.compile(r"\bspec/" + NOTES),
    re.compile(NOTES + r" §"),
    re.compile(r"\bspec §"),
]


def test_docs_cite_no_working_notes() -> None:
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if any(p.search(line) for p in FORBIDDEN):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert found == [], "cite the primary source instead:\n" + "\n".join(found)
