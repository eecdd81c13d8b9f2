"""What a `pipeline-parameters` cell and `--param` may hold: values KFP hands back
unchanged, or a refusal."""

import pytest

from kalelike.errors import UsageError
from kalelike.model import Parameter
from kalelike.notebook import Cell
from kalelike.parameters import parse_arguments, read_parameters


def read(source: str) -> tuple[list[Parameter], list]:
    return read_parameters([Cell(1, "code", source, ("pipeline-parameters",))])


# KFP passes every number as a 64-bit float, which has ints exact below 2**53.
@pytest.mark.parametrize(
    ("source", "big"),
    [
        ("SEED = 12345678901234567", 12345678901234567),
        ("SEED = 9007199254740992", 2**53),  # exact, but so arrives 2**53 + 1
        ("IDS = [1, -9007199254740993]", -(2**53) - 1),
        ("CFG = {'a': 1, 'b': {'c': [12345678901234567]}}", 12345678901234567),
    ],
)
def test_an_int_a_64_bit_float_cannot_carry_is_refused(source, big):
    parameters, findings = read("N = 1\n" + source)
    assert [p.name for p in parameters] == ["N"]
    [finding] = findings
    assert (finding.cell, finding.line, finding.severity) == (1, 2, "error")
    assert finding.name == source.partition(" ")[0]
    assert f"holds {big}, which would not arrive exactly" in finding.message
    assert "below 2**53" in finding.message


def test_ints_below_2_53_and_large_floats_are_parameters():
    parameters, findings = read("SEED = -9007199254740991\nBIG = [1e300]")
    assert findings == []
    assert [p.default for p in parameters] == [-(2**53) + 1, [1e300]]


@pytest.mark.parametrize(
    ("pair", "name"),
    [
        ("SEED=9007199254740993", "SEED"),
        ("IDS=[1, 9007199254740993]", "IDS"),
        ("SEED=-" + "9" * 999, "SEED"),  # said in short
    ],
)
def test_a_param_a_64_bit_float_cannot_carry_is_refused(pair, name):
    parameters = [Parameter("SEED", "int", 1, 0), Parameter("IDS", "list", [1], 0)]
    with pytest.raises(UsageError) as refused:
        parse_arguments([pair], parameters)
    message = str(refused.value)
    assert message.startswith(f"--param '{name}=")
    assert "would not arrive exactly" in message
    assert message.endswith(f"make {name} a str parameter in the notebook")
    assert len(message) < 300
