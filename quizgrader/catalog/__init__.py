"""The catalog: days, rubric rows and exercises, read from each day pack's catalog.toml."""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from .. import daypacks


class CatalogError(ValueError):
    """A name the catalog does not know, or a catalog file that is inconsistent."""


@dataclass(frozen=True)
class RubricRow:
    number: int
    area: str
    revisit: str = ""  # the course day that teaches it ("Day 13"), where the course says
    readiness: str = ""  # the readiness criterion it stands for, where the day has a checklist


@dataclass(frozen=True)
class VerdictRule:
    """How a day's ratings become a decision. `none_worst`: every row above the worst rating
    moves on; `threshold`: at least `min_best` rows at the best rating move on, and more than
    `max_worst` at the worst call for an extra day of review."""

    rule: str = "none_worst"
    next: str = "the next day"
    min_best: int = 0
    max_worst: int = 0


@dataclass(frozen=True)
class Exercise:
    id: str  # "day16.attention.softmax"
    title: str
    rubric: tuple[int, ...]
    depends_on: tuple[str, ...] = ()
    forbidden: tuple[
        str, ...
    ] = ()  # routines it may not call, by name (the source scan; catalog/operators.toml)
    forbidden_ops: tuple[str, ...] = ()  # ATen operators disabled while it is graded
    forbidden_routines: tuple[str, ...] = ()  # torch's Python routines disabled while it is graded
    forbidden_names: tuple[str, ...] = ()  # and every function of torch's modules with such a name
    hints: tuple[str, ...] = ()
    timeout: float = 10.0  # seconds per call
    measures: tuple[int, ...] = ()  # rubric rows one of its checks measures something for (a figure)
    points: float = 1.0  # its weight in a CI score (Gradescope), shared out over its checks

    @property
    def day(self) -> str:
        return self.id.split(".")[0]

    @property
    def module(self) -> str:  # "day16.attention"
        return self.id.rsplit(".", 1)[0]

    @property
    def name(self) -> str:  # "softmax"
        return self.id.rsplit(".", 1)[1]

    @property
    def file(self) -> str:  # "day16/attention.py"
        return self.module.replace(".", "/") + ".py"

    @property
    def short(self) -> str:  # "attention.softmax"
        return self.id.split(".", 1)[1]


@dataclass(frozen=True)
class Day:
    id: str  # "day16"
    title: str
    scale: tuple[str, str, str]  # best .. worst
    rubric: tuple[RubricRow, ...]
    exercises: tuple[Exercise, ...] = field(default=())
    verdict: VerdictRule = VerdictRule()

    @property
    def answers_file(self) -> str:  # "answers/day16.toml", in a workspace
        return f"answers/{self.id}.toml"

    def exercise(self, ref: str) -> Exercise:
        """Find an exercise by id, by id without the day, or by its bare name when unique."""
        by_key: dict[str, list[Exercise]] = {}
        for ex in self.exercises:
            for key in (ex.id, ex.short, ex.name):
                by_key.setdefault(key, []).append(ex)
        found = by_key.get(ref, [])
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise CatalogError(f"{ref!r} is ambiguous: {', '.join(e.id for e in found)}")
        aliases = {key: ex.short for ex in self.exercises for key in (ex.id, ex.short, ex.name)}
        raise CatalogError(_unknown(f"{self.id} exercise", ref, aliases))

    def row(self, number: int) -> RubricRow:
        return next(r for r in self.rubric if r.number == number)

    def ordered(self, ids: list[str] | None = None) -> list[Exercise]:
        """The exercises to grade, all or just `ids`, in dependency order (what they depend on comes
        first when it is graded too; it is not added)."""
        wanted = {e.id for e in self.exercises} if ids is None else set(ids)
        done: list[Exercise] = []

        def visit(ex: Exercise, trail: tuple[str, ...]) -> None:
            if ex in done:
                return
            if ex.id in trail:
                raise CatalogError(f"dependency cycle: {' -> '.join(trail + (ex.id,))}")
            for dep in ex.depends_on:
                visit(self.exercise(dep), trail + (ex.id,))
            if ex not in done:
                done.append(ex)

        for ex in self.exercises:
            if ex.id in wanted:
                visit(ex, ())
        return [e for e in done if e.id in wanted]


def day_ids() -> tuple[str, ...]:
    """The days the installed day packs provide ("day09", "day16", ...), in id order."""
    return daypacks.ids()


def shown(day_id: str) -> str:
    """How a day is written to the learner: "day9" for "day09"."""
    return re.sub(r"^day0+(?=\d)", "day", day_id)


def _number(day_id: str) -> int | None:
    digits = day_id.removeprefix("day")
    return int(digits) if day_id.startswith("day") and digits.isdigit() else None


