"""The policy engine: presets and merchant rules in, one decision per requested case line out, with its reasons."""

from .engine import decide
from .errors import PolicyError
from .compiled import Policy
from .loader import PRESETS, load_policy, load_policy_file, load_preset
from .model import (
                    Anchor,
                    Category,
                    Citation,
                    Customer,
                    Deadline,
                    Decision,
                    Deduction,
                    Gift,
                    LineRequest,
                    Outcome,
                    Payer,
                    Route,
)

__all__ = [
                    "PRESETS",
                    "Anchor",
                    "Category",
                    "Citation",
                    "Customer",
                    "Deadline",
                    "Decision",
                    "Deduction",
                    "Gift",
                    "LineRequest",
                    "Outcome",
                    "Payer",
                    "Policy",
                    "PolicyError",
                    "Route",
                    "decide",
                    "load_policy",
                    "load_policy_file",
                    "load_preset",
]
