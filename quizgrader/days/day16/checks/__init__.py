"""Day 16 checks: importing this package registers them."""

from . import attention, block, lm, masks, multihead, positional, recipe  # noqa: F401
