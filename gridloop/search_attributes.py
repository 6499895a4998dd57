"""The case workflow's search attributes by name and Temporal CLI type, for registering them.

Derived from the keys the workflow upserts (``workflows/search_attributes.py``); the stack
registers them on the embedded dev server and on external servers (``gridloop.devserver``).
"""

from typing import Final

from temporalio.common import SearchAttributeIndexedValueType as IndexedType

from workflows.search_attributes import ALL_KEYS

_CLI_TYPE_NAMES = {
    IndexedType.TEXT: "Text",
    IndexedType.KEYWORD: "Keyword",
    IndexedType.INT: "Int",
    IndexedType.DOUBLE: "Double",
    IndexedType.BOOL: "Bool",
    IndexedType.DATETIME: "Datetime",
    IndexedType.KEYWORD_LIST: "KeywordList",
}

SEARCH_ATTRIBUTE_TYPES: Final[dict[str, str]] = {
    key.name: _CLI_TYPE_NAMES[key.indexed_value_type] for key in ALL_KEYS
}
"""Name → type as ``temporal server start-dev --search-attribute NAME=TYPE`` spells it."""
