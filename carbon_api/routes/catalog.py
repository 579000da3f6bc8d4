"""The catalog: modules with their data entry types, and the emission type tree."""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter

from carbon_api.deps import Viewer
from carbon_api.errors import READ
from carbon_api.schemas import DataEntryTypeOut, EmissionTypeNode, ModuleOut
from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, MODULE_EMISSION_ROOTS
from carbon_domain.emission_types import EmissionType, roots

router = APIRouter(prefix="/catalog", tags=["catalog"], responses=READ)


@router.get("/modules", response_model=list[ModuleOut])
def modules(_: Viewer) -> list[ModuleOut]:
    """The 8 module types with their data entry types (ids and names)."""
    return [ModuleOut(id=m.value, name=m.name,
                      data_entry_types=[DataEntryTypeOut(id=d.value, name=d.name) for d in dets],
                      emission_roots=[int(r) for r in MODULE_EMISSION_ROOTS[m]])
            for m, dets in MODULE_DATA_ENTRY_TYPES.items()]


def _node(t: EmissionType) -> EmissionTypeNode:
    return EmissionTypeNode(value=int(t), path=t.path, name=t.path.rsplit("__", 1)[-1],
                            level=t.level, scope=t.scope, is_leaf=t.is_leaf,
                            children=[_node(c) for c in t.children()])


@cache
def _tree() -> list[EmissionTypeNode]:
    return [_node(r) for r in roots()]


@router.get("/emission-types", response_model=list[EmissionTypeNode])
def emission_types(_: Viewer) -> list[EmissionTypeNode]:
    """The emission type tree: value, path, name, level, scope and children of every node."""
    return _tree()
