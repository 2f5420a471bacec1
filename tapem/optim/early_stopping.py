"""``EarlyStopping``: stop training when the eval loss stops improving; keep the best parameters."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from tapem.errors import check_int, require_keys
from tapem.optim.optimizer import check_range

__all__ = ["EarlyStopping"]


class EarlyStopping:
    """Stop :func:`~tapem.fit` once the eval loss has not improved for ``patience`` epochs in a
    row (Keras' and Lightning's ``EarlyStopping`` on ``val_loss``).

    An epoch improves when its eval loss is below ``best - min_delta`` (the first epoch always
    does). Each epoch that does not adds one to ``wait``; at ``wait >= patience`` training stops
    (with ``patience=0``, at the first such epoch). With ``restore_best_params`` (the default)
    ``fit`` returns the parameters of the best epoch, whether it stopped early or not.
    ``best``, ``best_epoch`` (1-based), ``best_params``, ``wait`` and ``stopped_epoch`` (0: not
    stopped) describe the run so far; :meth:`state_dict` saves them for a resumed run.

    >>> import numpy as np
    >>> stopper = EarlyStopping(patience=2)
    >>> losses = [3.0, 2.0, 2.5, 2.1, 1.0]
    >>> [stopper.update(e, loss, {"w": np.array(e)}) for e, loss in enumerate(losses, 1)]
    [False, False, False, True, True]
    >>> stopper.best, stopper.best_epoch, stopper.stopped_epoch, int(stopper.best_params["w"])
    (2.0, 2, 4, 2)
    """

    def __init__(
        self, patience: int = 3, min_delta: float = 0.0, restore_best_params: bool = True
    ) -> None:
        self.patience = check_int("EarlyStopping", "patience", patience, 0)
        self.min_delta = check_range("EarlyStopping", "min_delta", min_delta, 0.0)
        self.restore_best_params = bool(restore_best_params)
        self.best = math.inf
        self.best_epoch = 0
        self.best_params: dict[Any, np.ndarray] | None = None
        self.wait = 0
        self.stopped_epoch = 0

    @property
    def stopped(self) -> bool:
        """Whether training has stopped (later updates change nothing)."""
        return self.stopped_epoch > 0

    def update(self, epoch: int, loss: float, params: Mapping[Any, np.ndarray]) -> bool:
        """Record epoch ``epoch``'s eval ``loss`` and ``params``; whether to stop now."""
        if self.stopped:
            return True
        if float(loss) < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = float(loss), epoch, 0
            self.best_params = dict(params)
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
        return self.stopped

    def state_dict(self) -> dict[str, Any]:
        """``best``, ``best_epoch``, ``best_params``, ``wait`` and ``stopped_epoch``."""
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "best_params": None if self.best_params is None else dict(self.best_params),
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`. Nothing changes on error."""
        names = ("best", "best_epoch", "best_params", "wait", "stopped_epoch")
        require_keys("EarlyStopping.load_state_dict", state, names)
        saved_params = state["best_params"]
        best, best_epoch = float(state["best"]), int(state["best_epoch"])
        best_params = None if saved_params is None else dict(saved_params)
        wait, stopped_epoch = int(state["wait"]), int(state["stopped_epoch"])
        self.best, self.best_epoch, self.best_params = best, best_epoch, best_params
        self.wait, self.stopped_epoch = wait, stopped_epoch
