"""Every public object's repr works at every moment, and none shows a secret.

A traceback rendered with local variables calls repr on the ``self`` of a constructor
that is raising, before its attributes exist: that must not raise in turn.
"""

from __future__ import annotations

import inspect
import pickle

import attrs
import pytest

import opay_async
import opay_async.testing
from opay_async import SecretKey, ShardedTransport
from opay_async._rate import RateLimiter
from opay_async._repr import SafeRepr

PUBLIC_CLASSES = [
    value
    for module in (opay_async, opay_async.testing)
    for value in (getattr(module, name) for name in module.__all__)
    if inspect.isclass(value) and not issubclass(value, BaseException)
]
ERRORS = [
    value
    for value in (getattr(opay_async, name) for name in opay_async.__all__)
    if inspect.isclass(value) and issubclass(value, BaseException)
]


def half_built(cls: type) -> object:
    try:
        return cls.__new__(cls)
    except TypeError:
        pytest.skip(f"{cls.__name__} cannot exist without its value (an enum)")


@pytest.mark.parametrize("cls", PUBLIC_CLASSES + ERRORS, ids=lambda cls: cls.__name__)
def test_repr_and_str_work_before_init_has_run(cls: type) -> None:
    obj = half_built(cls)
    assert isinstance(repr(obj), str)
    assert isinstance(str(obj), str)


def test_an_attrs_field_with_a_repr_function_is_shown_with_it() -> None:
    @attrs.frozen(repr=False)
    class Masked(SafeRepr):
        visible: int
        masked: str = attrs.field(repr=lambda value: "*" * len(value))
        hidden: str = attrs.field(default="x", repr=False)

    assert repr(Masked(1, "abc")) == "Masked(visible=1, masked=***)"


def test_a_secret_key_hides_itself_and_refuses_pickling() -> None:
    key = SecretKey("OPAYPRV_never_shown")
    assert "never_shown" not in repr(key) + str(key) + f"{key}"
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(key)
    assert SecretKey(key).reveal() == "OPAYPRV_never_shown"


def test_small_reprs_say_what_they_are() -> None:
    assert repr(RateLimiter(20.0)) == "RateLimiter(rate=20.0)"
    assert repr(ShardedTransport(max_connections=16)) == "ShardedTransport(shards=2, in_flight=0)"
