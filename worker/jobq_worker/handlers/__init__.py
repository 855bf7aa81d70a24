"""The built-in handlers, each module with its own registry for the worker to include."""

from __future__ import annotations

from ..registry import Registry
from . import demo, email, noop, webhook


def builtin(*, demo_handlers: bool) -> list[Registry]:
    """The built-in registries: email, webhooks and `jobq.noop` always, the demo handlers when asked for."""
    return [email.handlers, webhook.handlers, noop.handlers, *([demo.handlers] if demo_handlers else [])]
