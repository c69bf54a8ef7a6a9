"""Random YAML never crashes the loader: it gives a SpecError or a valid spec, nothing else."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.errors import SpecError
from assay.spec import check_text, load_spec

KEYS = [
    "step",
    "pipeline",
    "name",
    "image",
    "command",
    "inputs",
    "parameters",
    "nodes",
    "edges",
    "type",
    "default",
    "actions",
    "when",
    "then",
    "if",
    "override",
    "task",
    "endpoint",
    "x",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(KEYS),
    st.sampled_from(["a.output.*", "b.inputs.x", "a.b", "{parameters}"]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=5),
    ),
    max_leaves=25,
)
documents = st.lists(st.dictionaries(st.sampled_from(KEYS), values, max_size=4), max_size=4)


def _loads_or_spec_error(text: str, tmp_path: Path) -> None:
    check = check_text(text)
    if check.spec is None:
        assert check.errors, "a file that cannot load says why"
    else:  # every error it has stops just one pipeline, which is kept out of the runnable ones
        broken = [p for problems in check.spec.broken.values() for p in problems]
        assert sorted(broken, key=repr) == sorted(check.errors, key=repr)
        assert not set(check.spec.broken) & set(check.spec.pipelines)
    path = tmp_path / "valohai.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_spec(path)
    except SpecError as exc:
        assert exc.problems, "a SpecError always says where"  # noqa: PT017 - loading may also succeed


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents)
def test_structured_yaml_never_crashes(tmp_path: Path, document: object) -> None:
    _loads_or_spec_error(yaml.safe_dump(document), tmp_path)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.sampled_from(list("- :{}[]\n\t'\"#&*!|>%@`abcstep0.")), max_size=80))
def test_arbitrary_text_never_crashes(tmp_path: Path, text: str) -> None:
    _loads_or_spec_error(text, tmp_path)
