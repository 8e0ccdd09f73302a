"""ROOT files through uproot: events from TTrees, TH1/TH2/TH3 histograms as hist objects.

uproot is an optional dependency (``pip install 'bayesfit[root]'``), imported on first use only.

- :func:`read_tree`: the branches of a TTree (or RNTuple) as an :class:`~bayesfit.events.Events`
  table, with derived columns and a cut (:mod:`bayesfit.expressions`) applied to whole arrays;
- :func:`read_histogram`: a histogram of a file by its key (``"dir/name"``);
- :func:`to_hist`: a histogram read by uproot as a :class:`hist.Hist` with ``Weight`` storage and
  the flow bins ROOT keeps, its axes named as the caller says (ROOT axes carry no variable names).

Errors name the file, the tree, branch or key, and what the file holds instead.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bayesfit.errors import BayesfitError, BinningError, EventsError
from bayesfit.events import Events
from bayesfit.expressions import Expression, select_columns

__all__ = ["INSTALL_HINT", "is_root_histogram", "read_histogram", "read_tree", "to_hist"]

#: What to install for ROOT files.
INSTALL_HINT = "pip install 'bayesfit[root]'"


def _uproot(error: type[BayesfitError]) -> Any:
    try:
        import uproot
    except ImportError:
        raise error(f"reading ROOT files needs uproot, which is not installed: {INSTALL_HINT}") from None
    return uproot


def _open(path: str | Path, error: type[BayesfitError]) -> Any:
    uproot = _uproot(error)
    path = Path(path)
    if not path.is_file():
        raise error(f"ROOT file {str(path)!r} does not exist")
    try:
        return uproot.open(path)
    except (OSError, ValueError) as problem:
        detail = " ".join(str(problem).split())
        raise error(f"cannot read {str(path)!r} as a ROOT file (not one, or damaged): {detail}") from None


def _contents(file: Any, kind: str) -> list[str]:
    """The keys (without cycle numbers) of the objects of ``kind`` ("tree" or "histogram")."""
    wanted = ("TTree", "ROOT::RNTuple") if kind == "tree" else ("TH1", "TH2", "TH3", "TProfile")
    names = {key.split(";")[0] for key, name in file.classnames().items() if name.startswith(wanted)}
    return sorted(names)


def _get(file: Any, key: str, kind: str, error: type[BayesfitError]) -> Any:
    path = file.file_path
    available = _contents(file, kind)
    if key.split(";")[0] not in available:
        raise error(f"ROOT file {path!r} has no {kind} {key!r}; {kind}s in it: {available or 'none'}")
    return file[key]


def read_tree(
    path: str | Path,
    tree: str | None = None,
    *,
    branches: Sequence[str] | None = None,
    define: Mapping[str, str] | None = None,
    cut: str | None = None,
) -> Events:
    """Events from a TTree (or RNTuple) of a ROOT file.

    Only the branches needed are read: ``branches`` (default all) and those the expressions use.

    Parameters
    ----------
    path
        The ROOT file.
    tree
        The tree's key (``"dir/name"``); may be left out when the file holds exactly one tree.
    branches
        Branches to keep as columns (default: every branch). Each must hold one number per event.
    define
        New column -> expression of branches (:class:`~bayesfit.expressions.Expression`), e.g.
        ``{"weight": "w_gen * xsec"}``.
    cut
        Expression true for the events to keep, e.g. ``"(E > 100) & (n_hits >= 3)"``.

    Returns
    -------
    Events
        The kept branches then the defined columns, as float64 columns.

    Raises
    ------
    EventsError
        If uproot is missing, the file is not a ROOT file, lacks the tree or a branch (the message
        lists the trees or branches there are), a branch holds several values per event, or an
        expression is bad.
    """
    file = _open(path, EventsError)
    with file:
        if tree is None:
            trees = _contents(file, "tree")
            if len(trees) != 1:
                raise EventsError(f"ROOT file {str(path)!r} holds trees {trees or 'none'}: name the tree to read")
            tree = trees[0]
        source = f"tree {tree!r} of ROOT file {str(path)!r}"
        table = _get(file, tree, "tree", EventsError)
        available = list(table.keys())
        expressions = [Expression(text, f"define[{name!r}]") for name, text in (define or {}).items()]
        if cut is not None:
            expressions.append(Expression(cut, "cut"))
        keep = available if branches is None else list(branches)
        needed = list(dict.fromkeys([*keep, *(name for e in expressions for name in e.names if name not in (define or {}))]))
        missing = [name for name in needed if name not in available]
        if missing:
            raise EventsError(f"{source} has no branch(es) {missing}; branches: {available}")
        try:
            arrays = table.arrays(needed, library="np")
        except Exception as problem:  # uproot raises many kinds (deserialisation, interpretation)
            raise EventsError(f"cannot read branches {needed} of {source}: {problem}") from None
    columns = {name: _flat(arrays[name], name, source) for name in needed}
    return Events(select_columns(columns, keep=keep, define=define, cut=cut, source=source))


def _flat(values: Any, name: str, source: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype == object or array.ndim != 1:
        raise EventsError(
            f"branch {name!r} of {source} holds several values per event, not one number; "
            "select the flat branches to read (branches)"
        )
    return array


def read_histogram(path: str | Path, key: str) -> Any:
    """The histogram ``key`` (``"dir/name"``) of a ROOT file, as uproot reads it (see :func:`to_hist`).

    Raises
    ------
    BinningError
        If uproot is missing, the file is not a ROOT file or has no histogram ``key`` (the
        message lists the histograms it has).
    """
    file = _open(path, BinningError)
    with file:
        histogram = _get(file, key, "histogram", BinningError)
    if not is_root_histogram(histogram):
        raise BinningError(f"{key!r} of ROOT file {str(path)!r} is a {histogram.classname}, not a histogram")
    return histogram


def is_root_histogram(value: Any) -> bool:
    """Whether ``value`` is a histogram read by uproot (checked without importing uproot)."""
    module = sys.modules.get("uproot")
    return module is not None and isinstance(value, module.behaviors.TH1.Histogram)


def to_hist(
    histogram: Any,
    names: Sequence[str | None] | None = None,
    *,
    open_ends: Sequence[tuple[bool, bool]] | None = None,
) -> Any:
    """A histogram read by uproot as a :class:`hist.Hist` with ``Weight`` storage.

    Parameters
    ----------
    histogram
        A TH1, TH2 or TH3 read by uproot (not a profile: it holds means).
    names
        Axis names (the bayesfit variables), one per axis; ``None`` (or no ``names``) keeps the
        ROOT axis name (``"xaxis"``, ``"yaxis"``, ``"zaxis"``). The ROOT axis titles become the labels.
    open_ends
        Per axis, whether its under- and overflow bins are bins of their own: ``(True, True)``
        gives the hist axis the edges ``[-inf, *edges, inf]`` with the flow contents in its outer
        bins (for a binning axis with infinite outer edges). Default: ROOT's flow bins stay
        under- and overflow bins of the hist axes.

    Raises
    ------
    BinningError
        For a profile, or a number of names or open ends other than the number of axes.
    """
    import hist

    if histogram.classname.startswith("TProfile"):
        raise BinningError(f"{histogram.name!r} is a {histogram.classname}: it holds means, not counts")
    axes = [histogram.axis(i) for i in range(len(histogram.axes))]
    names = [None] * len(axes) if names is None else list(names)
    open_ends = [(False, False)] * len(axes) if open_ends is None else list(open_ends)
    if len(names) != len(axes) or len(open_ends) != len(axes):
        raise BinningError(
            f"the ROOT histogram {histogram.name!r} has {len(axes)} axes, given {len(names)} names "
            f"and {len(open_ends)} open ends"
        )
    hist_axes = []
    for axis, name, (lower, upper) in zip(axes, names, open_ends):
        name = name or axis.member("fName")
        edges = np.asarray(axis.edges(), dtype=np.float64)
        edges = np.concatenate([[-np.inf] if lower else [], edges, [np.inf] if upper else []])
        title = axis.member("fTitle") or ""
        hist_axes.append(hist.axis.Variable(edges, name=name, label=title or name, underflow=not lower, overflow=not upper))
    result = hist.Hist(*hist_axes, storage=hist.storage.Weight())
    view = result.view(flow=True)
    view["value"] = histogram.values(flow=True)
    view["variance"] = histogram.variances(flow=True)
    return result
