"""One registry per plug-in kind (datasets, schedules, suites, engines, report formats, metrics…).

Registries replace if/elif factories (DESIGN §8.4): a plug-in registers itself by name, a
duplicate name is an error, and an unknown name lists the known ones. Iteration follows the
order of registration (the metric catalogue's order is the order of every table built from
it); :meth:`Registry.names` is sorted, for messages and listings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownName(KeyError):
    """Raised for a name that is not registered; its message lists the known names."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want a readable sentence
        return str(self.args[0])


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"duplicate {self.kind} name {name!r}")
        self._items[name] = item
        return item

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def deco(item: T) -> T:
            return self.add(name, item)

        return deco

    def remove(self, name: str) -> T:
        """Take a plug-in out again (a test that registers a throwaway one cleans up with it)."""
        return self._items.pop(name)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownName(f"unknown {self.kind} {name!r}; known: {self.known()}") from None

    def known(self) -> str:
        """The registered names, sorted, as one readable list."""
        return ", ".join(self.names()) or "(none)"

    def check(self, name: str) -> str:
        """``name`` if registered, else :class:`UnknownName` (for validators at load time)."""
        self.get(name)
        return name

    def names(self) -> list[str]:
        return sorted(self._items)

    def values(self) -> list[T]:
        """The plug-ins in registration order."""
        return list(self._items.values())

    def items(self) -> list[tuple[str, T]]:
        """(name, plug-in) in registration order."""
        return list(self._items.items())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
