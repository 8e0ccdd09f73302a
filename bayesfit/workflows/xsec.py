"""The cross-section analysis of ReMU's example 06, as a reusable chain of bayesfit predictors.

Expected reconstructed events in universe ``k`` (``K`` flux throws paired one to one with ``K``
detector universes, ReMU's ``combine_systematics="same"``)::

    truth_k = [noise, sigma_bg @ flux_k, sigma_signal @ flux_k]       (1 + 48 + 120 truth bins)
    reco_k  = R_k @ truth_k                                            (8 reco bins)

with cross sections ``sigma`` per (truth bin x neutrino-energy bin) in true events per unit of
exposure (one unit = one year of beam). The cross-section parameters (1 + 432 + 1080 = 1513 in
ReMU's parameter binning: noise, background x flux, signal x flux) are themselves a weighted sum
of four templates -- noise, background, signal model A, signal model B -- and the whole chain is
collapsed exactly (it is linear) into one ``(K, 8, 4)`` matrix.

Template scale: every template holds the expected *events of the data set* at weight 1, so the
fitted weights are O(1) at the truth: the noise template is ``noise_events`` (default 200, 20 per
year for 10 years) noise events, the cross-section templates are the cross sections as they are
(the flux integrates to the data's 10 units of exposure). ReMU's noise parameter of about 240
events corresponds to a noise weight of about 1.2 here.

Inputs come from the toy experiment (:func:`toy_inputs`) or from ReMU's files
(:func:`remu_inputs`: truth binning with sub-binnings, the 100-universe response matrix, real
data); :func:`build_chain` makes the predictors, :func:`template_model` the
:class:`~bayesfit.model.BinnedModel` of any subset of the templates, with the universes
marginalised (``flux="universes"``) or with a continuous flux nuisance, a multivariate normal
from the throws (``flux="nuisance"``). :func:`load_inputs` picks the source by name (for
analysis files).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytensor.tensor as pt

from bayesfit.binning import Binning, HierarchicalBinning, ProductBinning, RectilinearBinning, VariableAxis
from bayesfit.datasets.xsec_toy import (
    DATA_YEARS,
    EVENT_TYPES,
    FLUX_EDGES,
    YEARLY_RATES,
    cross_section_table,
    generate_xsec_toy,
    sample_flux,
)
from bayesfit.errors import AnalysisFileError, ModelError, PredictorError
from bayesfit.events import Events, load_events
from bayesfit.likelihood import ThrowConstraint
from bayesfit.model import BinnedModel
from bayesfit.predictors import (
    ComposedPredictor,
    ConcatenatedPredictor,
    LinearEinsumPredictor,
    MatrixPredictor,
    Parameter,
    Predictor,
    ResponseMatrix,
    TemplatePredictor,
    compose,
    linearise,
)
from bayesfit.predictors.base import TensorLike

__all__ = [
    "TEMPLATE_NAMES",
    "RECO_EDGES",
    "XsecInputs",
    "XsecTemplates",
    "XsecChain",
    "FluxTemplatePredictor",
    "truth_binning",
    "reco_binning",
    "flux_binning",
    "toy_inputs",
    "remu_inputs",
    "cross_section_templates",
    "build_chain",
    "select_templates",
    "flux_template_predictor",
    "template_predictor",
    "template_model",
    "load_inputs",
]

TEMPLATE_NAMES: tuple[str, ...] = ("noise", "background", "model_A", "model_B")
"""The four templates, in the order of the weight vector."""

RECO_EDGES = np.array([-np.inf, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, np.inf])
"""Reco binning in ``reco_x`` (ReMU's ``01/reco-binning.yml``)."""

BACKGROUND_X_EDGES = (-np.inf, -0.5, 0.0, 0.5, 1.0, 1.5, np.inf)
BACKGROUND_Y_EDGES = (-np.inf, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5, np.inf)
SIGNAL_X_EDGES = (-np.inf, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, np.inf)
SIGNAL_Y_EDGES = (-np.inf, -1.5, -1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5, np.inf)

#: Truth sub-binning of each cross-section process (a top-level event-type bin).
PROCESS_TOP_BIN = {"background": EVENT_TYPES["background"], "model_A": EVENT_TYPES["signal"],
                   "model_B": EVENT_TYPES["signal"]}

#: ``event_type`` values of ReMU's truth binning (noise -1, background 0, signal 1), indexed by the
#: toy's codes :data:`~bayesfit.datasets.xsec_toy.EVENT_TYPES` (which are the top-level bin numbers).
REMU_EVENT_TYPES = np.array([-1.0, 0.0, 1.0])

#: Predictor parameter names of the chain's inputs (noise events and the two cross-section vectors).
CHAIN_PARAMETERS = ("noise", "xsec_background", "xsec_signal")

FLUX_MODES = ("universes", "nuisance")


# ---------------------------------------------------------------------------- binnings
def truth_binning() -> HierarchicalBinning:
    """ReMU's truth binning (example 05): event type {noise, background 6x8, signal 10x12}.

    Top level: ``event_type`` in bins around -1 (noise), 0 (background), 1 (signal), as in ReMU; background and signal are sub-binned in
    ``(true_x, true_y)``, ``true_y`` fastest. 1 + 48 + 120 = 169 data bins.
    """
    top = RectilinearBinning([VariableAxis("event_type", (-1.5, -0.5, 0.5, 1.5))])
    background = RectilinearBinning([VariableAxis("true_x", BACKGROUND_X_EDGES),
                                     VariableAxis("true_y", BACKGROUND_Y_EDGES)])
    signal = RectilinearBinning([VariableAxis("true_x", SIGNAL_X_EDGES), VariableAxis("true_y", SIGNAL_Y_EDGES)])
    return HierarchicalBinning(top, {EVENT_TYPES["background"]: background, EVENT_TYPES["signal"]: signal})


def reco_binning() -> RectilinearBinning:
    """8 bins in ``reco_x`` with edges :data:`RECO_EDGES`."""
    return RectilinearBinning([VariableAxis("reco_x", tuple(RECO_EDGES))])


def flux_binning() -> RectilinearBinning:
    """9 neutrino-energy bins ``E`` with edges :data:`~bayesfit.datasets.xsec_toy.FLUX_EDGES`."""
    return RectilinearBinning([VariableAxis("E", tuple(FLUX_EDGES))])


# ---------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class XsecInputs:
    """Everything the chain needs, whatever its source.

    Attributes
    ----------
    truth_binning:
        Hierarchical binning over ``event_type`` with ``(true_x, true_y)`` sub-binnings of the
        background (top bin 1) and signal (top bin 2); top bin 0 is the noise.
    reco_binning, flux_binning:
        One-dimensional binnings in ``reco_x`` and in the neutrino energy ``E``.
    response:
        ``K`` detector universes, ``(K, n_reco, n_truth)``.
    flux_throws:
        ``(K, n_flux)`` exposure per energy bin of each throw (paired with detector universe ``k``).
    nominal_flux:
        ``(n_flux,)`` exposure of the nominal flux.
    observed:
        ``(n_reco,)`` observed counts.
    noise_events:
        Noise events of the noise template (weight 1).
    truth_events:
        Generated true events per cross-section process with a ``weight`` column scaling them to
        the data's exposure (for comparisons with the cross-section predictions); may be empty.
    source:
        A short description (``"toy"`` or the ReMU folder).
    """

    truth_binning: HierarchicalBinning
    reco_binning: Binning
    flux_binning: RectilinearBinning
    response: ResponseMatrix
    flux_throws: np.ndarray
    nominal_flux: np.ndarray
    observed: np.ndarray
    noise_events: float
    truth_events: Mapping[str, Events]
    source: str

    def __post_init__(self) -> None:
        n_flux = self.flux_binning.size
        if self.flux_throws.ndim != 2 or self.flux_throws.shape[1] != n_flux:
            raise ModelError(f"flux_throws have shape {self.flux_throws.shape}, expected (K, {n_flux})")
        if self.flux_throws.shape[0] != self.response.n_variations:
            raise ModelError(
                f"{self.flux_throws.shape[0]} flux throws but {self.response.n_variations} detector "
                "universes: they are paired one to one"
            )
        if self.response.n_truth != self.truth_binning.size or self.response.n_reco != self.reco_binning.size:
            raise ModelError(
                f"response matrix is {self.response.n_reco} x {self.response.n_truth} (reco x truth), the "
                f"binnings have {self.reco_binning.size} reco and {self.truth_binning.size} truth bins"
            )
        if self.observed.shape != (self.reco_binning.size,):
            raise ModelError(f"observed counts have shape {self.observed.shape}, expected ({self.reco_binning.size},)")


def toy_inputs(seed: int = 20190601, *, years_simulated: float = 100.0, n_universes: int = 100) -> XsecInputs:
    """Inputs from :func:`~bayesfit.datasets.xsec_toy.generate_xsec_toy`.

    The response matrix is filled from the simulated noise, background and signal (model A and B)
    events with their per-universe weights and reco values; the noise column is normalised to 1.
    """
    toy = generate_xsec_toy(seed, years_simulated, n_universes)
    truth, reco, flux = truth_binning(), reco_binning(), flux_binning()
    processes = ("noise", "background", "model_A", "model_B")
    columns = {name: np.concatenate([toy.simulation[p][name] for p in processes])
               for name in ("event_type", "true_x", "true_y", "universe_weight", "universe_reco_x")}
    truth_index = truth.bin_index({
        "event_type": REMU_EVENT_TYPES[columns["event_type"].astype(np.int64)],
        "true_x": columns["true_x"],
        "true_y": columns["true_y"],
    })
    response = ResponseMatrix.from_events(
        truth_index,
        None,
        n_truth=truth.size,
        n_reco=reco.size,
        universe_weights=columns["universe_weight"],
        universe_reco_index=_reco_index(reco, columns["universe_reco_x"]),
        noise_bins=(truth.data_slice(EVENT_TYPES["noise"]).start,),
    )
    scale = DATA_YEARS / toy.years_simulated
    truth_events = {
        process: Events({"true_x": toy.simulation[process]["true_x"], "true_y": toy.simulation[process]["true_y"],
                         "weight": np.full(toy.simulation[process]["true_x"].size, scale)})
        for process in ("background", "model_A", "model_B")
    }
    return XsecInputs(
        truth_binning=truth,
        reco_binning=reco,
        flux_binning=flux,
        response=response,
        flux_throws=toy.flux_throws,
        nominal_flux=toy.nominal_flux,
        observed=reco.fill({"reco_x": toy.data["reco_x"]}).sumw,
        noise_events=YEARLY_RATES["noise"] * DATA_YEARS,
        truth_events=truth_events,
        source="toy",
    )


def remu_inputs(remu_dir: str | Path, *, flux_seed: int = 20190601) -> XsecInputs:
    """Inputs from ReMU's example folders (``remu_dir`` holds ``00/``, ``01/``, ``05/``, ``06/``).

    Reads ``05/truth-binning.yml`` (with sub-binnings), ``05/response_matrix.npz`` (``K``
    universes), ``05/real_data.txt`` binned in ``01/reco-binning.yml``, the flux binning
    ``06/flux-binning.yml`` (default edges if absent) and, for comparisons, the generated truth
    ``05/bg_truth.txt``, ``00/modelA_truth.txt``, ``00/modelB_truth.txt`` (100 years, weight 0.1).
    As in ReMU's example the flux throws are sampled (``E ~ N(8, 2)``), one per universe.
    """
    folder = Path(remu_dir)
    truth = Binning.from_yaml(_required(folder / "05" / "truth-binning.yml"))
    if not isinstance(truth, HierarchicalBinning) or sorted(truth.subbinnings) != [1, 2]:
        raise AnalysisFileError(
            f"{folder / '05' / 'truth-binning.yml'}: expected a binning over event_type with sub-binnings of "
            "top bins 1 (background) and 2 (signal)"
        )
    reco = Binning.from_yaml(_required(folder / "01" / "reco-binning.yml"))
    flux_file = folder / "06" / "flux-binning.yml"
    flux = Binning.from_yaml(flux_file) if flux_file.exists() else flux_binning()
    if not isinstance(flux, RectilinearBinning) or len(flux.axes) != 1:
        raise AnalysisFileError(f"{flux_file}: the flux binning must be one axis in E, got {flux!r}")
    response = ResponseMatrix.from_remu_npz(_required(folder / "05" / "response_matrix.npz"))
    observed = reco.fill(load_events(_required(folder / "05" / "real_data.txt"))).sumw
    rng = np.random.default_rng(flux_seed)
    truth_files = {"background": folder / "05" / "bg_truth.txt", "model_A": folder / "00" / "modelA_truth.txt",
                   "model_B": folder / "00" / "modelB_truth.txt"}
    truth_events = {}
    for process, path in truth_files.items():
        if path.exists():
            events = load_events(path)
            truth_events[process] = Events({**events, "weight": np.full(events.n_events, 0.1)})
    flux_edges = flux.axes[0].edges
    return XsecInputs(
        truth_binning=truth,
        reco_binning=reco,
        flux_binning=flux,
        response=response,
        flux_throws=_sample_flux(flux_edges, response.n_variations, rng),
        nominal_flux=_sample_flux(flux_edges, 1, rng)[0],
        observed=observed,
        noise_events=YEARLY_RATES["noise"] * DATA_YEARS,
        truth_events=truth_events,
        source=str(folder),
    )


def _required(path: Path) -> Path:
    if not path.exists():
        raise AnalysisFileError(f"ReMU input {str(path)!r} does not exist")
    return path


def _sample_flux(edges: np.ndarray, n_throws: int, rng: np.random.Generator) -> np.ndarray:
    if np.array_equal(edges, FLUX_EDGES):
        return sample_flux(n_throws, rng)
    raise AnalysisFileError(f"flux throws are sampled in the edges {FLUX_EDGES.tolist()}, the binning has {edges.tolist()}")


def _reco_index(reco: Binning, reco_x: np.ndarray) -> np.ndarray:
    """Reco bin of every entry of ``reco_x`` (any shape), ``-1`` where NaN (not reconstructed)."""
    index = np.full(reco_x.shape, -1, dtype=np.int64)
    reconstructed = np.isfinite(reco_x)
    index[reconstructed] = reco.bin_index({"reco_x": reco_x[reconstructed]})
    return index


# ---------------------------------------------------------------------------- templates
class XsecTemplates(NamedTuple):
    """Templates in ReMU's parameter binning (noise, background x flux, signal x flux).

    ``values``: ``(T, n_parameters)``, one row per name in ``names``; ``parameter_binning`` is the
    truth binning with the background and signal sub-binnings replaced by truth x flux products;
    ``cross_sections``: per process ``(n_truth_bins, n_flux)`` true events per unit of exposure.
    """

    names: tuple[str, ...]
    values: np.ndarray
    parameter_binning: HierarchicalBinning
    cross_sections: dict[str, np.ndarray]


def cross_section_templates(inputs: XsecInputs) -> XsecTemplates:
    """Noise, background, model A and model B templates from the toy's cross-section functions.

    The cross sections are evaluated on the edges of the truth sub-binnings and of the flux
    binning (vectorised, no loop over bins).
    """
    truth = inputs.truth_binning
    flux_edges = inputs.flux_binning.axes[0].edges
    parameter_binning = truth.marginalize_subbinnings()
    for top_bin in sorted(truth.subbinnings):
        parameter_binning = parameter_binning.insert_subbinning(
            top_bin, ProductBinning([truth.subbinnings[top_bin], inputs.flux_binning])
        )
    n_parameters = parameter_binning.size
    values = np.zeros((len(TEMPLATE_NAMES), n_parameters))
    values[0, parameter_binning.data_slice(EVENT_TYPES["noise"])] = inputs.noise_events
    cross_sections = {}
    for row, process in enumerate(TEMPLATE_NAMES[1:], start=1):
        subbinning = truth.subbinnings[PROCESS_TOP_BIN[process]]
        x_edges, y_edges = (_axis_edges(subbinning, variable) for variable in ("true_x", "true_y"))
        table = cross_section_table(process, x_edges, y_edges, flux_edges)  # (n_x, n_y, n_flux)
        order = [subbinning.variables.index("true_x"), subbinning.variables.index("true_y"), 2]
        table = np.transpose(table, np.argsort(order))  # to the sub-binning's axis order
        cross_sections[process] = table.reshape(-1, flux_edges.size - 1)
        values[row, parameter_binning.data_slice(PROCESS_TOP_BIN[process])] = cross_sections[process].ravel()
    return XsecTemplates(TEMPLATE_NAMES, values, parameter_binning, cross_sections)


def _axis_edges(binning: Binning, variable: str) -> np.ndarray:
    if not isinstance(binning, RectilinearBinning) or sorted(binning.variables) != ["true_x", "true_y"]:
        raise AnalysisFileError(f"a truth sub-binning must be rectilinear in true_x and true_y, got {binning!r}")
    return binning.axis(variable).edges


# ---------------------------------------------------------------------------- predictors
class XsecChain(NamedTuple):
    """The predictors of the chain.

    ``event_predictor``: cross sections -> true events, ``(K, n_truth)``; ``data_predictor``:
    -> reco events, ``(K, n_reco)``; ``full_chain``: template weights through both;
    ``linearised``: the same as one :class:`MatrixPredictor` ``(K, n_reco, T)``.
    """

    event_predictor: ConcatenatedPredictor
    data_predictor: ComposedPredictor
    full_chain: ComposedPredictor
    linearised: MatrixPredictor
    templates: XsecTemplates


def build_chain(inputs: XsecInputs, templates: XsecTemplates | None = None) -> XsecChain:
    """Flux einsums, noise pass-through, concatenation, response and templates, then linearise.

    Flux throws and detector universes are combined ``"same"``: ``K`` universes in all.
    """
    templates = templates or cross_section_templates(inputs)
    truth = inputs.truth_binning
    n_flux = inputs.flux_binning.size
    noise = MatrixPredictor(np.ones((1, 1)), parameter="noise", name="noise")
    cross_section_parts = [
        LinearEinsumPredictor(
            "ij,...j->...i", inputs.flux_throws,
            parameter_shape=(truth.subbinnings[top_bin].size, n_flux), parameter=parameter, name=parameter,
        )
        for top_bin, parameter in ((EVENT_TYPES["background"], "xsec_background"), (EVENT_TYPES["signal"], "xsec_signal"))
    ]
    event_predictor = ConcatenatedPredictor([noise, *cross_section_parts], combine="same", name="true_events")
    response = inputs.response.predictor(parameter="truth", name="response")
    data_predictor = compose(response, event_predictor, into="truth", combine="same")
    template_predictor = TemplatePredictor(templates.values, labels=templates.names, name="templates")
    full_chain = compose(data_predictor, template_predictor, into=list(CHAIN_PARAMETERS), combine="same")
    linearised = linearise(full_chain, name="xsec_templates")
    return XsecChain(event_predictor, data_predictor, full_chain, linearised, templates)


def select_templates(predictor: MatrixPredictor, names: Sequence[str]) -> MatrixPredictor:
    """The template predictor restricted to the templates ``names`` (e.g. model A, no model B)."""
    weights = predictor.parameters[0]
    available = list(weights.labels or ())
    unknown = [name for name in names if name not in available]
    if unknown or not names:
        raise ModelError(f"unknown template(s) {unknown or list(names)}; available: {available}")
    columns = [available.index(name) for name in names]
    return MatrixPredictor(
        predictor.matrix[:, :, columns], variation_weights=predictor.variation_weights,
        parameter=weights.name, lower=weights.lower, upper=weights.upper, default=1.0,
        name=f"{predictor.name}[{', '.join(names)}]", labels=list(names), dim=weights.dim,
    )


class FluxTemplatePredictor(Predictor):
    """Template weights and a continuous flux -> reco events, with ``K`` detector universes.

    ``expected[k, i] = sum_t w_t (constant[k, i, t] + sum_j flux_coefficients[k, i, t, j] flux_j)``:
    bilinear in the weights ``w`` (``(T,)``, ``>= 0``) and the flux (``(n_flux,)``, exposure per
    energy bin). The flux is unbounded below so that a multivariate normal nuisance can move it
    freely (bins with almost no flux may go slightly negative; the reco bins stay positive).

    Parameters
    ----------
    flux_coefficients:
        ``(K, n_reco, T, n_flux)`` reco events per unit weight and unit exposure in each energy bin.
    constant:
        ``(K, n_reco, T)`` flux-independent reco events per unit weight (the noise).
    """

    def __init__(
        self,
        flux_coefficients: np.ndarray,
        constant: np.ndarray,
        *,
        labels: Sequence[str],
        variation_weights: Any = None,
        nominal_flux: Any = 1.0,
        name: str = "flux_templates",
    ) -> None:
        self.name = name
        flux_coefficients = np.asarray(flux_coefficients, dtype=float)
        constant = np.asarray(constant, dtype=float)
        if flux_coefficients.ndim != 4 or constant.shape != flux_coefficients.shape[:3]:
            raise PredictorError(
                f"{name}: flux_coefficients must be (K, n_reco, T, n_flux) and constant (K, n_reco, T); got "
                f"{flux_coefficients.shape} and {constant.shape}"
            )
        n_variations, self.n_out, n_templates, n_flux = flux_coefficients.shape
        self.flux_coefficients, self.constant = flux_coefficients, constant
        self._set_variation_weights(variation_weights, n_variations)
        self.parameters = (
            Parameter("weights", (n_templates,), lower=0.0, default=1.0, labels=tuple(labels), dim="template"),
            Parameter("flux", (n_flux,), default=nominal_flux, dim="flux_bin"),
        )

    def expected(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        """``(K, n_reco)`` graph."""
        weights = pt.as_tensor_variable(params["weights"])
        flux = pt.as_tensor_variable(params["flux"])
        per_template = pt.dot(pt.constant(self.flux_coefficients), flux) + pt.constant(self.constant)
        return pt.dot(per_template, weights)


def flux_template_predictor(
    inputs: XsecInputs, templates: XsecTemplates, names: Sequence[str] = TEMPLATE_NAMES
) -> FluxTemplatePredictor:
    """The chain with the flux as a parameter instead of throws (detector universes kept).

    Per template ``t``: true events ``sigma_t @ flux`` (noise: ``noise_events``), folded with
    each detector universe's response.
    """
    truth = inputs.truth_binning
    n_flux = inputs.flux_binning.size
    matrices = inputs.response.matrices  # (K, n_reco, n_truth)
    flux_coefficients = np.zeros((*matrices.shape[:2], len(names), n_flux))
    constant = np.zeros((*matrices.shape[:2], len(names)))
    for column, name in enumerate(names):
        if name == "noise":
            noise_bins = truth.data_slice(EVENT_TYPES["noise"])
            constant[:, :, column] = inputs.noise_events * matrices[:, :, noise_bins].sum(axis=2)
            continue
        if name not in templates.cross_sections:
            raise ModelError(f"unknown template {name!r}; available: {list(templates.names)}")
        truth_bins = truth.data_slice(PROCESS_TOP_BIN[name])
        flux_coefficients[:, :, column] = matrices[:, :, truth_bins] @ templates.cross_sections[name]
    return FluxTemplatePredictor(
        flux_coefficients, constant, labels=names, variation_weights=inputs.response.weights,
        nominal_flux=inputs.flux_throws.mean(axis=0),
    )


# ---------------------------------------------------------------------------- models
def template_predictor(
    inputs: XsecInputs, chain: XsecChain, *, templates: Sequence[str] = TEMPLATE_NAMES, flux: str = "universes"
) -> tuple[Predictor, list[ThrowConstraint]]:
    """The predictor of the template weights and the constraints of its flux parameter, if any.

    ``flux="universes"``: the linearised chain restricted to ``templates``, ``K`` paired flux
    throws and detector universes, no constraint; ``flux="nuisance"``: the weights and a
    continuous flux (:func:`flux_template_predictor`) with the throws' multivariate normal as
    its constraint.
    """
    if flux not in FLUX_MODES:
        raise ModelError(f"unknown flux treatment {flux!r}; valid: {list(FLUX_MODES)}")
    if flux == "universes":
        return select_templates(chain.linearised, templates), []
    predictor = flux_template_predictor(inputs, chain.templates, templates)
    return predictor, [ThrowConstraint("flux", inputs.flux_throws, weights=inputs.response.weights)]


def template_model(
    inputs: XsecInputs,
    chain: XsecChain,
    *,
    templates: Sequence[str] = TEMPLATE_NAMES,
    flux: str = "universes",
    priors: Mapping[str, Any] | None = None,
    observed: Any = None,
    allow_noninteger: bool = False,
) -> BinnedModel:
    """A :class:`BinnedModel` of the template weights ``templates``.

    ``flux="universes"``: the ``K`` paired flux throws and detector universes are marginalised;
    ``flux="nuisance"``: the flux is a multivariate normal nuisance estimated from the throws and
    only the detector universes are marginalised. ``priors`` default to flat (ML fits); the
    weights are called ``"weights"`` (one per template, labelled by name).
    """
    counts = inputs.observed if observed is None else observed
    predictor, constraints = template_predictor(inputs, chain, templates=templates, flux=flux)
    return BinnedModel(
        predictor, counts, priors=priors, systematics="marginalise", constraints=constraints,
        allow_noninteger=allow_noninteger,
    )


def load_inputs(
    source: str = "toy",
    *,
    seed: int = 20190601,
    remu_dir: str | Path | None = None,
    years_simulated: float = 100.0,
) -> XsecInputs:
    """Inputs by name (the entry point of analysis files' ``cross_section`` section).

    ``source``: ``"toy"`` (the toy experiment simulated with ``seed``, ``years_simulated`` years of
    simulation) or ``"remu"`` (ReMU's example files in ``remu_dir``, flux throws sampled with ``seed``).
    """
    if source == "toy":
        return toy_inputs(seed, years_simulated=years_simulated)
    if source == "remu":
        if remu_dir is None:
            raise ModelError("source 'remu' needs remu_dir, the folder of ReMU's examples (with 00/, 01/, 05/)")
        return remu_inputs(remu_dir, flux_seed=seed)
    raise ModelError(f"unknown cross-section source {source!r}; valid: ['toy', 'remu']")
