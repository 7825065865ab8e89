"""Day 16 checks: importing this package registers them."""

from . import attention, masks, multihead  # noqa: F401
