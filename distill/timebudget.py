"""Training to a wall-clock budget: `--max-minutes` instead of `--max-steps`.

The demo model must train in 30 minutes on a 2-core machine whose speed varies by
about 5% from run to run, so a fixed step count either overruns on a slow day or
wastes minutes on a fast one. Here the cosine decay runs over elapsed time rather
than steps, and training stops when the budget is spent: every run ends at a fully
decayed learning rate, whatever the machine managed. transformers has no such
schedule (its schedulers are functions of the step), hence this small module.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback


class TimeBudget(TrainerCallback):
    """Linear warm-up over `warmup_steps`, then cosine decay over `budget_s` seconds."""

    def __init__(self, budget_s: float, warmup_steps: int,
                 clock_s: Callable[[], float] = time.monotonic) -> None:
        if budget_s <= 0:
            raise ValueError("the time budget must be positive")
        self.budget_s = budget_s
        self.warmup_steps = max(1, warmup_steps)
        self._clock_s = clock_s
        self._start_s: float | None = None

    def elapsed_fraction(self) -> float:
        # The clock starts at the first question, which is the scheduler's creation
        # inside Trainer.train(): data building and tokenising are not counted.
        if self._start_s is None:
            self._start_s = self._clock_s()
        return min(1.0, (self._clock_s() - self._start_s) / self.budget_s)

    def lr_factor(self, step: int) -> float:
        """The multiplier on the peak learning rate (a LambdaLR function)."""
        decay = 0.5 * (1.0 + math.cos(math.pi * self.elapsed_fraction()))
        return min(1.0, (step + 1) / self.warmup_steps) * decay

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.elapsed_fraction() >= 1.0:
            control.should_training_stop = True
        return control
