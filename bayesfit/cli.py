"""The ``bayesfit`` command line: runs analysis files (and pyhf workspaces) through the Python API.

The CLI only wires the API: parsing arguments, reporting errors in one line, and handing over to
:func:`bayesfit.analysis.run.run_analysis` (analysis files and workspaces alike), then printing
the summary table on stdout. Heavy imports (PyMC) happen only when a command runs.
It configures the library's logging: INFO messages of the ``bayesfit`` loggers (the progress of a
run) on stderr as ``[bayesfit] message``, only warnings with ``--quiet``, DEBUG with ``-v``;
stdout is left to the results (``run``'s and ``show``'s table, ``info``'s report).
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from bayesfit import __version__
from bayesfit.errors import BayesfitError, SamplingInterrupted

__all__ = ["LOG_FORMAT", "UsageError", "build_parser", "main"]


class UsageError(BayesfitError):
    """Command-line options that do not fit together."""


DESCRIPTION = """\
Bayesian inference for binned counting experiments.

Run an analysis file (YAML; see models/ for examples): a maximum-likelihood fit with errors, a NUTS
posterior, profile likelihoods and the usual plots, written to a results folder. `bayesfit info`
reports the versions, the BLAS PyTensor links and the samplers available.
"""

RUN_EPILOG = """\
outputs (in --out, default results/<name>/):
  summary.json   fit (maximum likelihood: values, errors, -ln L incl. ln k!, convergence) and
                 posterior summary (mean, sd, 94% HDI, r-hat, bulk ESS) with sampling statistics
  posterior.nc   the ArviZ InferenceData (reload with arviz.from_netcdf)
  *.png          data vs fitted/posterior-predictive counts, corner plot, traces, profiles

A pyhf JSON workspace (HistFactory) runs the same way and writes the same files, plus pre-/post-fit
plots per channel and the nuisance-parameter pulls; --patch and --measurement select the hypothesis.
With --patchset (a pyhf patchset of signal points for a background-only workspace) the run also
writes patchset_limits.csv (observed and expected CLs limits per patch, keyed by its values) and
exclusion.png; the fit and figures are those of the first patch.

examples:
  bayesfit run models/hese_diffuse.yaml
  bayesfit run models/hese_diffuse.yaml --set likelihood=effective --draws 500 --out results/eff
  bayesfit run models/hese_diffuse.yaml --set data.path=my_events.json --no-sample
  bayesfit run workspace.json --patch signal_patch.json --measurement NominalMeasurement
  bayesfit run BkgOnly.json --patchset patchset.json --no-sample   # a limit per signal point

Existing result files are never overwritten unless --force is given.
"""


#: ``--sampler`` choices: :data:`bayesfit.inference.posterior.SAMPLERS` (written out so that ``--help``
#: does not import PyMC; a test keeps them equal).
SAMPLER_CHOICES = ("auto", "pymc", "nutpie")

#: How the command shows bayesfit's log messages on stderr.
LOG_FORMAT = "[bayesfit] %(message)s"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``bayesfit`` command."""
    parser = argparse.ArgumentParser(
        prog="bayesfit", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"bayesfit {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback when something fails"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    verbosity = _verbosity_options()

    run = commands.add_parser(
        "run",
        help="run an analysis file",
        description="Fit, sample and plot the analysis described by a YAML analysis file.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[verbosity],
    )
    run.add_argument(
        "analysis", type=Path, metavar="ANALYSIS", help="analysis file (.yaml) or pyhf JSON workspace (.json)"
    )
    run.add_argument("--out", type=Path, metavar="DIR", help="results folder (default results/<name>/)")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the analysis file by its dotted path, e.g. --set likelihood=effective "
        "or --set data.path=other.json (paths relative to the working directory); repeatable",
    )
    run.add_argument("--no-sample", action="store_true", help="only the maximum-likelihood fit, no NUTS")
    run.add_argument("--draws", type=_positive_int, metavar="N", help="posterior draws per chain")
    run.add_argument("--tune", type=_positive_int, metavar="N", help="tuning steps per chain")
    run.add_argument("--chains", type=_positive_int, metavar="N", help="number of chains")
    run.add_argument("--seed", type=_non_negative_int, metavar="S", help="random seed")
    run.add_argument(
        "--sampler", choices=SAMPLER_CHOICES,
        help="NUTS implementation; auto (the default) is nutpie when it is installed (bayesfit[fast]), else PyMC",
    )
    run.add_argument(
        "--patch",
        dest="patches",
        action="append",
        default=[],
        type=Path,
        metavar="PATCH.json",
        help="workspaces: JSON patch (or PATCHSET.json:NAME) applied to the workspace; repeatable "
        "(the same as --set workspace.patches=[...])",
    )
    run.add_argument(
        "--patchset", type=Path, metavar="PATCHSET.json",
        help="workspaces: a pyhf patchset of signal hypotheses for this background workspace; the upper limit of "
        "every patch, in patchset_limits.csv and an exclusion plot (the same as --set workspace.patchset=FILE)",
    )
    run.add_argument("--measurement", metavar="NAME",
                     help="workspaces: the measurement to use (the same as --set workspace.measurement=NAME)")
    run.add_argument("--force", action="store_true", help="overwrite existing result files")

    show = commands.add_parser(
        "show", help="print the summary table of a finished run",
        description="Print the table `bayesfit run` printed, from the summary.json of a results folder.",
        parents=[verbosity],
    )
    show.add_argument("results", type=Path, metavar="RESULTS_DIR", help="a results folder (or its summary.json)")

    info = commands.add_parser(
        "info",
        help="versions, BLAS, compile directory and samplers",
        description="Report what bayesfit runs on: versions of Python and the numerical packages, the BLAS "
        "PyTensor links (configured now if needed), PyTensor's compile directory and C++ compiler, and the "
        "NUTS samplers available.",
        parents=[verbosity],
    )
    info.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def _verbosity_options() -> argparse.ArgumentParser:
    """``--quiet`` and ``-v``, shared by every command."""
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", help="only warnings: no progress messages or bars")
    group.add_argument("-v", "--verbose", action="store_true", help="also debugging messages")
    return options


