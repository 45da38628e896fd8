"""A registry of pydantic model classes keyed by their ``type`` field (faults, checks)."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar, Union

from pydantic import BaseModel, Field

T = TypeVar("T", bound=type[BaseModel])


class Registry(dict[str, type[BaseModel]]):
    """``name -> class``; ``register`` is a class decorator reading the ``type`` field's default."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def register(self, cls: T) -> T:
        name = cls.model_fields["type"].default
        if not isinstance(name, str) or not name:
            raise TypeError(f"{cls.__name__} needs `type: Literal['<name>'] = '<name>'`")
        if name in self:
            raise TypeError(f"{self.what} type {name!r} registered twice")
        self[name] = cls
        return cls

    def union(self) -> Any:
        """A discriminated-union annotation over every registered class (for pydantic fields)."""
        classes = tuple(self.values())
        if len(classes) == 1:
            return classes[0]
        return Annotated[Union[classes], Field(discriminator="type")]  # type: ignore[valid-type]
