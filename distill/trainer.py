"""The training loop's loss: packed rows, and optional logit distillation.

With a teacher model the loss mixes the hard-label loss with the KL divergence to
the teacher's softened logits (Hinton et al.): alpha * CE + (1 - alpha) * T^2 * KL.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel, Trainer

from distill.timebudget import TimeBudget

IGNORE_INDEX = -100


class DistillTrainer(Trainer):
    """Adds the soft-label KL term when a teacher model is given."""

    def __init__(self, *args: Any, teacher_model: PreTrainedModel | None = None,
                 alpha: float = 0.5, temperature: float = 2.0,
                 time_budget: TimeBudget | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.teacher_model = teacher_model
        self.alpha = alpha
        self.temperature = temperature
        self.time_budget = time_budget

    def create_scheduler(self, num_training_steps: int,
                         optimizer: torch.optim.Optimizer | None = None) -> Any:
        if self.time_budget is None or self.lr_scheduler is not None:
            return super().create_scheduler(num_training_steps, optimizer)
        optimizer = optimizer or self.optimizer
        assert optimizer is not None, "the Trainer creates its optimizer first"
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, self.time_budget.lr_factor)
        return self.lr_scheduler

    def compute_loss(self, model: torch.nn.Module, inputs: dict[str, torch.Tensor | Any],
                     return_outputs: bool = False,
                     num_items_in_batch: torch.Tensor | int | None = None) -> Any:
        outputs = packed_forward(model, inputs)
        if self.teacher_model is None:
            return (outputs.loss, outputs) if return_outputs else outputs.loss
        with torch.no_grad():
            teacher_logits = packed_forward(self.teacher_model, inputs).logits
        loss = distillation_loss(
            outputs.logits, teacher_logits, inputs["labels"], outputs.loss,
            self.alpha, self.temperature,
        )
        return (loss, outputs) if return_outputs else loss


def packed_forward(model: Any, inputs: dict[str, torch.Tensor]) -> Any:
    """The forward pass on packed rows; without a KV cache, which training never needs.

    With a cache, transformers skips the packed-sequence mask, and each example
    would attend to the ones packed before it.
    """
    return model(**inputs, use_cache=False)


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      labels: torch.Tensor, hard_loss: torch.Tensor,
                      alpha: float, temperature: float) -> torch.Tensor:
    """alpha * CE + (1 - alpha) * T^2 * KL(teacher_T || student_T) on answer tokens."""
    # Logits at position t predict token t+1, as in the hard loss.
    mask = labels[:, 1:] != IGNORE_INDEX
    s = student_logits[:, :-1][mask] / temperature
    t = teacher_logits[:, :-1][mask][..., : s.shape[-1]] / temperature
    kl = F.kl_div(F.log_softmax(s, -1), F.log_softmax(t, -1), log_target=True,
                  reduction="batchmean")
    return alpha * hard_loss + (1 - alpha) * temperature**2 * kl
