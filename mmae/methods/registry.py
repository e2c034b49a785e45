"""The registry: every method by name, and the engine configurations' fields they add."""
from __future__ import annotations

import dataclasses
import typing

from mmae.methods import barlow, byol, mae, mmae, simclr, spectral, umae, vicreg
from mmae.methods.base import Method

__all__ = ["get", "names", "REGISTRY", "MIM", "SIAMESE", "LABELS", "config_class", "param_defaults"]

# every method, in the order of the tables and of `--help`
_ALL = (mae.METHOD, umae.METHOD, mmae.METHOD, simclr.METHOD, spectral.METHOD, barlow.METHOD, byol.METHOD,
        vicreg.METHOD)
REGISTRY: dict[str, Method] = {m.name: m for m in _ALL}
MIM = tuple(m.name for m in _ALL if m.family == "mim")           # trained by mmae.engine.pretrain
SIAMESE = tuple(m.name for m in _ALL if m.family == "siamese")   # trained by mmae.engine.siamese
LABELS = {m.name: m.label for m in _ALL}                         # as the tables and figures print them


def names(family: str | None = None) -> tuple[str, ...]:
    return tuple(m.name for m in _ALL if family is None or m.family == family)


def get(name: str, family: str | None = None) -> Method:
    """The method called `name` (of `family`, "mim" or "siamese", if given)."""
    m = REGISTRY.get(name)
    if m is None or (family is not None and m.family != family):
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(names(family))}")
    return m


def param_defaults(family: str) -> dict:
    """The default of every hyper-parameter of the family's methods (a name shared by two methods
    must have one default)."""
    out: dict = {}
    for m in _ALL:
        if m.family == family:
            for f in dataclasses.fields(m.Params):
                if out.setdefault(f.name, f.default) != f.default:
                    raise TypeError(f"{f.name} has two defaults: {out[f.name]!r} and {f.default!r}")
    return out


def config_class(base: type, family: str, *, none_defaults: bool = False) -> type:
    """`base` (an engine's configuration dataclass) with one field per hyper-parameter of the
    family's methods: defaulting to its `Params` default, or to None (`none_defaults`: the engine
    fills it from the recipe)."""
    defaults, hints = param_defaults(family), {}
    for m in _ALL:
        if m.family == family:
            hints.update(typing.get_type_hints(m.Params))
    fields = [(n, hints[n] | None if none_defaults else hints[n], dataclasses.field(default=None if none_defaults else d))
              for n, d in defaults.items()]
    name = base.__name__.lstrip("_")
    cls = dataclasses.make_dataclass(name, fields, bases=(base,), namespace={"__doc__": base.__doc__})
    cls.__module__, cls.__qualname__ = base.__module__, name
    return cls
