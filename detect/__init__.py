"""Blockpage fingerprints and the outcome classifier: what a capture shows happened to a page."""
from .classify import Observation, Outcome, classify
from .fingerprints import FingerprintFileError, FingerprintSet, LoadReport, Match, load_fingerprints
from .observe import observe, observe_failure
from .outcomes import LABELS
from .textdiff import diff_lines, similarity

__all__ = ["LABELS", "FingerprintFileError", "FingerprintSet", "LoadReport", "Match", "Observation", "Outcome",
           "classify", "diff_lines", "load_fingerprints", "observe", "observe_failure", "similarity"]
