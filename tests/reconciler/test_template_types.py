"""One source per template type: `core.model.TemplateType`.

The CRD schema (and the chart's byte-identical copy) is checked against the model in
tests/core/test_crd_model_agreement.py and tests/deploy/test_chart_crds.py; here every type the
model admits has a deploy mode once the reconciler has installed its modes, and no mode is
registered for a type the model does not know.
"""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import yaml

from core.model import TemplateType
from reconciler.modes import MODES, mode_for
from reconciler.modes.install import install_modes
from tests.support.fake_sources import LocalSourceFetcher

ROOT = Path(__file__).resolve().parents[2]


def test_every_template_type_has_a_mode_and_every_mode_a_type(tmp_path: Path) -> None:
    saved = dict(MODES)
    try:
        install_modes(LocalSourceFetcher(tmp_path))
        types = set(get_args(TemplateType))
        assert {t for t in types if mode_for(t) is not None} == types
        assert set(MODES) | {"docker"} == types
    finally:
        MODES.clear()
        MODES.update(saved)


def test_the_crd_enum_is_the_models_list() -> None:
    crd = yaml.safe_load((ROOT / "crds" / "projects.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    template = schema["properties"]["spec"]["properties"]["templates"]["properties"]
    enums = {tuple(t["properties"]["type"]["enum"]) for t in template.values()}
    assert enums == {get_args(TemplateType)}
