"""Generate the console's grid map: GeoJSON polygons for every grid of the demo county.

    .venv/bin/python tools/generate_grid_map.py          # (re)writes the committed file:
                                                         # web/static/geo/jiashan-grids.geojson
    .venv/bin/python tools/generate_grid_map.py --check  # exit 1 if that file is stale

The shapes are STYLISED DEMO GEOGRAPHY, NOT SURVEYED BOUNDARIES. The county is a tessellation of
hexagonal cells, one cell per grid (网格), over Jiashan's approximate extent (about 120.75-121.05
E, 30.72-31.02 N). Each town or subdistrict is one contiguous region placed roughly where the real
one lies (罗星 and 魏塘, the county seat, in the centre; 西塘 north, 姚庄 north-east, 惠民 east,
大云 south-east, 干窑 south-west, 天凝 west, 陶庄 north-west), and each village or community is a
contiguous group of cells inside its town with exactly its seeded number of grids. Nothing here is
a real boundary; an operator with surveyed grid polygons should publish those instead.

How the regions are drawn, deterministically and with the standard library only:

1. the county: the 464 (or however many grids the seed file has) cells of a pointy-top hexagonal
   lattice nearest to the centre, measured against a wavy outline so that the county is not a
   disc;
2. the towns: each town has an anchor near its real position; cells are shared out with exactly
   each town's number of grids, minimising the total squared distance to the anchors (a
   capacity-constrained assignment, improved by pairwise exchanges until none helps), which gives
   compact regions;
3. the communities: the same assignment inside each town, around points that move to the centre
   of their cells a few times over (capacity-constrained Lloyd iterations);
4. every region is checked to be contiguous, and every count to match the seed file.

Features: one Polygon per grid (properties kind "grid", code, name, name_en, community, town),
then one per community and one per town (their outlines; towns carry "cp", a label point).
"""

import argparse
import json
import math
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "store" / "seed" / "jiashan.toml"
OUTPUT = ROOT / "web" / "static" / "geo" / "jiashan-grids.geojson"

# The county's box (degrees) and the latitude at which a degree of longitude is measured.
WEST, EAST, SOUTH, NORTH = 120.75, 121.05, 30.72, 31.02
CENTRE_LON, CENTRE_LAT = (WEST + EAST) / 2, (SOUTH + NORTH) / 2
KM_PER_DEGREE_LAT = 111.2
KM_PER_DEGREE_LON = KM_PER_DEGREE_LAT * math.cos(math.radians(CENTRE_LAT))
MARGIN = 0.97  # of the box the county may fill
DIGITS = 5  # decimal places of a coordinate: about a metre

# Where each town lies, as a fraction of the county's radius east (x) and north (y) of the
# centre. Approximate, after the real towns; towns not listed fall back to the centre.
ANCHORS: dict[str, tuple[float, float]] = {
    "weitang": (-0.10, 0.14),  # county seat, the old town
    "luoxing": (0.10, -0.16),  # county seat, south and east of the old town
    "huimin": (0.70, 0.02),
    "dayun": (0.42, -0.70),
    "ganyao": (-0.42, -0.62),
    "tianning": (-0.80, -0.04),
    "taozhuang": (-0.58, 0.60),
    "xitang": (-0.04, 0.80),
    "yaozhuang": (0.62, 0.62),
}

# Axial neighbours of a hexagon (q, r).
NEIGHBOURS = ((1, 0), (1, -1), (0, -1), (-1, 0), (-1, 1), (0, 1))
# Corners of a pointy-top hexagon on the integer vertex lattice (X, Y), where a vertex is at
# x = X * sqrt(3)/2 * size, y = Y * size/2; counter-clockwise from the east-north-east corner.
# Edge k (corner k to corner k+1) faces neighbour EDGE_NEIGHBOUR[k].
CORNERS = ((1, 1), (0, 2), (-1, 1), (-1, -1), (0, -2), (1, -1))
EDGE_NEIGHBOUR = ((0, 1), (-1, 1), (-1, 0), (0, -1), (1, -1), (1, 0))

