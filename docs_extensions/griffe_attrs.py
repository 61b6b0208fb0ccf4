"""Constructor signatures for the attrs classes of the API reference (a Griffe extension).

attrs writes a class's ``__init__`` when the class is created, so Griffe, which reads
the source, finds none: the reference showed ``Amount`` with no arguments. This gives
each attrs class without a written ``__init__`` one with the signature attrs made
(``inspect.signature`` of the imported class), its annotations read as Griffe reads
source annotations, so they link to their pages. A default computed by a factory is
shown as ``...``.

mkdocs.yml loads it: ``extensions: [docs_extensions/griffe_attrs.py]``. It lives outside
``docs/``: MkDocs publishes every file there that is not a page, a ``.py`` file too.
"""

from __future__ import annotations

import ast
import inspect
from typing import Any

import attrs
import griffe


class AttrsInit(griffe.Extension):
    """Adds the ``__init__`` attrs generated to each attrs class Griffe loads."""

    def on_class_members(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        """Give ``cls`` attrs' ``__init__`` if it is an attrs class without one."""
        if "__init__" in cls.members:
            return
        try:
            runtime = griffe.dynamic_import(cls.path)
        except ImportError:
            return
        if not (isinstance(runtime, type) and attrs.has(runtime)):
            return
        parameters = [
            griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword),
            *(_parameter(cls, p) for p in inspect.signature(runtime).parameters.values()),
        ]
        init = griffe.Function(
            "__init__",
            parameters=griffe.Parameters(*parameters),
            returns="None",
            lineno=cls.lineno,
            endlineno=cls.lineno,
        )
        cls.set_member("__init__", init)


def _parameter(cls: griffe.Class, parameter: inspect.Parameter) -> griffe.Parameter:
    annotation = None
    if isinstance(parameter.annotation, str):
        node = ast.parse(parameter.annotation, mode="eval").body
        annotation = griffe.safe_get_annotation(node, parent=cls.module)
    default = None
    if parameter.default is attrs.NOTHING:
        default = "..."
    elif parameter.default is not inspect.Parameter.empty:
        default = repr(parameter.default)
    return griffe.Parameter(
        parameter.name,
        annotation=annotation,
        kind=griffe.ParameterKind(parameter.kind.description),
        default=default,
    )
