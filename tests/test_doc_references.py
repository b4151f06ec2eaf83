"""Every reference to a document of this repository resolves to an existing file and heading.

Scanned: the .py, .yaml, .md and .sh files under src/, conf/, docs/, tests/, benchmarks/ and
scripts/, and README.md and the Makefile (this file excepted: its examples are made up). The
reference syntax recognised, and checked, is:

1. **A document**: a repository path under docs/ (`docs/gpu.md`, `docs/decisions/x.md`, a folder
   such as `docs/results`), or `README` / `README.md` for the top-level README. The file or folder
   must exist.
2. **Section numbers**: `<document> §N`, with more numbers as `§N, §M` or a range `§N–M` (en dash
   or hyphen), e.g. `docs/maths.md §2` or `docs/maths.md §6–7`. The document must have a
   level-2 heading `## N. …` for every N.
3. **A heading**: `<document>, "Heading"` or `<document> §N, "Heading"` (in a YAML comment the
   quote may follow a line break and `#`). The document must have a heading of any level whose
   text is `Heading`, compared with and without a leading `N. ` and without backticks; with §N the
   heading must lie inside one of the sections named.
4. **Markdown links** in README.md and docs/**/*.md: `[text](target)` with a relative target
   `path`, `path#anchor` or `#anchor`. The path must exist relative to the linking file, and the
   anchor must be the GitHub slug of a heading of the target.
5. **Retired forms**, always reported: the maths spec that lived outside the repository (`spec §N`,
   `mim-spec`, `shared/docs`, `shared/seed`), `maths §N` without the `docs/` path, and a heading
   named without quotes after a document (`(README, Performance)`, `docs/gpu.md, Precision`).

Fenced code blocks of markdown files hold commands, not references: they are skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED_DIRS = ("src", "conf", "docs", "tests", "benchmarks", "scripts")
SCANNED_SUFFIXES = {".py", ".yaml", ".md", ".sh"}

# 1-3: a document, then optionally section numbers, then optionally a quoted heading
DOCUMENT = r"(?<![\w/.-])(docs/[\w./-]*[\w-]|README(?:\.md)?)(?![\w-])"
SECTIONS = r"(§\d+(?:\s*[–-]\s*\d+)?(?:\s*,\s*§\d+(?:\s*[–-]\s*\d+)?)*)"
HEADING = r"\"([^\"\n]+)\""
REFERENCE = re.compile(DOCUMENT + r"(?:[ \t]+" + SECTIONS + r")?(?:,[\s#]*" + HEADING + r")?")
# 5: retired forms
RETIRED = re.compile(r"\bspec §|mim-spec|shared/docs|shared/seed|(?<!docs/)\bmaths(?:\.md)? §")
UNQUOTED_HEADING = re.compile(r"(?<![\w/.-])(?:docs/[\w./-]*\.md|README(?:\.md)?),[ \t]+[A-Z][\w-]*")
# 4: markdown links (images too), the target up to the closing parenthesis
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")
ATX_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def scanned_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "Makefile"]
    for folder in SCANNED_DIRS:
        files += sorted(p for p in (ROOT / folder).rglob("*") if p.suffix in SCANNED_SUFFIXES and p.is_file())
    this = Path(__file__).resolve()
    return [p for p in files if p.is_file() and p.resolve() != this and "egg-info" not in p.parts]


def headings(path: Path) -> list[tuple[int, str]]:
    """(level, text) of the markdown headings of `path`, outside fenced code blocks."""
    found, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else ATX_HEADING.match(line)
        if match:
            found.append((len(match.group(1)), match.group(2)))
    return found


def heading_names(text: str) -> set[str]:
    """The names a heading answers to: as written, less a leading "N. ", less backticks."""
    names = {text, re.sub(r"^\d+\.\s+", "", text)}
    return names | {name.replace("`", "") for name in names}


def sections(path: Path) -> dict[int, set[str]]:
    """Section number N of each `## N. …` heading -> the names of the headings inside it."""
    numbered: dict[int, set[str]] = {}
    current = None
    for level, text in headings(path):
        if level <= 2:
            match = re.match(r"(\d+)\.\s", text) if level == 2 else None
            current = int(match.group(1)) if match else None
            if current is not None:
                numbered[current] = set()
        if current is not None:
            numbered[current] |= heading_names(text)
    return numbered


def slug(text: str, seen: dict[str, int]) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    base = re.sub(r"[^\w\- ]", "", text.replace("`", "").strip().lower()).replace(" ", "-")
    count = seen.get(base, 0)
    seen[base] = count + 1
    return base if count == 0 else f"{base}-{count}"


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    return {slug(text, seen) for _, text in headings(path)}


def section_numbers(spec: str) -> list[int]:
    numbers = []
    for part in re.findall(r"§(\d+)(?:\s*[–-]\s*(\d+))?", spec):
        low, high = int(part[0]), int(part[1] or part[0])
        numbers += range(low, high + 1)
    return numbers


def document_path(name: str) -> Path:
    return ROOT / ("README.md" if name in ("README", "README.md") else name.rstrip("./"))


def reference_problems(text: str) -> list[str]:
    """What is wrong with the document references in `text` (forms 1-3 and 5), one line each."""
    problems = [f"retired reference {m.group(0)!r}" for m in RETIRED.finditer(text)]
    problems += [f"unquoted heading {m.group(0)!r}" for m in UNQUOTED_HEADING.finditer(text)]
    for match in REFERENCE.finditer(text):
        name, spec, heading = match.groups()
        path = document_path(name)
        if not path.exists():
            problems.append(f"{match.group(0)!r}: no file or folder {path.relative_to(ROOT)}")
            continue
        if not (spec or heading):
            continue
        if path.is_dir() or path.suffix != ".md":
            problems.append(f"{match.group(0)!r}: {path.relative_to(ROOT)} is not a markdown file")
            continue
        numbered = sections(path)
        wanted = section_numbers(spec or "")
        missing = [n for n in wanted if n not in numbered]
        if missing:
            problems.append(f"{match.group(0)!r}: no section {missing} in {path.relative_to(ROOT)}")
        elif heading:
            pool = [numbered[n] for n in wanted] or [heading_names(name) for _, name in headings(path)]
            if heading not in set().union(*pool):
                where = f"§{', §'.join(map(str, wanted))} of " if wanted else ""
                problems.append(
                    f"{match.group(0)!r}: no heading {heading!r} in {where}{path.relative_to(ROOT)}"
                )
    return problems


def link_problems(path: Path, text: str) -> list[str]:
    """What is wrong with the relative markdown links of `path` (form 4), one line each."""
    problems = []
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            problems.append(f"link {target!r}: no {file_part}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            problems.append(f"link {target!r}: no heading with anchor #{anchor}")
    return problems


def without_code_blocks(text: str) -> str:
    """`text` with the lines of its fenced code blocks emptied (commands, not references)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            line = ""
        lines.append("" if fenced else line)
    return "\n".join(lines)


