"""Displays (scikit-learn's Display style) for robustness curves and importances."""

import numpy as np
import pandas as pd

from skmm.exceptions import InvalidSampleError
from skmm.robustness._evaluation import (
    modality_importance,
    relative_robustness,
    robustness_curve,
)

__all__ = [
    "ModalityImportanceDisplay",
    "RobustnessDisplay",
    "plot_robustness_comparison",
]


def _axes(ax):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    return ax


def _stack(results, name):
    """One tidy frame with an ``estimator`` column from a frame or a dict."""
    if isinstance(results, dict):
        frames = [_stack(r, n) for n, r in results.items()]
        return pd.concat(frames, ignore_index=True)
    if not isinstance(results, pd.DataFrame) or not {"severity", "score"} <= set(
        results.columns
    ):
        raise ValueError(
            "results must be a DataFrame from robustness_curve (columns "
            "'severity' and 'score'), or a dict {name: such DataFrame}."
        )
    frame = results.copy()
    if "estimator" not in frame.columns:
        frame.insert(0, "estimator", name if name is not None else "estimator")
    elif name is not None:
        frame["estimator"] = name
    if "corruption" not in frame.columns:
        frame["corruption"] = ""
    return frame


class RobustnessDisplay:
    """Robustness curves: score against corruption severity.

    One line per estimator and corruption (mean over repeats) with a band of
    one standard deviation. Build it with :meth:`from_estimator` or
    :meth:`from_results`; draw several estimators on one axes by passing a
    dict, or by passing ``ax=display.ax_`` to a second call.

    Parameters
    ----------
    results : DataFrame
        Tidy results with columns ``estimator``, ``corruption``, ``severity``,
        ``repeat`` and ``score`` (as :func:`robustness_curve` returns, plus the
        ``estimator`` column).

    Attributes
    ----------
    lines_ : dict of (estimator, corruption) to matplotlib Line2D
    relative_robustness_ : dict of (estimator, corruption) to float
        Area under each mean curve (see :func:`relative_robustness`).
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    See Also
    --------
    robustness_curve : Compute the curves.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from skmm.robustness import RobustnessDisplay
    >>> results = pd.DataFrame(
    ...     {"severity": [0.0, 0.5, 1.0], "repeat": 0, "score": [0.9, 0.8, 0.5]}
    ... )
    >>> display = RobustnessDisplay.from_results({"fused": results})
    >>> round(display.relative_robustness_[("fused", "")], 3)
    0.75
    """

    def __init__(self, results):
        self.results = results

    def plot(self, ax=None, *, show_std=True, **line_kwargs):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on (a new figure when None).
        show_std : bool, default=True
            Shade one standard deviation over repeats.
        **line_kwargs : dict
            Passed to ``ax.plot``.

        Returns
        -------
        display : RobustnessDisplay
            The display itself, with ``lines_``, ``relative_robustness_``,
            ``ax_`` and ``figure_`` set.
        """
        ax = _axes(ax)
        results = _stack(self.results, None)
        stats = (
            results.groupby(["estimator", "corruption", "severity"], sort=False)[
                "score"
            ]
            .agg(["mean", "std"])
            .reset_index()
            .sort_values("severity", kind="stable")
        )
        self.lines_, self.relative_robustness_ = {}, {}
        multi = stats["corruption"].nunique() > 1
        for (est, corr), group in stats.groupby(
            ["estimator", "corruption"], sort=False
        ):
            s, mean = group["severity"].to_numpy(), group["mean"].to_numpy()
            label = f"{est} ({corr})" if multi and corr else str(est)
            (line,) = ax.plot(s, mean, marker="o", label=label, **line_kwargs)
            std = np.nan_to_num(group["std"].to_numpy())
            if show_std and std.any():
                ax.fill_between(
                    s, mean - std, mean + std, alpha=0.2, color=line.get_color()
                )
            self.lines_[(est, corr)] = line
            if s.size > 1:
                self.relative_robustness_[(est, corr)] = relative_robustness(s, mean)
        ax.set_xlabel("corruption severity")
        ax.set_ylabel("score")
        ax.legend(loc="best")
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_results(cls, results, *, name=None, ax=None, show_std=True, **kwargs):
        """Plot curves computed by :func:`robustness_curve`.

        Parameters
        ----------
        results : DataFrame or dict of str to DataFrame
            One result, or ``{estimator name: result}`` for several lines.
        name : str, default=None
            Estimator name of a single result.
        ax : matplotlib Axes, default=None
        show_std : bool, default=True
        **kwargs : dict
            Passed to ``ax.plot``.

        Returns
        -------
        display : RobustnessDisplay
        """
        return cls(_stack(results, name)).plot(ax=ax, show_std=show_std, **kwargs)

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        corruption,
        severities=None,
        *,
        scoring=None,
        n_repeats=5,
        random_state=None,
        name=None,
        ax=None,
        show_std=True,
        **kwargs,
    ):
        """Compute robustness curves of fitted estimators and plot them.

        Parameters
        ----------
        estimator : estimator instance or dict of str to estimator
            A fitted estimator, or ``{name: fitted estimator}`` for several
            lines on one axes.
        X, y, corruption, severities, scoring, n_repeats, random_state
            As in :func:`robustness_curve` (every estimator sees the same
            corrupted draws).
        name : str, default=None
            Name of a single estimator (default: its class name).
        ax : matplotlib Axes, default=None
        show_std : bool, default=True
        **kwargs : dict
            Passed to ``ax.plot``.

        Returns
        -------
        display : RobustnessDisplay
        """
        estimators = (
            estimator
            if isinstance(estimator, dict)
            else {name or type(estimator).__name__: estimator}
        )
        results = {
            n: robustness_curve(
                est,
                X,
                y,
                corruption,
                severities,
                scoring=scoring,
                n_repeats=n_repeats,
                random_state=random_state,
            )
            for n, est in estimators.items()
        }
        return cls.from_results(results, ax=ax, show_std=show_std, **kwargs)


class ModalityImportanceDisplay:
    """Bar plot of :func:`modality_importance`.

    Parameters
    ----------
    importances : Bunch
        Output of :func:`modality_importance`.

    Attributes
    ----------
    bars_ : matplotlib BarContainer
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn.utils import Bunch
    >>> from skmm.robustness import ModalityImportanceDisplay
    >>> result = Bunch(
    ...     importances_mean=np.array([0.3, 0.05]),
    ...     importances_std=np.array([0.02, 0.01]),
    ...     modalities=np.array(["audio", "text"], dtype=object),
    ... )
    >>> len(ModalityImportanceDisplay(result).plot().bars_)
    2
    """

    def __init__(self, importances):
        self.importances = importances

    def plot(self, ax=None, **bar_kwargs):
        """Draw horizontal bars (largest importance on top) with std error bars.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on (a new figure when None).
        **bar_kwargs : dict
            Passed to ``ax.barh``.

        Returns
        -------
        display : ModalityImportanceDisplay
            The display itself, with ``bars_``, ``ax_`` and ``figure_`` set.
        """
        ax = _axes(ax)
        mean = np.asarray(self.importances.importances_mean)
        std = np.asarray(self.importances.importances_std)
        names = [str(m) for m in self.importances.modalities]
        order = np.argsort(mean)
        self.bars_ = ax.barh(
            [names[i] for i in order], mean[order], xerr=std[order], **bar_kwargs
        )
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_xlabel("score drop without the modality")
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        method="drop",
        modalities=None,
        n_repeats=5,
        scoring=None,
        random_state=None,
        ax=None,
        **kwargs,
    ):
        """Compute :func:`modality_importance` and plot it.

        Parameters
        ----------
        estimator, X, y, method, modalities, n_repeats, scoring, random_state
            As in :func:`modality_importance`.
        ax : matplotlib Axes, default=None
        **kwargs : dict
            Passed to ``ax.barh``.

        Returns
        -------
        display : ModalityImportanceDisplay
        """
        result = modality_importance(
            estimator,
            X,
            y,
            method=method,
            modalities=modalities,
            n_repeats=n_repeats,
            scoring=scoring,
            random_state=random_state,
        )
        return cls(result).plot(ax=ax, **kwargs)

    @classmethod
    def from_importances(cls, importances, *, ax=None, **kwargs):
        """Plot a :func:`modality_importance` result.

        Returns
        -------
        display : ModalityImportanceDisplay
        """
        return cls(importances).plot(ax=ax, **kwargs)


def plot_robustness_comparison(
    estimators,
    X,
    y,
    corruptions,
    *,
    severities=(0.0, 0.25, 0.5, 0.75, 1.0),
    missing=None,
    scoring=None,
    n_repeats=1,
    random_state=0,
    path=None,
    title=None,
):
    """Two-panel robustness figure: noise curves and missing modalities.

    Left: score of each fitted estimator as each corruption's severity rises.
    Right: score with all data, and with each modality missing for every
    sample (grouped bars). Made for ``skmm demo`` (the best fused against the
    best unimodal pipeline), usable on any fitted estimators of a raw table.

    Parameters
    ----------
    estimators : dict of str to estimator
        Fitted estimators taking ``X``.
    X : DataFrame
        Raw test table.
    y : array-like of shape (n_samples,)
        Test targets.
    corruptions : dict of str to transformer
        ``{label: corruption}`` as in :func:`robustness_curve`, e.g.
        ``{"audio noise": ModalityCorruptor("audio", "white_noise", sr=8000)}``.
    severities : sequence of float, default=(0, 0.25, 0.5, 0.75, 1)
        Severity levels of the curves in the left panel.
    missing : list of str, default=None
        Modalities to remove in the right panel (default: every column). An
        estimator left with no modality to predict from (one that reads only
        the removed modality) scores NaN there, drawn as "n/a".
    scoring : str, callable or None, default=None
        As in :func:`robustness_curve`; None uses each estimator's ``score``.
    n_repeats : int, default=1
        Corruption draws per severity (see :func:`robustness_curve`).
    random_state : int, default=0
        Seeds of the repeats of the curves.
    path : str or path-like, default=None
        Save the figure there (PNG, 120 dpi).
    title : str, default=None
        Title over both panels (none when None).

    Returns
    -------
    figure : matplotlib Figure
        The two-panel figure.
    results : DataFrame
        The curves (``estimator``, ``corruption``, ``severity``, ``repeat``,
        ``score``) and the missing-modality scores (``corruption`` is
        ``"<modality> missing"`` or ``"none"``, ``severity`` 1.0 / 0.0).

    See Also
    --------
    robustness_curve : The curves of the left panel.
    RobustnessDisplay : One panel of curves.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from sklearn.dummy import DummyClassifier
    >>> from skmm.robustness import ModalityCorruptor, plot_robustness_comparison
    >>> X = pd.DataFrame({"text": ["big", "small", "big", "small"],
    ...                   "tag": ["a", "b", "a", "b"]})
    >>> y = [1, 0, 1, 0]
    >>> dummy = DummyClassifier().fit(X, y)
    >>> noise = {"word dropout": ModalityCorruptor("text", "word_dropout")}
    >>> fig, results = plot_robustness_comparison(
    ...     {"dummy": dummy}, X, y, noise, severities=[0.0, 1.0]
    ... )
    >>> len(fig.axes)
    2
    >>> sorted(results["corruption"].unique())
    ['none', 'tag missing', 'text missing', 'word dropout']
    """
    import matplotlib.pyplot as plt

    from skmm.robustness._corruptions import drop_modalities

    if not isinstance(estimators, dict) or not estimators:
        raise ValueError("estimators must be a non-empty dict {name: estimator}.")
    curves = {
        name: robustness_curve(
            est,
            X,
            y,
            corruptions,
            severities,
            scoring=scoring,
            n_repeats=n_repeats,
            random_state=random_state,
        )
        for name, est in estimators.items()
    }
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    RobustnessDisplay.from_results(curves, ax=left)
    left.set_title("noise on one modality")
    modalities = list(missing) if missing is not None else [str(c) for c in X.columns]
    from sklearn.metrics import check_scoring

    rows = []
    for name, est in estimators.items():
        scorer = check_scoring(est, scoring=scoring)
        rows.append((name, "none", 0.0, 0, float(scorer(est, X, y))))
        for m in modalities:
            Xd = drop_modalities(X, {m: 1.0})
            try:
                score = float(scorer(est, Xd, y))
            except InvalidSampleError:
                # nothing left to predict from (a model of that modality only)
                score = float("nan")
            rows.append((name, f"{m} missing", 1.0, 0, score))
    dropped = pd.DataFrame(
        rows, columns=["estimator", "corruption", "severity", "repeat", "score"]
    )
    conditions = ["none", *[f"{m} missing" for m in modalities]]
    width = 0.8 / len(estimators)
    for k, name in enumerate(estimators):
        scores = dropped[dropped["estimator"] == name].set_index("corruption")["score"]
        positions = np.arange(len(conditions)) + (k - (len(estimators) - 1) / 2) * width
        heights = scores.loc[conditions].to_numpy()
        right.bar(positions, heights, width, label=name)
        for x in positions[np.isnan(heights)]:
            right.text(x, 0.02, "n/a", ha="center", va="bottom", fontsize=8)
    right.set_xticks(np.arange(len(conditions)), ["all present", *conditions[1:]])
    right.set_ylabel("score")
    right.set_title("missing modalities")
    right.legend(loc="best")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    results = pd.concat([_stack(curves, None), dropped], ignore_index=True)
    return fig, results
