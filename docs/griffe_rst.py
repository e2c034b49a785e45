"""Griffe extension for the API reference: the reST markup some docstrings of ``mmae`` use,
rendered as the Markdown mkdocstrings expects.

``:func:`name``` (and ``:class:``, ``:mod:``, ...) becomes a cross-reference when ``name``
resolves inside the package (relative to the documented object's module, or fully qualified),
otherwise a code span; ``:math:`x``` becomes ``$x$``; double-backquoted literals become code
spans. Docstrings already written in Markdown pass through unchanged.
"""
from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":(?:func|class|mod|meth|attr|obj|data|exc):`~?(?P<x>[^`]+)`")
_MATH = re.compile(r":math:`(?P<x>[^`]+)`")
_LITERAL = re.compile(r"``(?P<x>[^`]+?)``")


def _resolve(name: str, obj: griffe.Object, pkg: griffe.Module) -> str | None:
    name = name.strip().rstrip("()")
    candidates = [name] if name.startswith(pkg.name + ".") else []
    scope = obj if obj.is_module else obj.module
    while scope is not None:
        candidates.append(f"{scope.path}.{name}")
        scope = scope.parent
    for path in candidates:
        parts = path.split(".")
        if parts[0] != pkg.name:
            continue
        try:
            target = pkg[".".join(parts[1:])] if len(parts) > 1 else pkg
        except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            continue
        return target.path
    return None


def convert(text: str, obj: griffe.Object, pkg: griffe.Module) -> str:
    def role(m):
        target = _resolve(m.group("x"), obj, pkg)
        label = m.group("x").strip()
        return f"[`{label}`][{target}]" if target else f"`{label}`"

    text = _ROLE.sub(role, text)
    text = _MATH.sub(lambda m: f"${m.group('x')}$", text)
    return _LITERAL.sub(lambda m: f"`{m.group('x')}`", text)


class RestRoles(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        self._walk(pkg, pkg, set())

    def _walk(self, obj: griffe.Object, pkg: griffe.Module, seen: set) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value, obj, pkg)
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member, pkg, seen)