def test_every_document_reference_resolves():
    problems = []
    for path in scanned_files():
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".md":
            text = without_code_blocks(text)
        found = reference_problems(text)
        if path.suffix == ".md":
            found += link_problems(path, text)
        problems += [f"{path.relative_to(ROOT)}: {problem}" for problem in found]
    assert not problems, "dead document references:\n" + "\n".join(problems)


def test_the_maths_page_has_the_sections_the_code_cites():
    numbered = sections(ROOT / "docs" / "maths.md")
    assert list(numbered) == list(range(1, len(numbered) + 1))
    assert "One q(x)" in numbered[2]


@pytest.mark.parametrize(
    "text",
    [
        "(spec §2)",
        "(docs/maths.md §99)",
        "(docs/maths.md §6–99)",
        '(docs/maths.md, "No such heading")',
        '(docs/maths.md §1, "One q(x)")',  # a real heading, in another section
        "(docs/no_such_page.md)",
        "(README, Performance)",
        '(README, "No such heading")',
        "(docs/gpu.md, Precision)",
        "../shared/docs/anything.md",
        "(maths §2)",
    ],
)
def test_made_up_references_are_reported(text):
    assert reference_problems(text)


@pytest.mark.parametrize(
    "text",
    [
        "(docs/maths.md §2)",
        "(docs/maths.md §6–7)",
        "(docs/maths.md §2, §3)",
        '(docs/maths.md, "One q(x)")',
        '(docs/maths.md §2, "One q(x)")',
        '(docs/gpu.md, "Precision")',
        '# (docs/gpu.md,\n# "Sampler")',
        "see docs/results and docs/decisions/.",
        "(the paper's Sec. 5.2; IWAE §5.2)",
    ],
)
def test_real_references_pass(text):
    assert reference_problems(text) == []


def test_dead_links_are_reported(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## A part\n\n[ok](#a-part) [bad](#no-part) [gone](missing.md)\n")
    problems = link_problems(page, page.read_text())
    assert len(problems) == 2 and "#no-part" in problems[0] and "missing.md" in problems[1]
