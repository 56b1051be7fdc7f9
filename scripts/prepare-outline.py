#!/usr/bin/env python3
"""Prepares the world outline that `tweet-indexer dashboards preview` draws its map on.

Input: land-110m.json of the npm package world-atlas 2.0.2 (ISC; Natural Earth's 1:110m land,
public domain, as TopoJSON in degrees). Get it with the ordinary npm client, e.g.
    cd "$(mktemp -d)" && npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    scripts/prepare-outline.py package/land-110m.json > crates/cli/assets/land-110m.path
Output: one line, the `d` attribute of an SVG path in the plate carree (equirectangular)
projection, x = (lon + 180) * 2 and y = (90 - lat) * 2 (a 720 x 360 box), rounded to whole
units (half a degree: at the page's size one unit is under 1.5 px) and written as relative
moves, so the page stays small. Consecutive points that round to the same unit are dropped,
and so are rings that collapse to fewer than three points (islands smaller than the grid).
The data is not cut at the antimeridian: a ring that crosses it (Chukotka, Fiji) is unwrapped
to continuous longitudes and drawn again shifted by 360 degrees (the SVG box clips both), and a
ring around a pole (Antarctica) is closed along that pole's edge. Stdlib only.
"""
import json
import sys

SCALE = 2  # units per degree


def decode_arcs(topology):
    """TopoJSON arcs (quantized, delta-encoded) as lists of (lon, lat)."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def ring_points(ring, arcs):
    """A ring (a list of arc indexes; ~i is arc i reversed) as one list of points."""
    points = []
    for index in ring:
        arc = arcs[index] if index >= 0 else list(reversed(arcs[~index]))
        points.extend(arc if not points else arc[1:])  # arcs share their end points
    return points


def unwrapped(points):
    """Longitudes made continuous (a step over the antimeridian becomes a step past +-180)."""
    out = [points[0]]
    for lon, lat in points[1:]:
        prev = out[-1][0]
        while lon - prev > 180:
            lon -= 360
        while lon - prev < -180:
            lon += 360
        out.append((lon, lat))
    return out


def copies(points):
    """The ring, closed along a pole when it goes round one, and its copy shifted by 360
    degrees where it reaches past the antimeridian."""
    points = unwrapped(points)
    (first, _), (last, _) = points[0], points[-1]
    if abs(last - first) > 180:  # round a pole: close along its edge
        pole = 90 if sum(lat for _, lat in points) > 0 else -90
        points = points + [(last, pole), (first, pole)]
    lons = [lon for lon, _ in points]
    out = [points]
    if max(lons) > 180:
        out.append([(lon - 360, lat) for lon, lat in points])
    if min(lons) < -180:
        out.append([(lon + 360, lat) for lon, lat in points])
    return out


def projected(points):
    out = []
    for lon, lat in points:
        p = (round((lon + 180) * SCALE), round((90 - lat) * SCALE))
        if not out or out[-1] != p:
            out.append(p)
    if len(out) > 1 and out[0] == out[-1]:
        out.pop()
    return out


def path(rings):
    parts = []
    for ring in rings:
        (x0, y0), rest = ring[0], ring[1:]
        moves = [f"M{x0} {y0}l"]
        x, y = x0, y0
        for px, py in rest:
            dx, dy = px - x, py - y
            moves.append(f"{dx}" + (f"{dy}" if dy < 0 else f" {dy}") + " ")
            x, y = px, py
        parts.append("".join(moves).rstrip().replace(" -", "-") + "z")
    return "".join(parts)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        topology = json.load(f)
    arcs = decode_arcs(topology)
    rings = []
    for geometry in topology["objects"]["land"]["geometries"]:
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        for polygon in polygons:
            for ring in polygon:
                for copy in copies(ring_points(ring, arcs)):
                    points = projected(copy)
                    if len(points) >= 3:
                        rings.append(points)
    sys.stdout.write(path(rings) + "\n")


if __name__ == "__main__":
    main()
