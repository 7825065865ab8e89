"""Staged comparison: type, then shape, then dtype, then NaN/Inf, then values.

Each stage stops at the first thing wrong and says it in terms a learner can act on; the values
stage says how far off, where, how much is within tolerance, and shows a window of yours against
the expected numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

TOLERANCES = {  # (rtol, atol) for a result of this dtype against a float64 reference
    torch.float64: (1e-6, 1e-8),
    torch.float32: (1e-4, 1e-5),
    torch.bfloat16: (2e-2, 2e-2),
    torch.float16: (5e-3, 5e-3),
}
# Half precision is judged as a whole, not entry by entry: with 8 (bfloat16) or 11 (float16)
# significant bits, rounding errors pile up through a block or a model, and a single entry may be
# far off while the result is right. ‖yours − expected‖ must stay below this fraction of
# ‖expected‖ plus atol·sqrt(numel) (the reference's own error, run in bfloat16: about 0.7% typical
# and 3% worst over 300 small random language models, apart from near-zero outputs).
NORMWISE = {torch.bfloat16: 0.06, torch.float16: 0.01}


class Mismatch(AssertionError):
    """A check failed; the message is what the learner reads."""

    def __init__(self, message: str, stage: str = "values") -> None:
        super().__init__(message)
        self.stage = stage


@contextmanager
def advice(text: str) -> Iterator[None]:
    """Add `text` to a failing comparison of values (a wrong shape or dtype says enough itself)."""
    try:
        yield
    except Mismatch as e:
        if e.stage != "values":
            raise
        raise Mismatch(f"{e}\n  {text}", e.stage) from None


def tolerance(dtype: torch.dtype) -> tuple[float, float]:
    return TOLERANCES.get(dtype, (1e-6, 1e-8))


def describe(x: Any, items: int = 3) -> str:
    """A value's kind in words: "a 0-d float32 tensor", "a tuple of 2 (a (3,) float32 tensor, None)".
    A tuple or list of at most `items` items names each of them."""
    if isinstance(x, torch.Tensor):
        dtype = str(x.dtype).removeprefix("torch.")
        return f"a 0-d {dtype} tensor" if x.dim() == 0 else f"a {tuple(x.shape)} {dtype} tensor"
    if isinstance(x, (tuple, list)):
        inner = f" ({', '.join(describe(v, 0) for v in x)})" if 0 < len(x) <= items else ""
        return f"a {type(x).__name__} of {len(x)}{inner}"
    if isinstance(x, dict):
        keys = ", ".join(repr(k)[:20] for k in list(x)[:6]) + (", ..." if len(x) > 6 else "")
        return f"a dict with keys {keys}" if x else "an empty dict"
    if x is None:
        return "None"
    return f"{type(x).__name__} {x!r:.60}"


def kind_difference(yours: Any, expected: Any, at: str = "") -> tuple[str, str, str] | None:
    """Where `yours` is first not the kind of value `expected` is, as (where, yours, expected) in
    words (where: "" for the whole value, "[1]", "[1]['W1']" inside it); None when they are alike.
    Alike: tensors of the same dtype and shape; tuples or lists (either will do) of alike items;
    dicts with the same keys and alike values; numbers (a bool is not one), and a 0-d tensor for a
    number, which checks read with .item(); strings; None."""

    def differ() -> tuple[str, str, str]:
        return at, describe(yours), describe(expected)

    if isinstance(yours, torch.Tensor) and not yours.dim() and _number(expected):
        return None
    if isinstance(expected, torch.Tensor):
        alike = isinstance(yours, torch.Tensor) and (yours.dtype, yours.shape) == (
            expected.dtype,
            expected.shape,
        )
        return None if alike else differ()
    if isinstance(expected, (tuple, list)):
        if not isinstance(yours, (tuple, list)) or len(yours) != len(expected):
            return differ()
        return next(
            (
                d
                for i, (y, e) in enumerate(zip(yours, expected))
                if (d := kind_difference(y, e, f"{at}[{i}]"))
            ),
            None,
        )
    if isinstance(expected, dict):
        if not isinstance(yours, dict) or set(yours) != set(expected):
            return differ()
        return next(
            (d for k in expected if (d := kind_difference(yours[k], expected[k], f"{at}[{k!r}]"))), None
        )
    if isinstance(expected, bool) or isinstance(yours, bool):
        return None if type(yours) is type(expected) else differ()
    if _number(expected):
        return None if _number(yours) else differ()
    return None if type(yours) is type(expected) else differ()


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def expect_tuple(got: Any, names: Sequence[str]) -> tuple:
    """`got` must be a tuple/list of len(names) items."""
    if not isinstance(got, (tuple, list)) or len(got) != len(names):
        raise Mismatch(f"expected a tuple ({', '.join(names)}), got {describe(got)}", "type")
    return tuple(got)


def expect_tensor(got: Any, name: str) -> torch.Tensor:
    if not isinstance(got, torch.Tensor):
        raise Mismatch(f"{name}: expected a tensor, got {describe(got)}", "type")
    return got


def expect_shape(got: torch.Tensor, shape: Sequence[int], name: str) -> None:
    if tuple(got.shape) != tuple(shape):
        raise Mismatch(f"{name}: shape {tuple(got.shape)}, expected {tuple(shape)}", "shape")


def expect_dtype(got: torch.Tensor, dtype: torch.dtype, name: str) -> None:
    if got.dtype != dtype:
        raise Mismatch(
            f"{name}: dtype {str(got.dtype).removeprefix('torch.')}, expected "
            f"{str(dtype).removeprefix('torch.')} (return the dtype of the inputs)",
            "dtype",
        )


def expect_finite_like(got: torch.Tensor, want: torch.Tensor, name: str) -> None:
    for label, bad in (("NaN", torch.isnan), ("inf", torch.isinf)):
        extra = bad(got) & ~bad(want)
        if extra.any():
            idx = _index(extra.nonzero()[0])
            raise Mismatch(
                f"{name}: {int(extra.sum())} of {got.numel()} values are {label} where the "
                f"expected values are finite (first at {idx})",
                "nan",
            )


def expect_close(
    got: Any,
    want: torch.Tensor,
    name: str,
    *,
    dtype: torch.dtype | None = None,
    rtol: float | None = None,
    atol: float | None = None,
) -> torch.Tensor:
    """Compare `got` with the float64 `want`. `dtype` is the dtype `got` must have (default:
    want's). Tolerances default to those of that dtype."""
    got = expect_tensor(got, name)
    expect_shape(got, want.shape, name)
    dtype = dtype or want.dtype
    expect_dtype(got, dtype, name)
    if dtype == torch.bool:
        wrong = got != want
        if wrong.any():
            idx = _index(wrong.nonzero()[0])
            raise Mismatch(
                f"{name}: {int(wrong.sum())} of {got.numel()} entries differ (first at {idx})\n"
                + window(got, want, wrong.nonzero()[0].tolist()),
                "values",
            )
        return got
    expect_finite_like(got, want, name)
    r, a = tolerance(dtype)
    rtol, atol = rtol if rtol is not None else r, atol if atol is not None else a
    g, w = got.to(torch.float64), want.to(torch.float64)
    judged_whole = dtype in NORMWISE and rtol == r and atol == a and bool(torch.isfinite(w).all())
    if judged_whole and float((g - w).norm()) <= NORMWISE[dtype] * float(w.norm()) + atol * w.numel() ** 0.5:
        return got
    both_nan = torch.isnan(g) & torch.isnan(w)
    same_inf = torch.isinf(g) & (g == w)
    err = (g - w).abs().masked_fill(both_nan | same_inf, 0.0)
    ok = (err <= atol + rtol * w.abs().masked_fill(torch.isinf(w), 0.0)) | both_nan | same_inf
    if bool(ok.all()):
        return got
    worst = int(err.masked_fill(ok, -1.0).reshape(-1).argmax())
    idx = list(torch.unravel_index(torch.tensor(worst), g.shape)) if g.dim() else []
    idx = [int(i) for i in idx]
    rel = err / w.abs().clamp_min(1e-12)
    overall = ""
    if dtype in NORMWISE:
        overall = (
            f"  relative error of the whole tensor {float((g - w).norm() / w.norm().clamp_min(atol)):.3g} "
            f"(a {str(dtype).removeprefix('torch.')} result may differ by {NORMWISE[dtype]:g})\n"
        )
    raise Mismatch(
        f"{name}: values differ from the expected ones\n"
        + overall
        + f"  max abs error {float(err.max()):.3g}, max rel error {float(rel.max()):.3g} "
        f"(tolerance {atol:g} + {rtol:g}·|expected|), worst at {_index(idx)}\n"
        f"  {100.0 * float(ok.to(torch.float64).mean()):.1f}% of {g.numel()} values within tolerance\n"
        + window(got, want, idx),
        "values",
    )


def _index(idx: Sequence[int] | torch.Tensor) -> str:
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def _fmt(v: float | bool) -> str:
    if isinstance(v, bool):
        return "T" if v else "F"
    return f"{v: .4g}"


def window(got: torch.Tensor, want: torch.Tensor, idx: Sequence[int], width: int = 6) -> str:
    """The row of the last dim through `idx`, a few entries either side: yours above expected."""
    if got.dim() == 0:
        return f"  yours     {_fmt(got.item())}\n  expected  {_fmt(want.item())}"
    lead, col = list(idx[:-1]), int(idx[-1])
    row_g, row_w = got[tuple(lead)], want[tuple(lead)]
    lo = max(0, min(col - width // 2, row_g.shape[0] - width))
    hi = min(row_g.shape[0], lo + width)

    def cells(row):
        return "  ".join(_fmt(row[j].item()).rjust(9) for j in range(lo, hi))

    marks = "  ".join(("^" if j == col else " ").rjust(9) for j in range(lo, hi))
    where = f"[{', '.join(map(str, lead))}{', ' if lead else ''}{lo}:{hi}]"
    more_l = "… " if lo > 0 else "  "
    more_r = " …" if hi < row_g.shape[0] else ""
    return (
        f"  {where}\n  yours    {more_l}{cells(row_g)}{more_r}\n"
        f"  expected {more_l}{cells(row_w)}{more_r}\n           {'  '}{marks}"
    )


def expect_pair_close(got: Any, want: tuple, names: tuple[str, str], dtype: torch.dtype) -> None:
    """A (result, weights) pair against the reference's: the weights first, as the output
    follows from them."""
    got = expect_tuple(got, names)
    expect_close(got[1], want[1], names[1], dtype=dtype)
    expect_close(got[0], want[0], names[0], dtype=dtype)
