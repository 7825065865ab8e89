"""What `quiz show`, `quiz hint` and `quiz solution` print about an exercise or a day's questions,
in Rich markup or as Rich renderables."""

from __future__ import annotations

from rich.console import RenderableType
from rich.markup import escape


def exercise_details(ex, checks: list) -> list[str]:
    """Where an exercise lives, what it may and may not call, and its checks."""
    lines = [f"[bold]{ex.id}[/] — {escape(ex.title)}"]
    lines.append(f"  file: {ex.file}   rubric rows: {', '.join(map(str, ex.rubric))}")
    if ex.depends_on:
        lines.append(f"  may call: {', '.join(ex.depends_on)}")
    if ex.forbidden:
        lines.append(f"  must not call: {', '.join(ex.forbidden)}")
    lines.append("  checks:")
    lines += [f"    • {escape(c.name)}" for c in checks]
    if ex.forbidden:
        lines.append("    • written from scratch (no forbidden library calls)")
    return lines


def question_lines(q) -> list[str]:
    """A checkpoint question with its id, its choices or items, and its guide."""
    kind = "self-rated" if not q.checkable else q.kind
    lines = [f"[bold]{q.id}[/] [dim](row {q.row}, {kind})[/]", f"  {escape(q.prompt)}"]
    lines += [
        f"    {letter}) {escape(option)}"
        for letter, option in zip("abcdefghij", q.shown_choices or q.shown_items)
    ]
    if q.symbols:
        lines.append(f"    [dim]symbols: {', '.join(q.symbols)}[/]")
    lines += [f"    • {escape(g)}" for g in q.guide]
    return lines


def hints(ex, level: int) -> list[str]:
    """An exercise's hints up to `level`, and how to see the next."""
    if not ex.hints:
        return [f"{ex.id} has no hints yet."]
    lines = [
        f"[bold yellow]hint {i}/{len(ex.hints)}[/] {escape(text)}"
        for i, text in enumerate(ex.hints[: min(level, len(ex.hints))], start=1)
    ]
    if level < len(ex.hints):
        lines.append(f"[dim](more: quiz hint {ex.short} --level {level + 1})[/]")
    return lines


def solution_withheld(ex, workspace: object, result, day_id: str, flag: str) -> list[str]:
    """Why the solution is not shown yet: the exercise does not pass."""
    return [
        escape(
            f"{ex.short} in {workspace}: {result.status.label}"
            + (f": {result.reason}" if result.reason else "")
        ),
        escape(
            f"The solution is shown once your `{ex.name}` passes: `quiz grade {day_id} "
            f"--only {ex.short}{flag}` says what is wrong, `quiz hint {ex.short}` "
            "helps. `--force` shows it now, and your history records that it was forced."
        ),
    ]


def solution(ex, found, helpers: list) -> list[RenderableType]:
    """The reference solution of an exercise, with the helpers it uses above it."""
    from rich.syntax import Syntax

    def code(part) -> Syntax:
        return Syntax(
            part.text.rstrip("\n"), "python", line_numbers=True, start_line=part.start, word_wrap=True
        )

    shown: list[RenderableType] = [
        f"[bold]{ex.id}[/] — the reference solution ({ex.file}, lines {found.start}-{found.end})"
    ]
    for h in helpers:
        shown += [code(h), "[dim]   …[/]"]
    return [*shown, code(found)]


FORCED = "[dim]shown with --force before it passed; recorded in the history[/]"


def reveal_not_recorded(problem: str, forced: bool) -> str:
    if forced:
        return f"[yellow]note:[/] this forced reveal could not be recorded: {escape(problem)}"
    return f"[yellow]warning:[/] this reveal was not added to the history: {escape(problem)}"
