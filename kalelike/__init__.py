"""nb2pipe: convert tagged Jupyter notebooks into Kubeflow Pipelines v2 scripts."""

from kalelike.conversion import analyze, convert

__all__ = ["analyze", "convert"]
__version__ = "0.1.0"
