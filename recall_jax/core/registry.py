"""Named extension points: the config names an implementation, a registry finds it.

Each extension point (behaviour encoders, item towers, training objectives, losses, recall
strategies, baselines) is one `Registry`, kept in the module that defines its protocol. Adding
an implementation is one file plus one `REGISTRY.register("name", thing)` line:

    ENCODERS = Registry("behaviour encoder", "model.name")
    ENCODERS.register("sasrec", sasrec.build)
    ENCODERS.get(config.model.name)   # unknown names: ConfigError listing the known ones
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, overload

from recall_jax.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Names -> implementations of one extension point, in registration order."""

    def __init__(self, kind: str, config_field: str):
        self.kind = kind  # e.g. "behaviour encoder"
        self.config_field = config_field  # e.g. "model.name": where the config names one
        self._entries: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, entry: T) -> T: ...

    def register(self, name, entry=None):
        """Adds `entry` under `name`; without `entry`, a decorator. Names are unique."""
        def add(value: T) -> T:
            if not isinstance(name, str) or not name:
                raise ValueError(f"a {self.kind} needs a non-empty string name, got {name!r}")
            if name in self._entries and self._entries[name] is not value:
                raise ValueError(f"{self.kind} {name!r} is registered already "
                                 f"({self._entries[name]!r})")
            self._entries[name] = value
            return value
        return add if entry is None else add(entry)

    def unregister(self, name: str) -> None:
        """Removes `name` (tests that register toy entries clean up with this)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        """The entry named `name`; a ConfigError naming the config field and the known names."""
        if name not in self._entries:
            raise ConfigError(f"config.{self.config_field}={name!r}: unknown {self.kind}; "
                              f"expected one of {self.names()}")
        return self._entries[name]

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.config_field!r}, {list(self._entries)})"
