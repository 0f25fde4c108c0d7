"""Evaluation: benchmark readers, the one-pass-evaluation (OPE) runner, metrics and reports."""
