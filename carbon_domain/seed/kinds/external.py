"""External cloud (40) and AI (41) services: Strategy A on provider / service or usage type.

Cloud EFs are spend-based (kg per EUR); AI EFs are grams per request, the unit the AI
formula expects despite the column's name: it divides by 1000, as the system we replace
does (docs/design.md §2).
"""

from __future__ import annotations

import random

from carbon_domain.catalog import DataEntryType as D
from carbon_domain.seed.kinds.base import EntryRows, TypeSpec
from carbon_domain.seed.sampling import Weighted, lognormal
from carbon_domain.seed.university import Unit, University

# provider → (weight, kg CO2-eq per EUR of virtualisation); Swiss hydro-powered hosts are low
CLOUDS = {"AWS": (35, 0.14), "GCP": (20, 0.11), "Azure": (25, 0.13), "OVH": (8, 0.07),
          "Huawei": (2, 0.2), "Infomaniak": (10, 0.05)}
SERVICES = {"virtualisation": (20, 1.0), "compute": (45, 1.2), "storage": (35, 0.6)}
CURRENCIES = Weighted([("eur", 70), ("chf", 25), ("usd", 5)])
# provider as users write it → (weight, grams CO2-eq per text request)
AI = {"ChatGPT (OpenAI)": (45, 4.3), "Gemini (Google)": (15, 3.0),
      "Claude (Anthropic)": (15, 4.0), "Mistral AI": (10, 2.5), "Command R (Cohere)": (3, 2.8),
      "Llama (Meta)": (7, 3.5), "Copilot (Microsoft)": (5, 4.3)}
USAGE = {"text": (85, 1.0), "image": (15, 6.0)}
BUCKETS = Weighted([("1_5", 40), ("5_20", 35), ("20_100", 20), ("gt_100", 5)])


def _cloud_factors(_uni: University, _rng: random.Random) -> list[tuple[object, ...]]:
    return [(p, s, round(ef * k, 4), "eur") for p, (_w, ef) in CLOUDS.items()
            for s, (_ws, k) in SERVICES.items()]


def _clouds(_uni: University, rng: random.Random) -> EntryRows:
    providers = Weighted((p, w) for p, (w, _) in CLOUDS.items())
    services = Weighted((s, w) for s, (w, _) in SERVICES.items())

    def row(_u: Unit, provider: str | None = None) -> tuple[object, ...]:
        return (provider or providers.pick(rng), services.pick(rng),
                f"{lognormal(rng, 1200, 1.1, 50, 60000):.2f}", CURRENCIES.pick(rng))
    return EntryRows(row, lambda u: row(u, "Unknown Cloud Co"))


def _ai_factors(_uni: University, _rng: random.Random) -> list[tuple[object, ...]]:
    return [(p, u, round(g * k, 3)) for p, (_w, g) in AI.items() for u, (_wu, k) in USAGE.items()]


def _ai(_uni: University, rng: random.Random) -> EntryRows:
    providers = Weighted((p, w) for p, (w, _) in AI.items())
    usages = Weighted((u, w) for u, (w, _) in USAGE.items())

    def row(_u: Unit, provider: str | None = None) -> tuple[object, ...]:
        fte = max(0.1, round(lognormal(rng, 1.5, 1.0, 0.1, 50), 1))
        return (provider or providers.pick(rng), usages.pick(rng), BUCKETS.pick(rng), fte)
    return EntryRows(row, lambda u: row(u, "Unlisted Assistant (Acme)"))


SPECS = (
    TypeSpec(D.external_clouds, ("provider", "service_type", "ef_kg_co2eq_per_currency",
                                 "currency"), _cloud_factors,
             ("provider", "service_type", "spent_amount", "currency"), _clouds),
    TypeSpec(D.external_ai, ("provider", "usage_type", "ef_kg_co2eq_per_request"), _ai_factors,
             ("provider", "usage_type", "requests_per_user_per_day", "fte_count"), _ai),
)
