"""What the OpenAPI schema says beyond what drf-spectacular reads from the code, so it matches the server.

Registered in ``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``:

- every documented query parameter that is a free string must not be empty,
  since ``core.api.filters.query_params_check`` refuses ``seller=`` and the like;
- a request body whose fields depend on each other (``paid_at`` is required
  when the payment is ``paid`` and forbidden otherwise; exactly one of
  ``order`` and ``order_external_id``) says so with ``oneOf``, declared next to
  its serializer with ``schema_one_of``.
"""

from __future__ import annotations

_ONE_OF: dict[str, list[dict]] = {}


def schema_one_of(component: str, variants: list[dict]):
    """Class decorator: the request component ``component`` must match exactly one of ``variants``.

    Each variant is a JSON schema fragment over the same object (properties
    and ``required``); the serializer's ``validate`` enforces the same rule.
    """

    def decorate(serializer_class):
        _ONE_OF[component] = variants
        return serializer_class

    return decorate


def exactly_one_of(*names: str) -> list[dict]:
    """Variants for "give exactly one of these fields"."""
    return [{"required": [name], "not": {"anyOf": [{"required": [o]} for o in names if o != name]}} for name in names]


def required_when(selector: str, value: str, field: str, *, others: list[str]) -> list[dict]:
    """Variants for "``field`` is required when ``selector`` is ``value``, and absent or null otherwise"""
    return [
        {
            "properties": {selector: {"type": "string", "enum": [value]}},
            "required": [selector, field],
        },
        {
            "properties": {
                selector: {"type": "string", "enum": others},
                field: {"nullable": True, "enum": [None]},
            },
            "required": [selector],
        },
    ]


def _strict_query_parameters(result: dict) -> None:
    for path in result.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if parameter.get("in") == "query" and schema.get("type") == "string" and "enum" not in schema:
                    schema.setdefault("minLength", 1)


def postprocess(result: dict, generator, request, public) -> dict:
    """The additions above; runs after drf-spectacular's own hook (enum naming)."""
    _strict_query_parameters(result)
    schemas = result.get("components", {}).get("schemas", {})
    for component, variants in _ONE_OF.items():
        if component in schemas:
            schemas[component]["oneOf"] = variants
    return result