Cell = tuple[int, int]
Vertex = tuple[int, int]
Point = tuple[float, float]


@dataclass(frozen=True)
class Community:
    code: str
    name: str
    name_en: str
    grids: int


@dataclass(frozen=True)
class Town:
    code: str
    name: str
    name_en: str
    communities: tuple[Community, ...]

    @property
    def grids(self) -> int:
        return sum(c.grids for c in self.communities)


def load_towns(seed: Path) -> list[Town]:
    with seed.open("rb") as file:
        data = tomllib.load(file)
    return [
        Town(
            code=town["code"],
            name=town["name"],
            name_en=town["name_en"],
            communities=tuple(
                Community(c["code"], c["name"], c["name_en"], int(c["grids"]))
                for c in town["communities"]
            ),
        )
        for town in data["towns"]
    ]


# ---- the lattice --------------------------------------------------------------------------


def centre(cell: Cell) -> Point:
    """The centre of a cell in lattice units (size 1)."""
    q, r = cell
    return math.sqrt(3) * (q + r / 2), 1.5 * r


def outline(angle: float) -> float:
    """The county's radius in a direction, relative to its mean: a few gentle waves."""
    return (
        1.0
        + 0.10 * math.cos(2 * angle - 0.9)
        + 0.06 * math.sin(3 * angle + 0.4)
        + 0.03 * math.cos(5 * angle + 1.3)
    )


def county_cells(count: int) -> list[Cell]:
    """The `count` cells nearest the centre, measured against the wavy outline."""
    reach = int(math.sqrt(count)) + 4
    candidates = [
        (q, r) for q in range(-reach * 2, reach * 2 + 1) for r in range(-reach, reach + 1)
    ]

    def distance(cell: Cell) -> tuple[float, Cell]:
        x, y = centre(cell)
        return math.hypot(x, y) / outline(math.atan2(y, x)), cell

    return sorted(sorted(candidates, key=distance)[:count])


def connected(cells: Iterable[Cell]) -> bool:
    pending = set(cells)
    if not pending:
        return False
    frontier = [pending.pop()]
    while frontier:
        q, r = frontier.pop()
        for dq, dr in NEIGHBOURS:
            neighbour = (q + dq, r + dr)
            if neighbour in pending:
                pending.remove(neighbour)
                frontier.append(neighbour)
    return not pending


# ---- sharing cells out ---------------------------------------------------------------------


def squared(a: Point, b: Point) -> float:
    return (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2


def share_out(cells: Sequence[Cell], anchors: Sequence[Point], quotas: Sequence[int]) -> list[int]:
    """For each cell, the index of its region: exactly `quotas[i]` cells for region i, with a
    small total squared distance from cells to their region's anchor."""
    assert sum(quotas) == len(cells), "the quotas must cover every cell"
    points = [centre(c) for c in cells]

    def cost(cell: int, region: int) -> float:
        return squared(points[cell], anchors[region])

    owner = [-1] * len(cells)
    # A first, feasible assignment: each region in turn takes its nearest free cells.
    for region, quota in enumerate(quotas):
        free = sorted((i for i in range(len(cells)) if owner[i] < 0), key=lambda i: cost(i, region))
        for i in free[:quota]:
            owner[i] = region
    # Then exchange cells between two regions while that lowers the total.
    improved = True
    while improved:
        improved = False
        for a in range(len(quotas)):
            for b in range(a + 1, len(quotas)):
                to_b = sorted(
                    (cost(i, b) - cost(i, a), i) for i in range(len(cells)) if owner[i] == a
                )
                to_a = sorted(
                    (cost(i, a) - cost(i, b), i) for i in range(len(cells)) if owner[i] == b
                )
                for (gain_a, i), (gain_b, j) in zip(to_b, to_a, strict=False):
                    if gain_a + gain_b >= -1e-9:
                        break
                    owner[i], owner[j] = b, a
                    improved = True
    return owner


def partition(cells: Sequence[Cell], quotas: Sequence[int], rounds: int = 12) -> list[list[Cell]]:
    """Compact, contiguous regions of exactly `quotas` cells (Lloyd iterations over
    `share_out`, from spread-out starting points)."""
    points = [centre(c) for c in cells]
    middle = _mean(points)
    # Spread-out starting points: the farthest cell from the middle, then again and again the
    # cell farthest from every point taken.
    taken = [max(range(len(cells)), key=lambda i: (squared(points[i], middle), -i))]
    while len(taken) < len(quotas):
        taken.append(
            max(
                range(len(cells)),
                key=lambda i: (min(squared(points[i], points[t]) for t in taken), -i),
            )
        )
    anchors = [points[i] for i in taken]
    owner: list[int] = []
    for _ in range(rounds):
        owner = share_out(cells, anchors, quotas)
        anchors = [
            _mean([points[i] for i in range(len(cells)) if owner[i] == region])
            for region in range(len(quotas))
        ]
    return _regions(cells, owner, len(quotas))


def _regions(cells: Sequence[Cell], owner: Sequence[int], count: int) -> list[list[Cell]]:
    regions: list[list[Cell]] = [[] for _ in range(count)]
    for cell, region in zip(cells, owner, strict=True):
        regions[region].append(cell)
    return regions


def _mean(points: Sequence[Point]) -> Point:
    return sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)


