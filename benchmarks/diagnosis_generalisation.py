"""How well the grader catches and locates mistakes it has never seen: a measuring set of learner
mistakes written independently of its catalogue (benchmarks/diagnosis/measuring/*.toml), each
applied to a copy of the reference and graded on its own exercise.

    python benchmarks/diagnosis_generalisation.py [--set PATH ...] [--only SUBSTRING] [--json OUT]
                                                  [--device cpu|cuda|auto]

A mistake of the set is a TOML table `[[mistake]]` with `id`, `exercise`, `summary`, `where` (1-4
lowercase words naming where the computation first departs from the contract), `edits` (a list of
`{old, new}` text edits of the reference file, each `old` occurring exactly once) and optionally
`same_as` (ids of catalogued mistakes this one coincides with). For each it records:

- killed: the exercise's status is fail, error, timeout or blocked (anything but pass);
- named: the exercise's localisation text `where` contains one of the mistake's `where` words
  (case-insensitive, whole words), or the grader's `diagnosis` names a catalogued id that the
  mistake lists in `same_as`;
- wrong cause: `diagnosis` names a catalogued mistake that is not in `same_as` (a cause stated as
  certain that is not this mistake).

It prints a table per exercise and the totals; `--json OUT` writes one record per mistake. A
mistake whose edit does not apply, or whose mutant is not valid Python, is a set error, reported
and left out of the figures. The language model is graded in the quick profile (its checks train
it), every other exercise in the default one; on the CPU unless --device says otherwise (a mistake
of device placement or of half precision shows on a GPU only).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
import tomllib
import traceback
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MEASURING = ROOT / "benchmarks" / "diagnosis" / "measuring"
QUICK = {"day16.lm.DecoderLM": "quick"}
KILLED = {"fail", "error", "timeout", "blocked"}


@dataclass(frozen=True)
class Entry:
    """A mistake of a measuring set, as written."""

    id: str
    exercise: str
    summary: str
    where: tuple[str, ...]
    same_as: tuple[str, ...]
    edits: tuple[tuple[str, str], ...]
    source: str  # the file it comes from

    @property
    def day(self) -> str:
        return self.exercise.split(".")[0]


@dataclass
class Record:
    """What the grader made of one mistake."""

    id: str
    exercise: str
    summary: str
    where_words: list[str]
    status: str = ""  # the exercise's status; "set error" / "grader crash" when not graded
    killed: bool = False
    named: bool = False
    named_by: str | None = None  # "where" or "diagnosis"
    wrong_cause: list[str] = field(default_factory=list)
    where_text: str = ""
    diagnosis: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    profile: str = ""
    seconds: float = 0.0
    error: str = ""  # why it was not graded


def load_set(paths: list[Path]) -> tuple[list[Entry], list[Record]]:
    """The mistakes of every TOML file under `paths`, and a set error for each one malformed."""
    files: list[Path] = []
    for p in paths:
        files += sorted(p.glob("*.toml")) if p.is_dir() else [p]
    entries: list[Entry] = []
    errors: list[Record] = []
    seen: set[str] = set()
    for f in files:
        try:
            tables = tomllib.loads(f.read_text(encoding="utf-8")).get("mistake", [])
        except (OSError, tomllib.TOMLDecodeError) as e:
            errors.append(Record(f"<{f.name}>", "", "", [], status="set error", error=str(e)))
            continue
        for i, m in enumerate(tables):
            mid = str(m.get("id", f"<{f.name}#{i}>"))
            try:
                where = m["where"]
                if isinstance(where, str):
                    where = [where]
                edits = tuple((e["old"], e["new"]) for e in m["edits"])
                if not edits:
                    raise ValueError("no edits")
                entry = Entry(
                    id=m["id"],
                    exercise=m["exercise"],
                    summary=m.get("summary", ""),
                    where=tuple(w.lower() for w in where),
                    same_as=tuple(m.get("same_as", ())),
                    edits=edits,
                    source=str(f),
                )
                if entry.id in seen:
                    raise ValueError("id used twice")
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                errors.append(
                    Record(mid, str(m.get("exercise", "")), "", [], status="set error", error=repr(e))
                )
                continue
            seen.add(entry.id)
            entries.append(entry)
    return entries, errors


def mistake_of(entry: Entry):
    from quizgrader.analysis import diagnosis

    return diagnosis.Mistake(entry.id, entry.exercise, entry.summary, entry.summary, entry.edits)


def set_error(entry: Entry) -> str | None:
    """Why this mistake cannot be applied to the reference, or None."""
    from quizgrader import daypacks
    from quizgrader.analysis import diagnosis

    try:
        mistake = mistake_of(entry)
        reference = daypacks.day_of(entry.exercise).reference / mistake.file
        source = reference.read_text(encoding="utf-8")
        mutant = diagnosis.mutate(source, mistake)
        if mutant == source:
            return "the edits leave the reference unchanged"
        compile(mutant, mistake.file, "exec")
    except SyntaxError as e:
        return f"the mutant is not valid Python: {e}"
    except Exception as e:  # an unknown day or exercise, an edit that does not match once, ...
        return f"{type(e).__name__}: {e}"
    return None


def words_in(text: str, words: tuple[str, ...]) -> list[str]:
    """The words (or phrases) that occur in `text` as whole words, case-insensitively."""
    return [w for w in words if re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text, re.IGNORECASE)]


def where_text(exercise: dict, result) -> str:
    """The grader's localisation text for the exercise: the `where` field of its JSON, else of its
    result; empty when it has none."""
    value = exercise.get("where")
    if value is None:
        value = getattr(result, "where", None)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "\n".join(str(v) for v in value)
    return str(value)


def grade_one(entry: Entry, zygote, tmp: Path, device: str = "cpu") -> Record:
    from quizgrader.analysis import diagnosis
    from quizgrader.grade import Options, grade

    profile = QUICK.get(entry.exercise, "default")
    record = Record(entry.id, entry.exercise, entry.summary, list(entry.where), profile=profile)
    if (why := set_error(entry)) is not None:
        record.status, record.error = "set error", why
        return record
    started = time.perf_counter()
    try:
        ws = diagnosis.materialize(mistake_of(entry), tmp / entry.id / "ws")
        options = Options(workspace=ws, only=[entry.exercise], profile=profile, device=device)
        report = grade(entry.day, options, zygote=zygote)
        result = next(e for e in report.exercises if e.id == entry.exercise)
        exercise = next(e for e in report.to_dict()["exercises"] if e["id"] == entry.exercise)
    except Exception:
        record.status = "grader crash"
        record.error = traceback.format_exc(limit=-3).strip().splitlines()[-1]
        record.seconds = time.perf_counter() - started
        return record
    record.seconds = time.perf_counter() - started
    record.status = result.status.value
    record.killed = record.status in KILLED
    record.diagnosis = list(result.diagnosis)
    record.failed_checks = [c.name for c in result.checks if c.status.value in ("fail", "error", "timeout")]
    record.where_text = where_text(exercise, result)
    if words_in(record.where_text, entry.where):
        record.named, record.named_by = True, "where"
    elif set(record.diagnosis) & set(entry.same_as):
        record.named, record.named_by = True, "diagnosis"
    record.wrong_cause = [d for d in record.diagnosis if d not in entry.same_as]
    return record


def pct(n: int, d: int) -> str:
    return f"{100 * n / d:5.1f}%" if d else "    -"


def table(records: list[Record]) -> str:
    graded = [r for r in records if r.status not in ("set error", "grader crash")]
    by_exercise: dict[str, list[Record]] = defaultdict(list)
    for r in graded:
        by_exercise[r.exercise].append(r)
    width = max([len("exercise"), *map(len, by_exercise)])
    head = f"{'exercise':<{width}}  mistakes  killed  named  wrong causes"
    lines = [head, "-" * len(head)]
    for ex in sorted(by_exercise):
        rs = by_exercise[ex]
        lines.append(
            f"{ex:<{width}}  {len(rs):8d}  {sum(r.killed for r in rs):6d}  {sum(r.named for r in rs):5d}"
            f"  {sum(bool(r.wrong_cause) for r in rs):12d}"
        )
    n = len(graded)
    killed = sum(r.killed for r in graded)
    named = sum(r.named for r in graded)
    wrong = sum(bool(r.wrong_cause) for r in graded)
    # killed with no catalogued cause stated: what only a localisation can name
    unseen = [r for r in graded if r.killed and not r.diagnosis]
    unseen_named = sum(r.named for r in unseen)
    lines += [
        "-" * len(head),
        f"{'total':<{width}}  {n:8d}  {killed:6d}  {named:5d}  {wrong:12d}",
        "",
        f"killed        {killed:4d} / {n}  {pct(killed, n)}",
        f"named         {named:4d} / {n}  {pct(named, n)}   ({pct(named, killed).strip()} of those killed)",
        f"wrong causes  {wrong:4d} / {n}  {pct(wrong, n)}   (a catalogued mistake stated as the cause)",
        f"killed with no catalogued cause stated: {len(unseen)}, named {unseen_named} "
        f"({pct(unseen_named, len(unseen)).strip()})",
    ]
    if survivors := [r for r in graded if not r.killed]:
        lines += ["", f"survived every check ({len(survivors)}):"]
        lines += [f"  {r.id}: {r.summary}" for r in survivors]
    if wrongs := [r for r in graded if r.wrong_cause]:
        lines += ["", f"named a catalogued mistake as the cause ({len(wrongs)}):"]
        lines += [f"  {r.id}: {', '.join(r.wrong_cause)}" for r in wrongs]
    if problems := [r for r in records if r.status in ("set error", "grader crash")]:
        lines += ["", f"not graded ({len(problems)}):"]
        lines += [f"  {r.id} [{r.status}]: {r.error}" for r in problems]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        type=Path,
        help="a TOML file or a folder of them (repeatable); default: benchmarks/diagnosis/measuring/",
    )
    parser.add_argument("--only", help="grade only the mistakes whose id contains this")
    parser.add_argument("--json", type=Path, help="write the per-mistake records here")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    args = parser.parse_args()

    entries, errors = load_set(args.sets or [MEASURING])
    if args.only:
        entries = [e for e in entries if args.only in e.id]
        errors = [r for r in errors if args.only in r.id]
    if not entries and not errors:
        sys.exit("no mistake to grade")

    from quizgrader.sandbox.process import Zygote

    records = list(errors)
    started = time.perf_counter()
    with Zygote() as zygote, tempfile.TemporaryDirectory(prefix="quiz-novel-") as tmp:
        from quizgrader.grade import resolve_device

        device = resolve_device(args.device)
        for i, entry in enumerate(entries, 1):
            r = grade_one(entry, zygote, Path(tmp), device)
            records.append(r)
            mark = "set error" if r.status == "set error" else ("named" if r.named else r.status)
            print(f"[{i}/{len(entries)}] {entry.id}: {mark} ({r.seconds:.1f}s)", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - started

    print(table(records))
    graded = sum(r.status not in ("set error", "grader crash") for r in records)
    print(f"\n{graded} of {len(records)} mistakes graded in {elapsed:.0f}s on {device}")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in records], indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
