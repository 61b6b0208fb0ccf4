"""After ``os.fork()``: the child starts with pools of its own, and leaves its parent's alone.

A client made and used before a fork (Celery's prefork pool, ``gunicorn --preload``)
is copied into the child with the parent's pools: their sockets are the parent's
sockets, shared, and a child that sent through them would read its parent's answers.
So every pool registers here (`watch`), and in the child, right after the fork, each
forgets what it holds and starts empty: the next request opens connections of the
child's own.

What a pool forgets is kept here (`forgotten`), never closed and never collected:
closing it in the child would send the parent's peer a TLS ``close_notify`` or a FIN
on a socket the parent still uses, and a child that goes on with its parent's event
loop would find a socket number it closed reused by a new socket its loop's selector
already lists. The child holds its copies of those sockets until it exits.
"""

from __future__ import annotations

import os
import weakref
from typing import Protocol

__all__ = ["Forkable", "forgotten", "generation", "watch"]


class Forkable(Protocol):
    """Something holding connections of one process."""

    def after_fork(self) -> None:
        """In the child: forget the parent's connections (without closing them)."""
        ...


_watched: weakref.WeakSet[Forkable] = weakref.WeakSet()
_forgotten: list[object] = []
_generation = 0


def watch(holder: Forkable) -> None:
    """Call ``holder.after_fork()`` in every child forked while it lives."""
    _watched.add(holder)


def forgotten(what: object) -> None:
    """Keep ``what`` (a parent's, in a child) for as long as the process lives, unused."""
    _forgotten.append(what)


def generation() -> int:
    """How many forks this process descends from since the SDK was imported (0 in the first)."""
    return _generation


def _after_fork_in_child() -> None:
    global _generation  # noqa: PLW0603 (the process's own count, read by `generation`)
    _generation += 1
    for holder in list(_watched):
        holder.after_fork()


if hasattr(os, "register_at_fork"):  # pragma: no branch (Windows has no fork)
    os.register_at_fork(after_in_child=_after_fork_in_child)
