"""The pipeline model: what the analysis decides and the renderer writes."""

from dataclasses import dataclass, field
from typing import TypedDict

from kalelike.findings import Finding
from kalelike.settings import NotebookSettings, StepSettings


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str  # int, float, str, bool, list or dict
    default: object
    cell: int


@dataclass(frozen=True)
class Input:
    """A value a step receives: `name` as handed on by step `producer`."""

    name: str
    producer: str


class MagicUse(TypedDict):
    """A magic a cell uses, and what nb2pipe does with it (reported by `inspect`)."""

    cell: int  # notebook index, from 0
    line: int
    magic: str
    policy: str
    meaning: str


@dataclass(frozen=True)
class CodeCell:
    """Code a step runs, labelled with the notebook cell it comes from."""

    cell: int  # notebook index, from 0
    source: str
    ipython: bool = False  # needs IPython's transformer and shell to run
    skip: tuple[str, ...] = ()  # magics (by name) and `!commands` the step skips


@dataclass
class Step:
    name: str
    cells: list[int]
    code: list[CodeCell] = field(default_factory=list)
    after: set[str] = field(default_factory=set)
    inputs: dict[str, Input] = field(default_factory=dict)
    outputs: set[str] = field(default_factory=set)
    parameters: set[str] = field(default_factory=set)
    metrics: list[str] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)
    reimports: dict[str, tuple[int, str]] = field(default_factory=dict)
    # Values this step may change unseen (through an alias, or a call the analysis
    # cannot follow) that a later step reads as they were before: name -> reader.
    # The step fails at run time if one of them changes.
    guards: dict[str, str] = field(default_factory=dict)
    # Values it hands on that may share objects with one another, and that a later
    # step changes: they travel as one object graph, numpy views included.
    together: set[str] = field(default_factory=set)
    settings: StepSettings = field(default_factory=StepSettings)


@dataclass
class Pipeline:
    notebook: str  # the notebook's file name, never a path
    name: str
    description: str
    parameters: list[Parameter]
    steps: list[Step]
    findings: list[Finding]
    base_image: str = ""
    settings: NotebookSettings = field(default_factory=NotebookSettings)
    prelude: list[CodeCell] = field(default_factory=list)  # every step runs it first
    magics: list[MagicUse] = field(default_factory=list)

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)
