"""Day 16 checks: importing this package registers them."""

from . import attention, masks, multihead, positional, recipe  # noqa: F401
