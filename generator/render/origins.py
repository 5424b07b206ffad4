"""Where each rendered field comes from in rollouts.yaml, resolved to line and column only when asked."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ..spec.load import Spec, load
from ..spec.resolve import origin

Position = tuple[str, int, int]
Hint = tuple[str, str, str, dict[str, tuple[str | int, ...]]]  # path on disk, display, environment, pointers


class ObjectOrigins(Mapping[str, Position]):
    """JSON pointer inside one rendered object -> (spec file, line, column)."""

    def __init__(self, hint: Hint, specs: dict[str, Spec]) -> None:
        self._hint = hint
        self._specs = specs

    def _spec(self) -> Spec | None:
        path, display, _, _ = self._hint
        if path not in self._specs:
            spec, _ = load(path, display)
            if spec is None:
                return None
            self._specs[path] = spec
        return self._specs[path]

    def __getitem__(self, pointer: str) -> Position:
        _, display, env, pointers = self._hint
        where = pointers[pointer]
        spec = self._spec()
        if spec is None:
            return (display, 0, 0)
        if where and where[0] == "spec":
            line, col = origin(spec, env, where[1:])
        else:
            line, col = spec.position(where)
        return (display, line, col)

    def __iter__(self) -> Iterator[str]:
        return iter(self._hint[3])

    def __len__(self) -> int:
        return len(self._hint[3])


class Origins(Mapping[str, Mapping[str, Position]]):
    """"Kind/namespace/name" -> its ObjectOrigins. Specs are loaded with positions on first use only."""

    def __init__(self) -> None:
        self._hints: dict[str, Hint] = {}
        self._specs: dict[str, Spec] = {}

    def know(self, path: str, spec: Spec) -> None:
        """A spec already loaded with positions (e.g. by lint): used instead of loading it again."""
        if isinstance(spec.data, dict) and hasattr(spec.data, "lc"):
            self._specs[path] = spec

    def add(self, key: str, hint: Hint) -> None:
        self._hints[key] = hint

    def __getitem__(self, key: str) -> ObjectOrigins:
        return ObjectOrigins(self._hints[key], self._specs)

    def __iter__(self) -> Iterator[str]:
        return iter(self._hints)

    def __len__(self) -> int:
        return len(self._hints)
