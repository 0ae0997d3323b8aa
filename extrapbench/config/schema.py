"""The JSON schema check of a config (jsonschema): one message per problem, naming the key. Only the config check
needs it; reading config entries (extrapbench.config.entries) does not, so the report's environments need no
jsonschema."""
from __future__ import annotations

from typing import Any, Dict, List


def _where(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def schema_errors(config: Dict[str, Any], schema: Dict[str, Any]) -> List[str]:
    import jsonschema

    validator = jsonschema.Draft7Validator(schema)
    messages = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        message = error.message
        if "propertyNames" in error.relative_schema_path:  # a mapping's key: say it is the name that is wrong
            message = f"name {message}"
        if error.validator in ("pattern", "maximum") or "propertyNames" in error.relative_schema_path:
            # what the pattern / limit means (a seed's range, which characters a name may hold)
            description = error.schema.get("description") if isinstance(error.schema, dict) else None
            message += f" ({description})" if description else ""
        messages.append(f"at '{_where(error.absolute_path)}': {message}")
    return messages
