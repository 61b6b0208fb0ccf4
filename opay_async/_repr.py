"""A ``repr`` that works at every moment, also on an object whose ``__init__`` has not finished.

A traceback rendered with local variables (rich's ``show_locals``, Sentry, the standard
library's ``capture_locals``) calls ``repr`` on every object in every frame, including
the ``self`` of a constructor that is raising. attrs' generated ``repr`` fails there
(``AttributeError``); this one shows the fields not set yet as ``<not set>``.
"""

from __future__ import annotations

from typing import Final

import attrs

__all__ = ["SafeRepr"]

_UNSET: Final = object()


class SafeRepr:
    """Base class giving an attrs class (made with ``repr=False``) a repr that never fails.

    Fields declared with ``repr=False`` stay out of it, as with attrs' own.

    Examples:
        >>> @attrs.frozen(repr=False)
        ... class Pair(SafeRepr):
        ...     left: int
        ...     right: int
        >>> Pair(1, 2)
        Pair(left=1, right=2)
        >>> object.__new__(Pair)
        Pair(left=<not set>, right=<not set>)
    """

    __slots__ = ()

    def __repr__(self) -> str:
        shown: list[str] = []
        for field in attrs.fields(type(self)):  # type: ignore[arg-type] # subclasses are attrs classes
            if field.repr is False:
                continue
            value = getattr(self, field.name, _UNSET)
            if value is _UNSET:
                text = "<not set>"
            elif callable(field.repr):
                text = field.repr(value)
            else:
                text = repr(value)
            shown.append(f"{field.name}={text}")
        name = type(self).__qualname__.rsplit(">.", 1)[-1]  # a class made in a function: its name
        return f"{name}({', '.join(shown)})"
