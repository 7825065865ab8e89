"""What `quiz init` and `quiz reset` say: the workspace made, what a reset, an undo or a redo
changed, where the old versions are, and how to take it back."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape


def made(folder: Path, files: int, flag: str, day: str, first: str) -> str:
    """A workspace made, and what to do first in it: `first`, the file of `day`'s first exercise."""
    return escape(
        f"made {folder} ({files} files). Next: fill in {folder / first}, "
        f"then `quiz grade {day}{flag}`; answer the questions with `quiz answer "
        f"{day}{flag}`."
    )


def unparsable(workspace: Path, e, ex, flag: str) -> str:
    """The message of a reset refused because the exercise's file is not valid Python."""
    return (
        f"{workspace / e.file} is not valid Python ({e.problem}"
        + (f", line {e.line}" if e.line else "")
        + f"), so where `{ex.name}` begins and ends "
        "cannot be told; nothing was changed. Fix that line, or reset the whole file with "
        f"`quiz reset {ex.short} --file{flag}` (or every file with `quiz reset "
        f"--all{flag}`): your version is backed up first either way"
    )


def link_refused(problem: Exception) -> str:
    return f"[bold red]error:[/] {escape(str(problem))}. Nothing was changed."


def reset_failed(problem: Exception, backups: Path) -> str:
    return (
        f"[bold red]error:[/] {escape(str(problem))}. Whatever was replaced is backed up in "
        f"{escape(str(backups))}"
    )


def differing(workspace: Path, todo: list[str]) -> list[str]:
    """The stub files --all would reset, before asking."""
    lines = [f"These {len(todo)} file(s) in {escape(str(workspace))} differ from the stubs:"]
    lines += [f"  {escape(rel)}" + ("" if (workspace / rel).exists() else " (missing)") for rel in todo]
    return lines


CONFIRM = "Reset them to the stubs? Each is backed up first"
NOTHING_RESET = "nothing was reset"


def reset(outcome, workspace: Path, ex, whole_file: bool, flag: str) -> list[str]:
    """What a reset changed, where the old version is, and how to take it back."""
    if outcome.backup is None:
        what = (
            f"`{ex.name}` in {workspace / ex.file} is"
            if ex is not None and not whole_file
            else f"{workspace / ex.file} is"
            if ex is not None
            else f"every stub file of {outcome.what.removeprefix('all of ')} in {workspace} is"
        )
        return [escape(f"{what} already the stub's: nothing to reset (no backup made).")]
    lines = [escape(_change(change, outcome, workspace, ex, whole_file)) for change in outcome.changes]
    kept = [c for c in outcome.changes if c.before is not None]
    if kept:
        lines.append(
            escape(
                f"your version{'s are' if len(kept) > 1 else ' is'} backed up in {outcome.backup.path}"
                + (f" ({kept[0].path})" if len(kept) == 1 else "")
            )
        )
    return [*lines, escape(f"to take this back: quiz reset --undo{flag}")]


def _change(change, outcome, workspace: Path, ex, whole_file: bool) -> str:
    path = workspace / change.path
    if change.before is None:
        return f"restored {path} from the stub (it was missing)"
    if ex is not None and not whole_file and outcome.inserted:
        return f"added the stub's `{ex.name}` to {path} (it had none); the rest of the file is unchanged"
    if ex is not None and not whole_file and outcome.lines:
        first, last = outcome.lines
        return (
            f"reset `{ex.name}` in {path}: your lines {first}-{last} are replaced by the stub's; the "
            "rest "
            "of the file (other exercises, imports, helpers) is unchanged"
        )
    return f"restored {path} from the stub"


def taken_back(outcome, workspace: Path, flag: str) -> list[str]:
    """What an undo or redo restored, and where the files it overwrote went."""
    done, back = outcome.backup, outcome.taken_back
    when = back.at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    verb = "undid" if done.kind == "undo" else "took back"
    lines = [escape(f"{verb} the {back.kind} of {back.what} ({back.name}, {when}):")]
    for change in outcome.changes:
        path = workspace / change.path
        if change.after is None:
            lines.append(escape(f"  removed {path}: it did not exist before that {back.kind}"))
        else:
            lines.append(escape(f"  {path} is back as it was before that {back.kind}"))
        if change.edited and change.before is not None:
            lines.append(
                escape(
                    f"  {path} had changed since that {back.kind}: the changed version is kept in "
                    f"{done.copy_of(change.path)}"
                )
            )
    again = (
        f"`quiz reset --redo{flag}` takes the undo back"
        if done.kind == "undo"
        else f"`quiz reset --undo{flag}` undoes it again"
    )
    return [*lines, escape(f"what this {done.kind} replaced is backed up in {done.path}; " + again)]