# ---- geometry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Projection:
    """Lattice units to longitude and latitude."""

    size_km: float

    def point(self, x: float, y: float) -> list[float]:
        lon = CENTRE_LON + x * self.size_km / KM_PER_DEGREE_LON
        lat = CENTRE_LAT + y * self.size_km / KM_PER_DEGREE_LAT
        return [round(lon, DIGITS), round(lat, DIGITS)]

    def vertex(self, vertex: Vertex) -> list[float]:
        return self.point(vertex[0] * math.sqrt(3) / 2, vertex[1] / 2)


def fitting_projection(cells: Sequence[Cell]) -> Projection:
    """The largest cell size at which the county fits its box."""
    reach_x = max(abs(v[0]) for c in cells for v in _corners(c)) * math.sqrt(3) / 2
    reach_y = max(abs(v[1]) for c in cells for v in _corners(c)) / 2
    half_width_km = (EAST - WEST) / 2 * KM_PER_DEGREE_LON * MARGIN
    half_height_km = (NORTH - SOUTH) / 2 * KM_PER_DEGREE_LAT * MARGIN
    return Projection(size_km=min(half_width_km / reach_x, half_height_km / reach_y))


def _corners(cell: Cell) -> list[Vertex]:
    q, r = cell
    return [(2 * q + r + dx, 3 * r + dy) for dx, dy in CORNERS]


def boundary_rings(cells: Iterable[Cell]) -> list[list[Vertex]]:
    """The closed rings around a set of cells, the region on their left: the outer ring
    counter-clockwise first, holes clockwise after it."""
    region = set(cells)
    following: dict[Vertex, Vertex] = {}
    for q, r in region:
        corners = _corners((q, r))
        for k, (dq, dr) in enumerate(EDGE_NEIGHBOUR):
            if (q + dq, r + dr) not in region:
                following[corners[k]] = corners[(k + 1) % 6]
    rings: list[list[Vertex]] = []
    while following:
        start = min(following)
        ring = [start]
        vertex = following.pop(start)
        while vertex != start:
            ring.append(vertex)
            vertex = following.pop(vertex)
        rings.append(_simplified(ring))
    rings.sort(key=lambda ring: -_area(ring))
    return rings


def _simplified(ring: list[Vertex]) -> list[Vertex]:
    """Without the corners where the outline runs straight on (none on a hexagonal outline,
    kept for safety)."""
    kept = []
    for i, vertex in enumerate(ring):
        before, after = ring[i - 1], ring[(i + 1) % len(ring)]
        cross = (vertex[0] - before[0]) * (after[1] - vertex[1]) - (vertex[1] - before[1]) * (
            after[0] - vertex[0]
        )
        if cross != 0:
            kept.append(vertex)
    return kept


def _area(ring: Sequence[Vertex]) -> float:
    """Signed area (positive counter-clockwise), in vertex-lattice units."""
    return (
        sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(ring, [*ring[1:], ring[0]], strict=True)) / 2
    )


