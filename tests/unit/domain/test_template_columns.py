"""The columns an upload card lists and its template CSV carries are exactly the columns the
ingest reads: every schema column, each required one marked required, no other column, and
the template's header passes the upload's own header check with nothing reported unused."""

from __future__ import annotations

import csv
import io

import pytest

from carbon_domain import csv_rows
from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, DataEntryType, ModuleType
from carbon_domain.csv_rows.fields import Col
from carbon_domain.csv_rows.schemas import COMMON_ENTRY_COLS, ENTRY_SCHEMAS, FACTOR_SCHEMAS
from carbon_domain.csv_rows.template_columns import template_csv, upload_columns

SCOPES = [(m, d) for m in ModuleType for d in (None, *MODULE_DATA_ENTRY_TYPES[m])]


def _schema_cols(kind: str, det: DataEntryType) -> list[Col]:
    if kind == "factors":
        s = FACTOR_SCHEMAS[int(det)]
        return [*s.classification, *s.values]
    return [*ENTRY_SCHEMAS[int(det)].cols, *COMMON_ENTRY_COLS]


def _header(text: str) -> list[str]:
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 1, "a template is a header row only"
    return rows[0]


@pytest.mark.parametrize("kind", ["factors", "data-entries"])
@pytest.mark.parametrize(("module", "det"), SCOPES,
                         ids=[f"{m.name}-{d.name if d else 'module'}" for m, d in SCOPES])
def test_template_columns_are_the_ingest_schema_columns(kind: str, module: ModuleType,
                                                        det: DataEntryType | None) -> None:
    cols = upload_columns(kind, module.value, det.value if det else None)
    dets = [det] if det else list(MODULE_DATA_ENTRY_TYPES[module])
    expected = {c.name for d in dets for c in _schema_cols(kind, d)}
    required = {c.name for d in dets for c in _schema_cols(kind, d) if c.in_header}
    extra = set()
    if kind == "data-entries":
        extra.add(csv_rows.UNIT_COLUMN)
    if det is None and len(dets) > 1:
        extra.add("data_entry_type")
    assert set(cols.header) == expected | extra
    assert set(cols.required) == required | extra
    assert len(cols.header) == len(set(cols.header))
    header = _header(template_csv(cols))
    assert header == list(cols.header)
    # The upload's own checks: the header is usable and no column goes unread.
    if kind == "factors":
        assert csv_rows.factor_header_problem(module, det, header) is None
        known = csv_rows.factor_known_columns(module, det)
    else:
        assert csv_rows.entry_header_problem(module, det, header) is None
        known = csv_rows.entry_known_columns(module, det)
    assert csv_rows.unknown_columns(header, known) == ([], 0)
    # Leaving out any required column is what the upload refuses.
    for name in cols.required:
        if name == "data_entry_type":
            continue
        without = [h for h in header if h != name]
        problem = (csv_rows.factor_header_problem(module, det, without) if kind == "factors"
                   else csv_rows.entry_header_problem(module, det, without))
        if det is not None or len(dets) == 1:
            assert problem is not None and name in problem, (name, problem)


@pytest.mark.parametrize("kind", list(csv_rows.REFERENCE_MODELS))
def test_reference_templates_are_the_row_models(kind: str) -> None:
    cols = upload_columns(kind)
    fields = csv_rows.REFERENCE_MODELS[kind].model_fields
    assert set(cols.header) == set(fields)
    assert set(cols.required) == {n for n, f in fields.items() if f.is_required()}
    header = _header(template_csv(cols))
    assert csv_rows.reference_header_problem(kind, header) is None
    assert csv_rows.unknown_columns(header, csv_rows.reference_known_columns(kind)) == ([], 0)


def test_unknown_scopes_have_no_template() -> None:
    with pytest.raises(ValueError):
        upload_columns("factors", ModuleType.equipment.value, DataEntryType.plane.value)
    with pytest.raises(ValueError):
        upload_columns("factors")
    with pytest.raises(ValueError):
        upload_columns("nonsense", 1)
