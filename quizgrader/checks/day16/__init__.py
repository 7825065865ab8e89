"""Day 16 checks: importing this package registers them."""

from . import attention, block, masks, multihead, positional, recipe  # noqa: F401