def normalise_day(name: str) -> str:
    """ "day9", "day09", "Day 9", "9" -> "day09"."""
    key = name.strip().lower().replace(" ", "")
    number = key.removeprefix("day")
    for d in day_ids():
        if key == d or (number.isdigit() and _number(d) == int(number)):
            return d
    aliases = {alias: shown(d) for d in day_ids() for alias in (d, shown(d))}
    raise CatalogError(_unknown("day", name, aliases))


def _unknown(kind: str, name: str, aliases: dict[str, str]) -> str:
    """ "unknown day 'day17'; did you mean day16? (known: day9, day16)". `aliases` maps every
    accepted spelling to the name to show; matching ignores case."""
    folded = {alias.lower(): shown for alias, shown in aliases.items()}
    close = dict.fromkeys(
        folded[m] for m in difflib.get_close_matches(name.lower(), list(folded), n=5, cutoff=0.5)
    )
    hint = f"; did you mean {' or '.join(list(close)[:3])}?" if close else ""
    return f"unknown {kind} {name!r}{hint} (known: {', '.join(dict.fromkeys(aliases.values()))})"


@cache
def operator_families() -> dict[str, dict[str, tuple[str, ...]]]:
    """catalog/operators.toml: family -> {"ops": ATen operators, "routines": Python routines,
    "names": patterns of the names of torch's Python functions}."""
    data = tomllib.loads(resources.files(__package__).joinpath("operators.toml").read_text(encoding="utf-8"))
    return {
        name: {
            "ops": tuple(f.get("ops", ())),
            "routines": tuple(f.get("routines", ())),
            "names": tuple(f.get("names", ())),
        }
        for name, f in data.items()
    }


@cache
def load_day(name: str) -> Day:
    day_id = normalise_day(name)
    text = daypacks.get(day_id).text("catalog.toml")
    if text is None:
        raise CatalogError(f"{day_id} has no catalog yet (catalog.toml in its day pack)")
    day = parse_day(tomllib.loads(text))
    if day.id != day_id:
        raise CatalogError(f"the day pack {day_id} holds the catalog of {day.id}")
    return day


def parse_day(data: dict) -> Day:
    rubric = tuple(
        RubricRow(int(r["number"]), r["area"], r.get("revisit", ""), r.get("readiness", ""))
        for r in data["rubric"]
    )
    rule = VerdictRule(**data.get("verdict", {}))
    if rule.rule not in ("none_worst", "threshold"):
        raise CatalogError(f"{data['id']}: unknown verdict rule {rule.rule!r}")
    numbers = {r.number for r in rubric}
    exercises = []
    families = operator_families()
    for raw in data.get("exercise", []):
        if unknown := [f for f in raw.get("forbidden_ops", ()) if f not in families]:
            raise CatalogError(f"{raw['id']}: unknown operator families {unknown} (see operators.toml)")
        named = [families[f] for f in raw.get("forbidden_ops", ())]
        ex = Exercise(
            id=raw["id"],
            title=raw["title"],
            rubric=tuple(raw["rubric"]),
            depends_on=tuple(raw.get("depends_on", ())),
            forbidden=tuple(raw.get("forbidden", ())),
            forbidden_ops=tuple(dict.fromkeys(op for f in named for op in f["ops"])),
            forbidden_routines=tuple(
                dict.fromkeys([*raw.get("forbidden", ()), *(r for f in named for r in f["routines"])])
            ),
            forbidden_names=tuple(dict.fromkeys(n for f in named for n in f["names"])),
            hints=tuple(raw.get("hints", ())),
            timeout=float(raw.get("timeout", 10.0)),
            measures=tuple(raw.get("measures", ())),
            points=float(raw.get("points", 1.0)),
        )
        if ex.points <= 0:
            raise CatalogError(f"{ex.id}: points must be positive, not {ex.points}")
        if ex.day != data["id"]:
            raise CatalogError(f"{ex.id} is listed under {data['id']}")
        if bad := (set(ex.rubric) | set(ex.measures)) - numbers:
            raise CatalogError(f"{ex.id} names rubric rows {sorted(bad)} that {data['id']} lacks")
        exercises.append(ex)
    day = Day(
        id=data["id"],
        title=data["title"],
        scale=tuple(data["scale"]),
        rubric=rubric,
        exercises=tuple(exercises),
        verdict=rule,
    )
    ids = {e.id for e in exercises}
    for ex in exercises:
        if missing := [d for d in ex.depends_on if d not in ids]:
            raise CatalogError(f"{ex.id} depends on unknown {missing}")
    day.ordered()  # raises on a cycle
    return day
