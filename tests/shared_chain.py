"""A cast of parties built once per test process on an embedded chain of its own, and a context that rolls back
everything a test does to it (eth-tester snapshots): the quality and settlement tests share theirs this way."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from millchain.chain import connect
from millchain.project import Project
from millchain.session import Session

World = TypeVar("World")

_BUILT: dict[str, tuple[Any, Any]] = {}


def built_once(name: str, project: Project, build: Callable[[Session], World]) -> tuple[World, Any]:
    """`build` run on a fresh embedded chain with the suite deployed, the first time `name` is asked for; then
    the same world and its chain's tester."""
    if name not in _BUILT:
        session = Session(connect("local"), project=project)
        session.deploy()
        _BUILT[name] = (build(session), session.chain.tester)
    world, tester = _BUILT[name]
    return world, tester


@contextmanager
def isolated(shared: tuple[World, Any]) -> Iterator[World]:
    """The shared world; everything done inside is rolled back after."""
    world, tester = shared
    snapshot = tester.take_snapshot()
    try:
        yield world
    finally:
        tester.revert_to_snapshot(snapshot)
