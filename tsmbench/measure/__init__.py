"""Measuring: FLOPs, accuracy, timing statistics, energy.

Submodules import torch; this package does not. Accuracy: `from tsmbench.measure.evaluate import
evaluate, eval_record, EvalResult`.
"""
from __future__ import annotations
