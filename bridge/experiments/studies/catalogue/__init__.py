"""The catalogue: every declared study, one module per paper, in the order the tables show them."""

from __future__ import annotations

from bridge.core.errors import UserError
from bridge.experiments.studies.catalogue import cornford, shaw, shen, shervani, spiking
from bridge.experiments.studies.declaration import Study

STUDIES: dict[str, Study] = {study.name: study for module in (shaw, shen, shervani, spiking, cornford)
                             for study in module.STUDIES}


def get_study(name: str) -> Study:
    if name not in STUDIES:
        raise UserError(f"unknown study {name!r}; studies: {', '.join(STUDIES)}")
    return STUDIES[name]