def polygon(rings: Sequence[Sequence[Vertex]], projection: Projection) -> dict[str, Any]:
    coordinates = [[projection.vertex(v) for v in [*ring, ring[0]]] for ring in rings]
    return {"type": "Polygon", "coordinates": coordinates}


# ---- the map -------------------------------------------------------------------------------


def build(towns: Sequence[Town]) -> dict[str, Any]:
    total = sum(t.grids for t in towns)
    cells = county_cells(total)
    assert connected(cells), "the county is one piece"
    projection = fitting_projection(cells)
    radius = max(math.hypot(*centre(c)) for c in cells)
    anchors = [tuple(radius * a for a in ANCHORS.get(t.code, (0.0, 0.0))) for t in towns]
    owner = share_out(cells, [(a[0], a[1]) for a in anchors], [t.grids for t in towns])
    town_cells = _regions(cells, owner, len(towns))

    grids: list[dict[str, Any]] = []
    communities: list[dict[str, Any]] = []
    outlines: list[dict[str, Any]] = []
    for town, own in zip(towns, town_cells, strict=True):
        assert connected(own), f"{town.code} is one piece"
        parts = partition(own, [c.grids for c in town.communities])
        for community, part in zip(town.communities, parts, strict=True):
            assert len(part) == community.grids, community.code
            assert connected(part), f"{community.code} is one piece"
            # Grids numbered from the north-west, row by row.
            ordered = sorted(part, key=lambda c: (-centre(c)[1], centre(c)[0]))
            for number, cell in enumerate(ordered, start=1):
                grids.append(
                    _feature(
                        polygon(boundary_rings([cell]), projection),
                        kind="grid",
                        code=f"{community.code}_g{number:02d}",
                        name=f"{community.name}第{number}网格",
                        name_en=f"{community.name_en} grid {number}",
                        community=community.code,
                        town=town.code,
                    )
                )
            communities.append(
                _feature(
                    polygon(boundary_rings(part), projection),
                    kind="community",
                    code=community.code,
                    name=community.name,
                    name_en=community.name_en,
                    town=town.code,
                )
            )
        label = min(own, key=lambda c: (squared(centre(c), _mean([centre(o) for o in own])), c))
        outlines.append(
            _feature(
                polygon(boundary_rings(own), projection),
                kind="town",
                code=town.code,
                name=town.name,
                name_en=town.name_en,
                cp=projection.point(*centre(label)),
            )
        )
    corners = [v for c in cells for v in _corners(c)]
    west, south = projection.vertex((min(v[0] for v in corners), min(v[1] for v in corners)))
    east, north = projection.vertex((max(v[0] for v in corners), max(v[1] for v in corners)))
    return {
        "type": "FeatureCollection",
        "name": "jiashan-grids",
        "bbox": [west, south, east, north],
        "metadata": {
            "description": (
                "Stylised demo geography, NOT surveyed boundaries: one hexagonal cell per grid "
                "of the gridloop demo county (store/seed/jiashan.toml), each town placed roughly "
                "where the real one lies in Jiashan County."
            ),
            "generator": "tools/generate_grid_map.py",
            "source": "store/seed/jiashan.toml",
            "grids": len(grids),
            "communities": len(communities),
            "towns": len(outlines),
            "cell_size_km": round(projection.size_km, 3),
        },
        "features": [*grids, *communities, *outlines],
    }


def _feature(geometry: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def render(collection: dict[str, Any]) -> str:
    """GeoJSON with one feature a line, so that a change shows as a readable diff."""

    def dumps(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    head = {k: v for k, v in collection.items() if k != "features"}
    lines = [dumps(head)[:-1] + ',"features":[']
    features = collection["features"]
    lines += [dumps(f) + ("," if i < len(features) - 1 else "") for i, f in enumerate(features)]
    lines.append("]}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seed", type=Path, default=SEED, help="organisation file (TOML)")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="GeoJSON file to write")
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 if the output is stale"
    )
    args = parser.parse_args(argv)
    text = render(build(load_towns(args.seed)))
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date; run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