@contextmanager
def _logging_to_stderr(*, quiet: bool, verbose: bool) -> Iterator[None]:
    """While a command runs, show messages of the ``bayesfit`` loggers on stderr as
    ``[bayesfit] message``: INFO and above by default, WARNING and above with ``quiet``,
    everything with ``verbose``. The logger is restored afterwards (``main`` may run in-process)."""
    logger = logging.getLogger("bayesfit")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def console_main() -> None:
    """The ``bayesfit`` console command: :func:`main` on ``sys.argv``, then the end of the process.

    Python's teardown of the modules a run has imported (PyMC, ArviZ, nutpie and theirs) takes
    0.8-1.3 s after everything is written. So the command flushes its output, runs the exit
    handlers (logging, multiprocessing, PyTensor's compile cache) and ends the process at once
    with the exit code. An exception (``--debug``) or ``SystemExit`` (``--help``, usage errors)
    ends it the usual way.
    """
    end_process(main())


def end_process(code: int) -> NoReturn:
    """Flush stdout and stderr, run the exit handlers and end the process with ``code``, without
    the interpreter's teardown (see :func:`console_main`)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    atexit._run_exitfuncs()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bayesfit`` command. Returns the exit code."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    try:
        with _logging_to_stderr(quiet=arguments.quiet, verbose=arguments.verbose):
            if arguments.command == "run":
                return _run(arguments)
            if arguments.command == "show":
                return _show(arguments)
            if arguments.command == "info":
                return _info(arguments)
    except (KeyboardInterrupt, SamplingInterrupted) as error:  # nothing new is written on an interrupt
        print(f"bayesfit: interrupted{f': {error}' if str(error) else ''}", file=sys.stderr)
        return 130
    except BayesfitError as error:
        if arguments.debug:
            raise
        print(f"bayesfit: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # an internal failure: one line, the traceback only on request
        if arguments.debug:
            raise
        print(
            f"bayesfit: internal error: {type(error).__name__}: {error} (rerun with --debug for details)",
            file=sys.stderr,
        )
        return 1
    parser.error(f"unknown command {arguments.command!r}")
    return 2


def _run(arguments: argparse.Namespace) -> int:
    from bayesfit.analysis.report import format_table
    from bayesfit.analysis.run import RunOptions, run_analysis_file

    overrides = list(arguments.overrides)
    if arguments.patches:  # JSON quoting keeps PATCHSET.json:NAME one string
        overrides.append(f"workspace.patches={json.dumps([str(patch) for patch in arguments.patches])}")
    if arguments.patchset:
        overrides.append(f"workspace.patchset={json.dumps(str(arguments.patchset))}")
    if arguments.measurement:
        overrides.append(f"workspace.measurement={json.dumps(arguments.measurement)}")
    options = RunOptions(
        out=arguments.out,
        overrides=tuple(overrides),
        sample=not arguments.no_sample,
        draws=arguments.draws,
        tune=arguments.tune,
        chains=arguments.chains,
        seed=arguments.seed,
        sampler=arguments.sampler,
        force=arguments.force,
        progress=not arguments.quiet,
    )
    result = run_analysis_file(arguments.analysis, options)
    print(format_table(result.summary))
    return 0


def _show(arguments: argparse.Namespace) -> int:
    from bayesfit.analysis.report import format_table, read_summary

    print(format_table(read_summary(arguments.results)))
    return 0


def _info(arguments: argparse.Namespace) -> int:
    from bayesfit.environment import environment_info

    info = environment_info()
    print(json.dumps(info, indent=2) if arguments.json else _format_info(info))
    return 0


def _format_info(info: Mapping[str, Any]) -> str:
    """The report of :func:`bayesfit.environment.environment_info` as aligned text lines."""
    blas, pytensor, samplers = info["blas"], info["pytensor"], info["samplers"]
    flags = blas["blas__ldflags"].split()
    renames = sum(flag.startswith("-D") for flag in flags)
    shown = " ".join(flag for flag in flags if not flag.startswith("-D"))
    rows = [("bayesfit", info["bayesfit"]), ("python", info["python"])]
    rows += [(name, version or "not installed") for name, version in info["packages"].items()]
    rows += [
        ("BLAS", blas["reason"]),
        ("blas__ldflags", (shown or "(none)") + (f" (+ {renames} -D macros)" if renames else "")),
        ("compile directory", pytensor["compiledir"]),
        ("C++ compiler", pytensor["cxx"] or "none (Python backend)"),
        ("mode, floatX", f"{pytensor['mode']}, {pytensor['floatX']}"),
        ("samplers", f"{', '.join(samplers['available'])} (auto: {samplers['auto']})"),
    ]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text}")
    return value


if __name__ == "__main__":
    console_main()
