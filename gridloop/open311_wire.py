"""The documents of Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2) and their two
wire formats: XML, which the standard requires and FixMyStreet speaks, and JSON, its mechanical
mapping (a list document is a top-level array; an empty element is null).

Nothing here knows about cases: gridloop.open311 maps cases onto these documents.
"""

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import parse_qsl
from xml.etree import ElementTree

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gridloop.intake import plain_text

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>'
MAX_FORM_FIELDS = 200


class Format(StrEnum):
    """Chosen by the resource's extension: `services.xml`, `requests/GL-….json`."""

    XML = "xml"
    JSON = "json"

    @property
    def media_type(self) -> str:
        return (
            "text/xml; charset=utf-8" if self is Format.XML else "application/json; charset=utf-8"
        )


class Open311Error(Exception):
    """Answered as `<errors><error><code/><description/></error></errors>` with `status`: 404
    for what does not exist, 403 for a missing or wrong api_key, 400 for everything else (the
    standard's rule), 413 and 503 where HTTP has a more precise word. `message` names the
    description in gridloop.open311.MESSAGES."""

    def __init__(self, status: int, message: str, params: Mapping[str, str] | None = None):
        self.status, self.message, self.params = status, message, dict(params or {})
        super().__init__(message)


# ---- documents --------------------------------------------------------------------------------


class Document(BaseModel):
    """One element of the standard. A document that comes in lists names its wrapper and item
    elements; one that stands alone names its root."""

    model_config = ConfigDict(frozen=True)

    XML_ROOT: ClassVar[str]
    XML_ITEM: ClassVar[str | None] = None


class Service(Document):
    XML_ROOT: ClassVar[str] = "services"
    XML_ITEM: ClassVar[str | None] = "service"

    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str
    group: str


class AttributeValue(Document):
    key: str
    name: str


class Attribute(Document):
    variable: bool
    code: str
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool
    datatype_description: str
    order: int = Field(ge=1)
    description: str
    values: list[AttributeValue]


class ServiceDefinition(Document):
    XML_ROOT: ClassVar[str] = "service_definition"

    service_code: str
    attributes: list[Attribute]


class RequestStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ServiceRequest(Document):
    """One request as GET requests answers it; every field in the standard's order, the ones
    not known as empty elements (null in JSON)."""

    XML_ROOT: ClassVar[str] = "service_requests"
    XML_ITEM: ClassVar[str | None] = "request"

    service_request_id: str
    status: RequestStatus
    status_notes: str | None
    service_name: str
    service_code: str
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime | None
    address: str
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None


class PostedRequest(Document):
    """POST requests' answer: the id at once (gridloop never answers with a token)."""

    XML_ROOT: ClassVar[str] = "service_requests"
    XML_ITEM: ClassVar[str | None] = "request"

    service_request_id: str
    service_notice: str
    account_id: str | None = None


class Endpoint(Document):
    specification: str = SPECIFICATION
    url: str
    changeset: datetime
    type: Literal["production", "test"]
    formats: list[str]


class Discovery(Document):
    XML_ROOT: ClassVar[str] = "discovery"

    changeset: datetime
    contact: str
    key_service: str
    endpoints: list[Endpoint]


class Error(Document):
    XML_ROOT: ClassVar[str] = "errors"
    XML_ITEM: ClassVar[str | None] = "error"

    code: int
    description: str


# Characters XML 1.0 cannot carry at all, even escaped: text written by a path that does not
# refuse them (intake does) must not make the whole document unreadable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# The element of each item of a list field.
LIST_ITEMS = {
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}

D = TypeVar("D", bound=Document)


def render(document: Document, wire: Format) -> bytes:
    data = document.model_dump(mode="json")
    if wire is Format.JSON:
        return _json(data)
    return _xml(_element(document.XML_ROOT, data))


