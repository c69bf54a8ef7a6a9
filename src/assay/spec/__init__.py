"""valohai.yaml (+ assay.yaml) → frozen, validated objects. Pure: no database, no processes."""

from assay.spec.loader import SpecCheck, check_spec, check_text, load_spec
from assay.spec.model import Edge, Input, Node, NodeAction, Parameter, Pipeline, Spec, Step

__all__ = [
    "Edge",
    "Input",
    "Node",
    "NodeAction",
    "Parameter",
    "Pipeline",
    "Spec",
    "SpecCheck",
    "Step",
    "check_spec",
    "check_text",
    "load_spec",
]
