"""The self-supervised methods, one module each, and the registry the engines read them from.

A method module holds everything that makes the method: its objective as it trains, its
hyper-parameters (`Params`, a small dataclass whose defaults are the published values), its recipes,
its views and its head ([`mmae.methods.base`][mmae.methods.base] says what each family provides).
[`get`][mmae.methods.registry.get] maps a name to its method; an unknown name is a ValueError
listing the known ones. Adding a method is one module and one line of `mmae.methods.registry._ALL`
("Adding a method" in the docs).
"""
from __future__ import annotations

from mmae.methods.base import MIMMethod, Method, SiameseMethod
from mmae.methods.registry import LABELS, MIM, REGISTRY, SIAMESE, config_class, get, names, param_defaults

__all__ = ["get", "names", "REGISTRY", "MIM", "SIAMESE", "LABELS", "Method", "MIMMethod", "SiameseMethod",
           "config_class", "param_defaults"]
