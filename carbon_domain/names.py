"""The domain vocabulary: how free-text values from CSVs and entry data map to canonical names.

One place for every alias table, so CSV validation, emission type resolution and factor
matching agree on what "Economy", "Liquid Nitrogen" or "ChatGPT (OpenAI)" mean.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_WORDS = re.compile(r"[0-9a-z]+")


def norm(value: Any) -> str | None:
    """Case-insensitive, whitespace-collapsed form used for matching; blank → None."""
    if value is None:
        return None
    s = " ".join(str(value).split())
    return s.casefold() if s else None


def slug(value: Any) -> str | None:
    """``"Natural gas"`` → ``"natural_gas"``: accents dropped, non-alphanumerics → ``_``."""
    s = norm(value)
    if s is None:
        return None
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return _NON_ALNUM.sub("_", s).strip("_") or None


def compact(value: Any) -> str | None:
    """Room codes: ``"BC 125"``, ``"bc-125"`` and ``"BC125"`` are the same room."""
    s = slug(value)
    return s.replace("_", "") if s else None


def _lookup(table: dict[str, str], value: Any) -> str | None:
    s = slug(value)
    return table.get(s) if s else None


PLANE_CABINS = {"first": "first", "first_class": "first", "business": "business",
                "business_class": "business", "economy": "economy", "eco": "economy",
                "economy_class": "economy"}
TRAIN_CABINS = {"first": "first", "first_class": "first", "1": "first", "1st": "first",
                "class_1": "first", "second": "second", "second_class": "second", "2": "second",
                "2nd": "second", "class_2": "second"}
ROOM_TYPES = {"office": "office", "offices": "office", "laboratories": "laboratories",
              "laboratory": "laboratories", "lab": "laboratories", "labs": "laboratories",
              "archives": "archives", "archive": "archives", "libraries": "libraries",
              "library": "libraries", "auditoriums": "auditoriums", "auditorium": "auditoriums",
              "miscellaneous": "miscellaneous", "misc": "miscellaneous"}
FUELS = {f: f for f in ("natural_gas", "heating_oil", "biomethane", "pellets", "forest_chips",
                        "wood_logs")} | {"gas": "natural_gas", "fuel_oil": "heating_oil",
                                          "wood_pellets": "pellets", "wood_chips": "forest_chips"}
GASES = {"ch4": "ch4", "methane": "ch4", "co2": "co2", "carbon_dioxide": "co2", "n2o": "n2o",
         "nitrous_oxide": "n2o", "refrigerant": "refrigerants", "refrigerants": "refrigerants"}
# Leaf names of external__clouds: compute and storage are the names users write.
CLOUD_SERVICES = {"virtualisation": "virtualisation", "virtualization": "virtualisation",
                  "compute": "calcul", "calcul": "calcul", "computing": "calcul",
                  "storage": "stockage", "stockage": "stockage"}
ENERGY_TYPES = {"electric": "electric", "elec": "electric", "electricity": "electric",
                "electrical": "electric", "thermal": "thermal", "therm": "thermal"}
# "Liquid Nitrogen" is what the templates write; our tree calls the leaf ln2.
LN2_NAMES = frozenset({"ln2", "lin", "liquid_nitrogen", "nitrogen_liquid", "nitrogen_liquide",
                       "azote_liquide", "liquid_n2", "n2_liquid"})
EMBODIED_CATEGORIES = {c.replace("-", "_"): c for c in
                       ("new-tech", "new-env", "ren-tech", "ren-env", "demolition")}
# Bucket → requests per user per day (the bucket's representative value).
AI_REQUEST_BUCKETS = {"1_5": 3.0, "5_20": 12.5, "20_100": 60.0, "gt_100": 100.0}
CURRENCIES = ("eur", "chf", "usd", "gbp", "jpy", "cad", "aud", "cny", "sek")
FACILITY_IT_NAMES = frozenset({"scitas", "rcp"})
ANIMALS = {"mice": "mice", "mouse": "mice", "fish": "fish", "fishes": "fish",
           "zebrafish": "fish"}
_AI_KEYWORDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("google", frozenset({"google", "gemini", "bard", "palm"})),
    ("mistral_ai", frozenset({"mistral", "mistralai"})),
    ("anthropic", frozenset({"anthropic", "claude"})),
    ("openai", frozenset({"openai", "chatgpt", "gpt", "dalle"})),
    ("cohere", frozenset({"cohere"})),
)


def plane_cabin(v: Any) -> str | None:
    return _lookup(PLANE_CABINS, v)


def train_cabin(v: Any) -> str | None:
    return _lookup(TRAIN_CABINS, v)


def room_type(v: Any) -> str | None:
    return _lookup(ROOM_TYPES, v)


def fuel(v: Any) -> str | None:
    return _lookup(FUELS, v)


def gas(v: Any) -> str | None:
    return _lookup(GASES, v)


def cloud_service(v: Any) -> str | None:
    return _lookup(CLOUD_SERVICES, v)


def energy_type(v: Any) -> str | None:
    return _lookup(ENERGY_TYPES, v)


def embodied_category(v: Any) -> str | None:
    return _lookup(EMBODIED_CATEGORIES, v)


def animal(v: Any) -> str | None:
    return _lookup(ANIMALS, v)


def purchase_name(v: Any) -> str | None:
    """Additional purchases: every spelling of liquid nitrogen becomes ``ln2``."""
    s = slug(v)
    if s is None:
        return None
    return "ln2" if s in LN2_NAMES else s


def ai_provider(v: Any) -> str:
    """``"ChatGPT (OpenAI)"`` → ``openai``; a provider we do not list → ``others``.

    The part in parentheses names the company, so it is tried first: "Copilot (Microsoft)"
    is not one of ours even if a product name elsewhere would be.
    """
    s = norm(v) or ""
    inner = re.findall(r"\(([^)]*)\)", s)
    for text in (*inner, s):
        words = set(_WORDS.findall(unicodedata.normalize("NFKD", text)))
        for key, keywords in _AI_KEYWORDS:
            if words & keywords:
                return key
    return "others"


def currency(v: Any) -> str | None:
    s = norm(v)
    return s if s in CURRENCIES else None


def country_code(v: Any) -> str | None:
    """ISO-2 upper case, or the literal ``RoW`` (rest of world) used by train factors."""
    s = norm(v)
    if s is None:
        return None
    if s == "row":
        return "RoW"
    return s.upper() if len(s) == 2 and s.isalpha() and s.isascii() else None


_LABEL_WORDS = {"it": "IT", "ai": "AI", "co2": "CO2"}


def type_label(name: str) -> str:
    """What people call a module or data entry type: ``it_equipment`` → "IT equipment",
    ``external_clouds`` → "External clouds" (the console, the CLI and the status reasons)."""
    words = name.replace("_", " ").split()
    out = [_LABEL_WORDS.get(w.lower(), w) for w in words]
    if out and out[0] == words[0]:
        out[0] = out[0].capitalize()
    return " ".join(out)
