"""The self-supervised methods, one module each, and the registry the engines read them from.

A method module holds everything that makes the method: its objective as it trains, its
hyper-parameters (`Params`, a small dataclass whose defaults are the published values), its recipes,
its views and its head ([`mmae.methods.base`][mmae.methods.base] says what each family provides).
[`get`][mmae.methods.get] maps a name to its method; an unknown name is a ValueError listing the
known ones. Adding a method is one module and one line of `_ALL` ("Adding a method" in the docs).
"""
from __future__ import annotations

import dataclasses
import typing

from mmae.methods import barlow, byol, mae, mmae, simclr, spectral, umae
from mmae.methods.base import MIMMethod, Method, SiameseMethod

__all__ = ["get", "names", "REGISTRY", "MIM", "SIAMESE", "LABELS", "Method", "MIMMethod", "SiameseMethod",
           "config_class", "param_defaults"]

_ALL = (mae.METHOD, umae.METHOD, mmae.METHOD, simclr.METHOD, spectral.METHOD, barlow.METHOD, byol.METHOD)
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
