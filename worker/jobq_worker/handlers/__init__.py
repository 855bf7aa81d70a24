"""Built-in handlers, registered when the worker starts."""

from . import builtin, email, webhook

__all__ = ["builtin", "email", "webhook"]
