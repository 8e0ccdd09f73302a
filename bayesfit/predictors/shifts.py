"""Detector-like systematics given as nominal and +-1 sigma predictions, driven by nuisance parameters.

A detector systematic (energy scale, optical efficiency, ...) is often known only through three
simulations: nominal, ``-1 sigma`` (``down``) and ``+1 sigma`` (``up``). :class:`InterpolatedShifts`
wraps any predictor and gives each systematic a scalar nuisance parameter ``alpha`` (``0`` nominal,
``+-1`` the variations), interpolated per bin with HistFactory's codes
(:mod:`bayesfit.interpolation`):

- multiplicative codes ``"4"`` (default) and ``"1"``: ``expected * prod_s f_s(alpha_s)`` with
  ``f_s(+-1) = up_s / nominal`` or ``down_s / nominal`` per bin;
- additive codes ``"4p"`` and ``"0"``: ``expected + sum_s delta_s(alpha_s)`` with
  ``delta_s(+-1) = up_s - nominal`` or ``down_s - nominal`` per bin.

The nuisance parameters are unbounded with default 0; give them standard-normal priors in the model
(``priors={"energy_scale": {"Normal": {"mu": 0, "sigma": 1}}}``) — or a wider prior, or a prior on
the width itself — to treat the systematic as a continuous nuisance. Bins where the nominal
prediction is 0 are not varied by multiplicative codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytensor.tensor as pt

from bayesfit.errors import PredictorError
from bayesfit.interpolation import ADDITIVE_CODES, MULTIPLICATIVE_CODES, additive_shift, multiplicative_factor
from bayesfit.predictors.base import Parameter, Predictor, TensorLike

__all__ = ["InterpolatedShifts"]


class InterpolatedShifts(Predictor):
    """A predictor with +-1 sigma systematic variations interpolated by nuisance parameters.

    Parameters
    ----------
    predictor:
        The nominal predictor; its parameters are kept.
    nominal:
        The nominal expectation the variations refer to, ``(n_out,)``.
    variations:
        ``{systematic name: (down, up)}``, each ``(n_out,)`` expected counts at -1 and +1 sigma.
        Each name becomes a scalar nuisance parameter.
    code:
        Interpolation code: ``"4"`` or ``"1"`` (multiplicative), ``"4p"`` or ``"0"`` (additive).
    """

    def __init__(
        self,
        predictor: Predictor,
        nominal: Any,
        variations: Mapping[str, tuple[Any, Any]],
        *,
        code: str = "4",
        name: str | None = None,
    ) -> None:
        self.name = name or f"{predictor.name}+shifts"
        self.predictor = predictor
        self.n_out = predictor.n_out
        self.variation_weights = predictor.variation_weights
        self.code = str(code).removeprefix("code")
        if self.code not in {**ADDITIVE_CODES, **MULTIPLICATIVE_CODES}:
            raise PredictorError(
                f"{self.name}: unknown interpolation code {code!r}; choose one of "
                f"{sorted({**ADDITIVE_CODES, **MULTIPLICATIVE_CODES})}"
            )
        if not variations:
            raise PredictorError(f"{self.name}: no variations given")
        clash = sorted(set(variations) & set(predictor.parameter_names))
        if clash:
            raise PredictorError(f"{self.name}: systematic name(s) {clash} clash with parameters of {predictor.name!r}")
        self.nominal = self._checked("nominal", nominal)
        self.systematics = tuple(variations)
        self.down = np.stack([self._checked(f"{s} down", variations[s][0]) for s in self.systematics])
        self.up = np.stack([self._checked(f"{s} up", variations[s][1]) for s in self.systematics])
        self.parameters = predictor.parameters + tuple(Parameter(s, default=0.0) for s in self.systematics)
        if self.multiplicative:
            self._ratio_down, self._ratio_up = self._ratios()

    @property
    def multiplicative(self) -> bool:
        """Whether the code multiplies (``"1"``, ``"4"``) rather than adds (``"0"``, ``"4p"``)."""
        return self.code in MULTIPLICATIVE_CODES

    def _checked(self, what: str, values: Any) -> np.ndarray:
        array = np.asarray(values, dtype=float)
        if array.shape != (self.n_out,):
            raise PredictorError(f"{self.name}: {what} has shape {array.shape}, expected ({self.n_out},)")
        bad = ~np.isfinite(array) | (array < 0)
        if bad.any():
            raise PredictorError(
                f"{self.name}: {what} has {int(bad.sum())} negative or non-finite entries, first in bin "
                f"{int(np.argmax(bad))}"
            )
        return array

    def _ratios(self) -> tuple[np.ndarray, np.ndarray]:
        """``down / nominal`` and ``up / nominal`` per systematic and bin (1 where nominal is 0)."""
        empty = self.nominal == 0
        safe = np.where(empty, 1.0, self.nominal)
        ratio_down = np.where(empty, 1.0, self.down / safe)
        ratio_up = np.where(empty, 1.0, self.up / safe)
        for label, ratio in (("down", ratio_down), ("up", ratio_up)):
            if np.any(ratio <= 0):
                systematic, bin_index = np.argwhere(ratio <= 0)[0]
                raise PredictorError(
                    f"{self.name}: code {self.code} needs positive variations, but {self.systematics[systematic]} "
                    f"{label} is 0 in bin {bin_index} where the nominal is {self.nominal[bin_index]:g}; "
                    "use an additive code (\"4p\" or \"0\")"
                )
        return ratio_down, ratio_up

    def _alpha(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        return pt.stack([pt.as_tensor_variable(params[s]) for s in self.systematics])

    def _modification(self, alpha: pt.TensorVariable) -> pt.TensorVariable:
        """``(n_out,)`` factor (multiplicative codes) or shift (additive codes) for nuisances ``alpha``."""
        if self.multiplicative:
            factors = multiplicative_factor(alpha[:, None], 1.0, self._ratio_down, self._ratio_up, self.code)
            return pt.prod(factors, axis=0, no_zeros_in_input=True)  # factors are > 0
        return pt.sum(additive_shift(alpha[:, None], self.nominal, self.down, self.up, self.code), axis=0)

    def _apply(self, expected: pt.TensorVariable, modification: pt.TensorVariable) -> pt.TensorVariable:
        return expected * modification if self.multiplicative else expected + modification

    def expected(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable:
        inner = {name: params[name] for name in self.predictor.parameter_names}
        return self._apply(self.predictor.expected(inner), self._modification(self._alpha(params)))

    def expected_sumw2(self, params: Mapping[str, TensorLike]) -> pt.TensorVariable | None:
        inner = {name: params[name] for name in self.predictor.parameter_names}
        sumw2 = self.predictor.expected_sumw2(inner)
        if sumw2 is None or not self.multiplicative:
            return sumw2
        return sumw2 * self._modification(self._alpha(params)) ** 2
