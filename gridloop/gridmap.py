"""Which grid a point lies in, from the county's grid map: the GeoJSON the console's map draws
(`web/static/geo/`; stylised demo polygons until an operator publishes surveyed ones there).

Coordinates are WGS84 longitude and latitude, as GeoJSON and Open311 give them. Over one grid's
extent (a few hundred metres) the plane is a fine approximation of the sphere.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

Point = tuple[float, float]
"""(longitude, latitude), the GeoJSON order."""
Ring = Sequence[Point]
Polygon = Sequence[Ring]
"""An outer ring, then its holes."""

GRID_MAP = Path(str(files("web"))) / "static" / "geo" / "jiashan-grids.geojson"


def in_ring(point: Point, ring: Ring) -> bool:
    """Even-odd ray casting towards +x. Edges are half-open, so a point on an edge two cells
    share counts in one of them, up to floating-point rounding right on the line."""
    x, y = point
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, [*ring[1:], ring[0]], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def in_polygon(point: Point, polygon: Polygon) -> bool:
    outer, *holes = polygon
    return in_ring(point, outer) and not any(in_ring(point, hole) for hole in holes)


def centre(polygon: Polygon) -> Point:
    """The centroid of the outer ring (shoelace formula)."""
    ring = polygon[0]
    area = cx = cy = 0.0
    for (x1, y1), (x2, y2) in zip(ring, [*ring[1:], ring[0]], strict=True):
        cross = x1 * y2 - x2 * y1
        area += cross
        cx += (x1 + x2) * cross
        cy += (y1 + y2) * cross
    if area == 0:
        return ring[0]
    return cx / (3 * area), cy / (3 * area)


@dataclass(frozen=True)
class _Cell:
    code: str
    polygons: tuple[Polygon, ...]
    west: float
    south: float
    east: float
    north: float
    centre: Point
    """Of its largest polygon."""

    def contains(self, point: Point) -> bool:
        x, y = point
        if not (self.west <= x <= self.east and self.south <= y <= self.north):
            return False
        return any(in_polygon(point, polygon) for polygon in self.polygons)


class GridMap:
    """The grid cells of a GeoJSON FeatureCollection: features with `kind` "grid" and a `code`,
    Polygon or MultiPolygon (the communities' and towns' outlines are skipped)."""

    def __init__(self, collection: dict[str, Any]) -> None:
        self._cells: dict[str, _Cell] = {}
        for feature in collection.get("features", ()):
            properties = feature.get("properties") or {}
            if properties.get("kind") != "grid" or not properties.get("code"):
                continue
            polygons = _polygons(feature["geometry"])
            points = [point for polygon in polygons for point in polygon[0]]
            self._cells[properties["code"]] = _Cell(
                code=properties["code"],
                polygons=polygons,
                west=min(x for x, _ in points),
                south=min(y for _, y in points),
                east=max(x for x, _ in points),
                north=max(y for _, y in points),
                centre=centre(max(polygons, key=lambda polygon: abs(_area(polygon[0])))),
            )

    @classmethod
    def load(cls, path: Path = GRID_MAP) -> "GridMap":
        return cls(json.loads(path.read_text(encoding="utf-8")))

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(self._cells)

    def locate(self, longitude: float, latitude: float) -> str | None:
        """The code of the grid containing the point; None outside every grid."""
        for cell in self._cells.values():
            if cell.contains((longitude, latitude)):
                return cell.code
        return None

    def centre(self, code: str) -> Point | None:
        """The centre of the grid's (largest) polygon; None for a grid the map lacks."""
        cell = self._cells.get(code)
        return None if cell is None else cell.centre


def _polygons(geometry: dict[str, Any]) -> tuple[Polygon, ...]:
    def polygon(rings: list[list[list[float]]]) -> Polygon:
        return tuple(tuple((float(p[0]), float(p[1])) for p in ring) for ring in rings)

    if geometry["type"] == "Polygon":
        return (polygon(geometry["coordinates"]),)
    if geometry["type"] == "MultiPolygon":
        return tuple(polygon(rings) for rings in geometry["coordinates"])
    raise ValueError(f"a grid must be a Polygon or MultiPolygon, not {geometry['type']}")


def _area(ring: Ring) -> float:
    return sum(
        x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, [*ring[1:], ring[0]], strict=True)
    )
