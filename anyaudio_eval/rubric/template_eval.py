"""Evaluate small prompt-building functions of a downloaded Python file without executing it.

The reference protocol reads the authors' `prompts.py` as data. Its string constants are literals
(`ast.literal_eval`); its three prompt builders are tiny functions (assignments, `if`, a `for` over
`enumerate`, `list.append`, f-strings, `str.join`, `dict.get`, `len`). This module walks their syntax tree
with an interpreter that knows only those constructs and refuses anything else with the line number, so no
downloaded code is ever run by Python.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any


class TemplateError(ValueError):
    """The file uses a construct this evaluator does not accept."""


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


_ALLOWED_BUILTINS: dict[str, Callable[..., Any]] = {"len": len, "enumerate": enumerate, "str": str}


def _fail(node: ast.AST, what: str) -> TemplateError:
    return TemplateError(f"line {getattr(node, 'lineno', '?')}: {what} is not allowed in a prompt builder")


class _Frame:
    def __init__(self, names: dict[str, Any]) -> None:
        self.names = names

    def expr(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool, type(None))):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            raise _fail(node, f"the unknown name {node.id!r}")
        if isinstance(node, ast.JoinedStr):
            return "".join(self._fstring_part(part) for part in node.values)
        if isinstance(node, ast.List):
            return [self.expr(e) for e in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(self.expr(e) for e in node.elts)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.expr(node.left), self.expr(node.right)
            if isinstance(left, str) and isinstance(right, str):
                return left + right
            if isinstance(left, int) and isinstance(right, int):
                return left + right
            raise _fail(node, "'+' on values other than two strings or two integers")
        if isinstance(node, ast.BoolOp):
            values = node.values
            result = self.expr(values[0])
            for value in values[1:]:
                if isinstance(node.op, ast.Or) and result or isinstance(node.op, ast.And) and not result:
                    return result
                result = self.expr(value)
            return result
        if isinstance(node, ast.Call):
            return self._call(node)
        raise _fail(node, f"the expression {type(node).__name__}")

    def _fstring_part(self, part: ast.expr) -> str:
        if isinstance(part, ast.Constant):
            return str(part.value)
        if isinstance(part, ast.FormattedValue):
            if part.conversion != -1 or part.format_spec is not None:
                raise _fail(part, "an f-string conversion or format spec")
            value = self.expr(part.value)
            if not isinstance(value, (str, int)):
                raise _fail(part, f"formatting a {type(value).__name__}")
            return str(value)
        raise _fail(part, "this f-string part")

    def _call(self, node: ast.Call) -> Any:
        if node.keywords:
            raise _fail(node, "a call with keyword arguments")
        args = [self.expr(a) for a in node.args]
        func = node.func
        if isinstance(func, ast.Name):
            builtin = _ALLOWED_BUILTINS.get(func.id)
            if builtin is None:
                raise _fail(node, f"calling {func.id!r}")
            return builtin(*args)
        if isinstance(func, ast.Attribute):
            owner = self.expr(func.value)
            if isinstance(owner, dict) and func.attr == "get" and 1 <= len(args) <= 2:
                return owner.get(*args)
            if isinstance(owner, list) and func.attr == "append" and len(args) == 1:
                owner.append(args[0])
                return None
            if isinstance(owner, str) and func.attr == "join" and len(args) == 1:
                if not all(isinstance(a, str) for a in args[0]):
                    raise _fail(node, "joining values that are not strings")
                return owner.join(args[0])
            raise _fail(node, f"the method {type(owner).__name__}.{func.attr}")
        raise _fail(node, "this call")

    def assign(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            self.names[target.id] = value
        elif isinstance(target, ast.Tuple) and all(isinstance(e, ast.Name) for e in target.elts):
            values = list(value)
            if len(values) != len(target.elts):
                raise _fail(target, "unpacking to the wrong number of names")
            for name, v in zip(target.elts, values, strict=True):
                self.names[name.id] = v  # type: ignore[attr-defined]
        else:
            raise _fail(target, "assigning to anything but names")

    def run(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.Expr):
                if isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
                    continue  # docstring
                self.expr(stmt.value)
            elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                self.assign(stmt.targets[0], self.expr(stmt.value))
            elif isinstance(stmt, ast.Return):
                raise _Return(self.expr(stmt.value) if stmt.value is not None else None)
            elif isinstance(stmt, ast.If):
                self.run(stmt.body if self.expr(stmt.test) else stmt.orelse)
            elif isinstance(stmt, ast.For) and not stmt.orelse:
                for value in self.expr(stmt.iter):
                    self.assign(stmt.target, value)
                    self.run(stmt.body)
            elif isinstance(stmt, ast.Pass):
                continue
            else:
                raise _fail(stmt, f"the statement {type(stmt).__name__}")


def template_function(node: ast.FunctionDef) -> Callable[..., Any]:
    """A Python callable that evaluates `node` (positional arguments only) with the restricted interpreter."""
    params = node.args
    if params.vararg or params.kwarg or params.kwonlyargs or params.defaults or params.posonlyargs:
        raise TemplateError(f"line {node.lineno}: {node.name} must take plain positional arguments")
    if node.decorator_list:
        raise TemplateError(f"line {node.lineno}: {node.name} must not be decorated")
    names = [a.arg for a in params.args]

    def call(*args: Any) -> Any:
        if len(args) != len(names):
            raise TypeError(f"{node.name} takes {len(names)} argument(s), got {len(args)}")
        frame = _Frame(dict(zip(names, args, strict=True)))
        try:
            frame.run(node.body)
        except _Return as ret:
            return ret.value
        return None

    call.__name__ = node.name
    return call


def module_definitions(source: str) -> tuple[dict[str, Any], dict[str, ast.FunctionDef]]:
    """(module-level literal constants, function definitions) of a Python source, read as data only.

    Imports, classes and statements other than literal assignments and function definitions are
    ignored: nothing in them is evaluated.
    """
    tree = ast.parse(source)
    constants: dict[str, Any] = {}
    functions: dict[str, ast.FunctionDef] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            try:
                constants[stmt.targets[0].id] = ast.literal_eval(stmt.value)
            except ValueError:
                continue  # not a literal: not data we read
        elif isinstance(stmt, ast.FunctionDef):
            functions[stmt.name] = stmt
    return constants, functions
