"""The ``df.coreclaw`` accessor: the analysis, plots and report as methods of a run frame.

Registering an accessor lets notebook users chain ``df.query(...).coreclaw.plot_cost()``
without importing anything else. The methods only delegate: each is built from a function of
:mod:`coreclaw_frames.analysis`, :mod:`coreclaw_frames.plots` or :mod:`coreclaw_frames.report`
(which hold the logic and the validation) by :class:`FrameMethod`, and shows that function's
parameters (the frame aside) and docstring. A new function of a run frame is one line here.
Plotting modules are imported on first use, so importing the package does not import
matplotlib.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable
from typing import Any

import pandas as pd

from coreclaw_frames.display import ReadableFrame

__all__ = ["CoreClawAccessor", "FrameMethod"]


class FrameMethod:
    """An accessor method built from the function of a run frame that it is named after.

    ``df.coreclaw.name(*args, **kwargs)`` is ``module.name(df, *args, **kwargs)``. The
    function is imported when the method is first looked up; the method has its signature
    without the first parameter (the frame), so ``help`` and ``inspect.signature`` show the
    real parameters, and its docstring.

    Examples
    --------
    >>> inspect.signature(CoreClawAccessor.period_totals)
    <Signature (self, freq: 'str' = 'M', *, now: 'object' = None) -> 'pd.DataFrame'>
    """

    def __init__(self, module: str) -> None:
        self.module = module
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @functools.cached_property
    def function(self) -> Callable[..., Any]:
        """The function the method calls, imported on first use."""
        function: Callable[..., Any] = getattr(importlib.import_module(self.module), self.name)
        return function

    @functools.cached_property
    def signature(self) -> inspect.Signature:
        """The function's signature without its first parameter (the frame)."""
        signature = inspect.signature(self.function)
        return signature.replace(parameters=list(signature.parameters.values())[1:])

    @functools.cached_property
    def doc(self) -> str:
        """The function's docstring, after a line saying which function it is."""
        where = f"``df.coreclaw.{self.name}(...)`` is :func:`{self.module}.{self.name}` of ``df``."
        return f"{where}\n\n{inspect.getdoc(self.function) or ''}"

    def __get__(self, accessor: Any, owner: type) -> Callable[..., Any]:
        signature = self.signature
        if accessor is None:  # looked up on the class: a function of the accessor
            method = _of_accessor(self.function)
            first = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
            signature = signature.replace(parameters=[first, *signature.parameters.values()])
        else:
            method = _of_frame(self.function, accessor._frame)
        method.__name__ = self.name
        method.__qualname__ = f"{owner.__name__}.{self.name}"
        method.__module__ = owner.__module__
        method.__doc__ = self.doc
        method.__signature__ = signature  # type: ignore[attr-defined]
        return method


def _of_frame(function: Callable[..., Any], frame: pd.DataFrame) -> Callable[..., Any]:
    def method(*args: Any, **kwargs: Any) -> Any:
        return function(frame, *args, **kwargs)

    return method


def _of_accessor(function: Callable[..., Any]) -> Callable[..., Any]:
    def method(self: CoreClawAccessor, *args: Any, **kwargs: Any) -> Any:
        return function(self._frame, *args, **kwargs)

    return method


@pd.api.extensions.register_dataframe_accessor("coreclaw")
class CoreClawAccessor:
    """Run-frame methods under ``df.coreclaw``: each one is the function of the same name,
    called with the frame (see :class:`FrameMethod`).

    Examples
    --------
    >>> from coreclaw_frames.sandbox import build_account, run_frame
    >>> df = run_frame(build_account(seed=0, runs=300), api_version="v1")
    >>> list(df.coreclaw.summary(by="status").index)
    ['ready', 'running', 'succeeded', 'failed', 'aborting', 'aborted']
    """

    def __init__(self, pandas_obj: pd.DataFrame) -> None:
        self._frame = pandas_obj

    def readable(self) -> pd.DataFrame:
        """The frame as it is, shown readably: costs in dollars, durations as ``h:mm:ss``,
        traffic in binary units (a :class:`~coreclaw_frames.display.ReadableFrame`).

        Examples
        --------
        >>> df.head().coreclaw.readable()  # doctest: +SKIP
        """
        return ReadableFrame(self._frame)

    summary = FrameMethod("coreclaw_frames.analysis")
    failure_costs = FrameMethod("coreclaw_frames.analysis")
    period_totals = FrameMethod("coreclaw_frames.analysis")
    spend_outlook = FrameMethod("coreclaw_frames.analysis")
    cost_anomalies = FrameMethod("coreclaw_frames.analysis")
    version_regressions = FrameMethod("coreclaw_frames.analysis")
    plot_cost = FrameMethod("coreclaw_frames.plots")
    plot_duration = FrameMethod("coreclaw_frames.plots")
    plot_cost_over_time = FrameMethod("coreclaw_frames.plots")
    cost_report = FrameMethod("coreclaw_frames.report")
