"""Domain errors the API and the CLI map the same way."""

from __future__ import annotations

from carbon_domain.catalog import MODULE_DATA_ENTRY_TYPES, MODULE_OF, DataEntryType, ModuleType


class InvalidInput(ValueError):
    """A request the domain refuses before writing anything: HTTP 422 (shaped like a
    validation error, ``loc`` from ``field``), one red line in the CLI."""

    def __init__(self, message: str, *, field: str, value: object = None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


def check_module_type(module: ModuleType, det: DataEntryType | None) -> None:
    """InvalidInput when ``det`` is not one of ``module``'s data entry types."""
    if det is None or MODULE_OF[det] == module:
        return
    valid = ", ".join(f"{d.value}={d.name}" for d in MODULE_DATA_ENTRY_TYPES[module])
    raise InvalidInput(f"data entry type {det.value} ({det.name}) does not belong to module"
                       f" {module.value} ({module.name}); its types are {valid}",
                       field="data_entry_type_id", value=det.value)
