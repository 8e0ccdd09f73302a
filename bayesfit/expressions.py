"""Expressions over event columns: cuts and derived variables, evaluated on whole columns.

An expression is a Python-like formula of column names, numbers, arithmetic, comparisons and a
fixed set of numpy functions, e.g. ``"(E_reco > 1e4) & (abs(cos_zenith) < 0.9)"`` or
``"w_gen * xsec / 1000"``. It is parsed into a syntax tree once and evaluated node by node on
whole ``(n_events,)`` arrays (no loop over events, no ``eval``): names other than columns and the
functions below are refused. ``and``, ``or`` and ``not`` act element-wise like ``&``, ``|`` and
``~``.

>>> Expression("sqrt(x**2 + y**2) < r_max").names
('r_max', 'x', 'y')
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

import numpy as np

from bayesfit.errors import EventsError

__all__ = ["FUNCTIONS", "Expression", "select_columns"]

#: The functions an expression may call, by name (element-wise numpy functions).
FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {
    name: getattr(np, name)
    for name in (
        "abs", "sqrt", "exp", "log", "log10", "log2", "log1p", "expm1", "sin", "cos", "tan", "arcsin",
        "arccos", "arctan", "arctan2", "sinh", "cosh", "tanh", "hypot", "minimum", "maximum", "where",
        "floor", "ceil", "isfinite", "isnan", "sign",
    )
}

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.BitAnd: np.logical_and, ast.BitOr: np.logical_or, ast.BitXor: np.logical_xor,
}
_UNARY: dict[type, Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: np.logical_not, ast.Invert: np.logical_not,
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
_BOOLEAN: dict[type, Callable[[Any, Any], Any]] = {ast.And: np.logical_and, ast.Or: np.logical_or}


class Expression:
    """A parsed expression over event columns (see the module docstring).

    Parameters
    ----------
    text
        The expression.
    what
        How messages name it, e.g. ``"cut"`` or ``"define['energy']"``.

    Raises
    ------
    EventsError
        If ``text`` is not an expression or uses syntax or functions outside the allowed set.
    """

    def __init__(self, text: str, what: str = "expression") -> None:
        self.text, self.what = text, what
        try:
            self._tree = ast.parse(text.strip(), mode="eval").body
        except SyntaxError as error:
            raise EventsError(f"{what} {text!r} is not an expression: {error.msg}") from None
        for node in ast.walk(self._tree):
            self._check(node)

    def _check(self, node: ast.AST) -> None:
        allowed = (ast.Name, ast.Constant, ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.Call, ast.Load)
        if isinstance(node, tuple(_BINARY) + tuple(_UNARY) + tuple(_COMPARE) + tuple(_BOOLEAN)):
            return
        if not isinstance(node, allowed):
            raise EventsError(f"{self.what} {self.text!r}: {type(node).__name__} is not allowed in an expression")
        if isinstance(node, ast.Constant) and (isinstance(node.value, bool) or not isinstance(node.value, (int, float))):
            raise EventsError(f"{self.what} {self.text!r}: only numbers may appear as constants, not {node.value!r}")
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            if name not in FUNCTIONS:
                raise EventsError(
                    f"{self.what} {self.text!r}: unknown function {name!r}; the functions are "
                    f"{', '.join(sorted(FUNCTIONS))}"
                )
            if node.keywords:
                raise EventsError(f"{self.what} {self.text!r}: {name}() takes positional arguments only")

    @cached_property
    def names(self) -> tuple[str, ...]:
        """The column names the expression reads, sorted."""
        called = {id(node.func) for node in ast.walk(self._tree) if isinstance(node, ast.Call)}
        return tuple(sorted({n.id for n in ast.walk(self._tree) if isinstance(n, ast.Name) and id(n) not in called}))

    def evaluate(self, columns: Mapping[str, np.ndarray], n_events: int) -> np.ndarray:
        """The ``(n_events,)`` values on ``columns``; an :class:`EventsError` names a missing column."""
        missing = [name for name in self.names if name not in columns]
        if missing:
            raise EventsError(
                f"{self.what} {self.text!r} uses {missing}, but the events have only {sorted(columns)}"
            )
        with np.errstate(all="ignore"):
            value = np.asarray(self._evaluate(self._tree, columns))
        return np.broadcast_to(value, (n_events,))

    def _evaluate(self, node: ast.AST, columns: Mapping[str, np.ndarray]) -> Any:
        if isinstance(node, ast.Name):
            return columns[node.id]
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](self._evaluate(node.left, columns), self._evaluate(node.right, columns))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](self._evaluate(node.operand, columns))
        if isinstance(node, ast.BoolOp):
            values = [self._evaluate(value, columns) for value in node.values]
            result = values[0]
            for value in values[1:]:
                result = _BOOLEAN[type(node.op)](result, value)
            return result
        if isinstance(node, ast.Compare):  # a < b < c: (a < b) & (b < c)
            left, result = self._evaluate(node.left, columns), True
            for op, right_node in zip(node.ops, node.comparators):
                right = self._evaluate(right_node, columns)
                result = np.logical_and(result, _COMPARE[type(op)](left, right))
                left = right
            return result
        assert isinstance(node, ast.Call)  # the only node left after _check
        return FUNCTIONS[node.func.id](*(self._evaluate(argument, columns) for argument in node.args))

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


def select_columns(
    columns: Mapping[str, np.ndarray],
    *,
    keep: Any = None,
    define: Mapping[str, str] | None = None,
    cut: str | None = None,
    source: str = "the events",
) -> dict[str, np.ndarray]:
    """Derive columns, apply a cut and keep a selection of columns.

    Parameters
    ----------
    columns
        Name -> ``(n_events,)`` array.
    keep
        Names of the input columns to keep (default: all); the defined columns are always kept.
    define
        New column name -> expression of the input columns (e.g. ``{"weight": "w * xsec"}``).
    cut
        An expression that is true for the events to keep (computed before dropping columns).
    source
        How messages name the events (e.g. ``"tree 'events' of 'mc.root'"``).

    Returns
    -------
    dict
        The kept and defined columns of the events that pass the cut, in that order.

    Raises
    ------
    EventsError
        For a bad expression, a name that is not a column, or a defined name that is already one.
    """
    n_events = len(next(iter(columns.values()))) if columns else 0
    names = list(columns) if keep is None else list(keep)
    missing = [name for name in names if name not in columns]
    if missing:
        raise EventsError(f"{source} has no column(s) {missing}; columns: {sorted(columns)}")
    derived: dict[str, np.ndarray] = {}
    for name, text in (define or {}).items():
        if name in columns:
            raise EventsError(f"define[{name!r}]: {source} already has a column {name!r}; choose another name")
        derived[name] = Expression(text, f"define[{name!r}]").evaluate(columns, n_events)
    selected = {**{name: columns[name] for name in names}, **derived}
    if cut is None:
        return selected
    mask = Expression(cut, "cut").evaluate({**columns, **derived}, n_events)
    if mask.dtype != bool:
        raise EventsError(f"cut {cut!r} gives {mask.dtype} values, not true/false: compare, e.g. 'E > 100'")
    return {name: np.asarray(values)[mask] for name, values in selected.items()}
