"""The JSON Schema of partner contract v1, generated from the contract Structs.

Served at ``GET /api/v1/events/schema`` and kept in ``docs/partners/events-v1.schema.json``
(``modiste partners schema`` rewrites it; a test fails when the two differ).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import msgspec

from interfaces.partners.contract import (
    MESSAGE_TYPES,
    PUBLIC_PREFIX_V1,
    SCHEMA_VERSION,
    PublicMessage,
    subject_pattern,
)

SCHEMA_ID = "urn:modiste:partner-events:v1"
DOCS_SCHEMA_PATH = Path("docs/partners/events-v1.schema.json")


@lru_cache(maxsize=1)
def events_schema() -> dict[str, Any]:
    """One JSON Schema (draft 2020-12) that every v1 message validates against."""
    (message_schema,), components = msgspec.json.schema_components(
        [PublicMessage], ref_template="#/$defs/{name}"
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Modiste partner events v1",
        "description": (
            f"Messages published on NATS subjects {PUBLIC_PREFIX_V1}.>. Each message is one "
            "of the types below, named by its 'type' field. Delivery is at least once: drop "
            "duplicates by event_id. v1 only grows (new types, new optional fields); ignore "
            "what you do not know."
        ),
        "x-schema-version": SCHEMA_VERSION,
        "x-subjects": {t.__name__: subject_pattern(t) for t in MESSAGE_TYPES},
        **message_schema,
        "$defs": components,
    }


def schema_json() -> str:
    """The schema as stable, pretty JSON text (what docs/ holds)."""
    return json.dumps(events_schema(), indent=2, sort_keys=True) + "\n"


def write_schema(path: Path = DOCS_SCHEMA_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(schema_json())
    return path
