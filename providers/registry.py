"""Provider names and where their factories live; the configured names are the fallback order.

Factories are named by import string (``"module:attribute"``), so importing the registry
imports no provider: Playwright is loaded only when a browser provider is built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, cast

from providers.errors import ProviderConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping, Sequence

    from providers.typing import Provider, ProviderContext

    #: Builds the provider called ``name`` from the context.
    Factory = Callable[[ProviderContext, str], Provider]

BUILT_IN: Mapping[str, str] = {
    "browser": "providers.browser:BrowserProvider.from_context",
    "native": "providers.native:NativeProvider.from_context",
}
#: The factory of every name in ``ProviderContext.remotes``.
REMOTE = "providers.remote:RemoteProvider.from_context"


def import_factory(spec: str) -> Factory:
    """The object an import string ``"package.module:Attr.attr"`` names."""
    module_name, _, attributes = spec.partition(":")
    target: object = importlib.import_module(module_name)
    for attribute in attributes.split("."):
        target = getattr(target, attribute)
    if not callable(target):
        raise TypeError(f"{spec} is not callable")
    return cast("Factory", target)


def known_names(remotes: Collection[str]) -> list[str]:
    """The built-in provider names and the configured remotes'."""
    return sorted({*BUILT_IN, *remotes})


def check_names(names: Sequence[str], remotes: Collection[str]) -> None:
    """Raise ProviderConfigError on a name that is neither built in nor a remote."""
    known = known_names(remotes)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ProviderConfigError(
            f"invalid setting providers: unknown provider {', '.join(unknown)} "
            f"(known: {', '.join(known)})"
        )


def build(names: Sequence[str], context: ProviderContext) -> list[Provider]:
    """One provider per name, in order, sharing the context's persona and events."""
    check_names(names, context.remotes)
    return [
        import_factory(REMOTE if name in context.remotes else BUILT_IN[name])(context, name)
        for name in names
    ]