def render_list(kind: type[D], documents: Sequence[D], wire: Format) -> bytes:
    items = [document.model_dump(mode="json") for document in documents]
    if wire is Format.JSON:
        return _json(items)
    assert kind.XML_ITEM is not None, f"{kind.__name__} does not come in lists"
    root = ElementTree.Element(kind.XML_ROOT)
    root.extend(_element(kind.XML_ITEM, item) for item in items)
    return _xml(root)


def _element(tag: str, value: Any) -> ElementTree.Element:
    element = ElementTree.Element(tag)
    if isinstance(value, dict):
        element.extend(_element(name, child) for name, child in value.items())
    elif isinstance(value, list):
        element.extend(_element(LIST_ITEMS[tag], item) for item in value)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = _NOT_XML.sub("", str(value))
    return element


def _xml(root: ElementTree.Element) -> bytes:
    return XML_DECLARATION + ElementTree.tostring(root, encoding="unicode").encode()


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


# ---- what clients send --------------------------------------------------------------------------

_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")
_REPEATABLE = frozenset({"media_url"})
# A `+` sent unencoded in a query string arrives as a space: "2026-01-01T00:00:00 08:00".
_SPACE_FOR_PLUS = re.compile(r" (\d{2}(?::?\d{2})?)$")


def form_fields(body: bytes) -> dict[str, Any]:
    """An `application/x-www-form-urlencoded` body, UTF-8 whether or not the client says so
    (FixMyStreet does not), as fields: `attribute[code]=v` (or `attribute[code][]=v`, repeated)
    under "attribute" as {code: [values]}, repeated `media_url` as a list. An empty value is no
    value, as the standard's "optional" means."""
    try:
        pairs = parse_qsl(
            body.decode(),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except UnicodeDecodeError as undecodable:
        raise Open311Error(400, "form_not_utf8") from undecodable
    except ValueError as too_many:
        raise Open311Error(400, "form_too_many_fields", {"limit": str(MAX_FORM_FIELDS)}) from (
            too_many
        )
    fields: dict[str, Any] = {}
    attributes: dict[str, list[str]] = {}
    for name, raw in pairs:
        value = raw.strip()
        if not value:
            continue
        attribute = _ATTRIBUTE.fullmatch(name)
        if attribute is not None:
            attributes.setdefault(attribute.group(1), []).append(value)
        elif name in _REPEATABLE:
            fields.setdefault(name, []).append(value)
        elif name in fields:
            raise Open311Error(400, "field_repeated", {"field": name})
        else:
            fields[name] = value
    fields["attribute"] = attributes
    return fields


class ServiceRequestForm(BaseModel):
    """A POST requests form as the standard defines it. Fields gridloop does not keep (email,
    device_id, account_id, FixMyStreet's deviceid…) are accepted and dropped."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    api_key: str | None = Field(default=None, max_length=200)
    service_code: str = Field(min_length=1, max_length=64)
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    long: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    address_string: str | None = Field(default=None, max_length=300)
    first_name: str | None = Field(default=None, max_length=64)
    last_name: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    description: str | None = Field(default=None, max_length=4000)
    media_url: list[str] = Field(default_factory=list, max_length=20)
    attribute: dict[str, list[str]] = Field(default_factory=dict)

    _plain_text = field_validator("*")(plain_text)

    @model_validator(mode="after")
    def _lat_and_long_together(self) -> "ServiceRequestForm":
        if (self.lat is None) != (self.long is None):
            raise ValueError("lat and long go together: send both or neither")
        return self


def parse_datetime(text: str, field: str) -> datetime:
    """A W3C date-time with its offset, e.g. 2026-01-01T00:00:00Z or …+08:00."""
    try:
        moment = datetime.fromisoformat(_SPACE_FOR_PLUS.sub(r"+\1", text.strip()))
    except ValueError as malformed:
        raise Open311Error(400, "bad_datetime", {"field": field, "value": text}) from malformed
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise Open311Error(400, "datetime_without_offset", {"field": field, "value": text})
    return moment
