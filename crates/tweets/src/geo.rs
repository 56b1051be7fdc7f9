//! Geo: one `[lon, lat]` point per tweet, from the most precise source available.
//!
//! Order: the tweet's GeoJSON point (v1 `coordinates`, v2 `geo.coordinates`), else the centroid
//! of its place's bounding box (v1 `place.bounding_box` polygon, v2 `includes.places[].geo.bbox`
//! = `[west, south, east, north]`). The old v1 `geo` field is `[lat, lon]` and is never used.
//! Boxes that cross the antimeridian (west > east) get their centroid on the short way round;
//! point-sized boxes give that point. Values out of range (|lat| > 90, |lon| > 180, NaN) or a box
//! whose south is north of its north (swapped values) give no point and a warning.

use serde::Serialize;

/// A WGS84 point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    pub lon: f64,
    pub lat: f64,
}

/// Where a document's point came from (`geo_source` in the index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GeoSource {
    Coordinates,
    Place,
    None,
}

/// A geo value we refused, with the reason (counted by the caller, logged, not fatal).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeoWarning {
    #[error("coordinates out of range: {0:?}")]
    PointOutOfRange(Vec<f64>),
    #[error("place bounding box invalid: {0}")]
    BadBox(String),
    /// A point that is no `[lon, lat]` array of numbers (strings, an object, ...): dropped.
    #[error("coordinates unusable: {0}")]
    Unusable(String),
}

fn in_range(lon: f64, lat: f64) -> bool {
    lon.is_finite() && lat.is_finite() && (-180.0..=180.0).contains(&lon) && lat.abs() <= 90.0
}

/// A GeoJSON `[lon, lat]` pair (extra members such as altitude are ignored).
pub fn point(coords: &[f64]) -> Result<Option<Point>, GeoWarning> {
    match coords {
        [] => Ok(None),
        [lon, lat, ..] if in_range(*lon, *lat) => Ok(Some(Point {
            lon: *lon,
            lat: *lat,
        })),
        other => Err(GeoWarning::PointOutOfRange(other.to_vec())),
    }
}

/// The centroid of a `[west, south, east, north]` box; `west > east` crosses the antimeridian.
pub fn bbox_centroid(west: f64, south: f64, east: f64, north: f64) -> Result<Point, GeoWarning> {
    if !in_range(west, south) || !in_range(east, north) {
        return Err(GeoWarning::BadBox(format!(
            "out of range [{west}, {south}, {east}, {north}]"
        )));
    }
    if south > north {
        return Err(GeoWarning::BadBox(format!(
            "south {south} is north of north {north}"
        )));
    }
    let lat = (south + north) / 2.0;
    let lon = if west <= east {
        (west + east) / 2.0
    } else {
        // Crosses the antimeridian: go east from west by half the wrapped width.
        let width = east + 360.0 - west;
        let mut mid = west + width / 2.0;
        if mid > 180.0 {
            mid -= 360.0;
        }
        mid
    };
    Ok(Point { lon, lat })
}

/// The centroid of a v1 `place.bounding_box.coordinates` polygon (`[[[lon, lat], ...]]`).
///
/// Twitter's boxes are axis-aligned rings of four corners; we take west/east/south/north from
/// the ring's first (south-west) and third (north-east) corners when present, which is how the
/// API orders them, and detect antimeridian boxes by west > east.
pub fn polygon_centroid(rings: &[Vec<Vec<f64>>]) -> Result<Option<Point>, GeoWarning> {
    let Some(ring) = rings.first() else {
        return Ok(None);
    };
    let corners: Vec<(f64, f64)> = ring
        .iter()
        .filter_map(|c| match c.as_slice() {
            [lon, lat, ..] => Some((*lon, *lat)),
            _ => None,
        })
        .collect();
    match corners.as_slice() {
        [] => Ok(None),
        [(lon, lat)] => bbox_centroid(*lon, *lat, *lon, *lat).map(Some),
        [sw, ne] | [sw, _, ne, ..] => {
            let south = sw.1.min(ne.1);
            let north = sw.1.max(ne.1);
            bbox_centroid(sw.0, south, ne.0, north).map(Some)
        }
    }
}

/// A v2 place `bbox` (`[west, south, east, north]`).
pub fn bbox_slice_centroid(bbox: &[f64]) -> Result<Option<Point>, GeoWarning> {
    match bbox {
        [] => Ok(None),
        [w, s, e, n] => bbox_centroid(*w, *s, *e, *n).map(Some),
        other => Err(GeoWarning::BadBox(format!("{} numbers", other.len()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_in_and_out_of_range() {
        assert_eq!(
            point(&[-122.4, 37.7]).unwrap(),
            Some(Point {
                lon: -122.4,
                lat: 37.7
            })
        );
        assert!(point(&[37.7, -122.4]).is_err(), "swapped lat/lon");
        assert!(point(&[f64::NAN, 0.0]).is_err());
        assert_eq!(point(&[]).unwrap(), None);
    }

    #[test]
    fn antimeridian_box_centroid_is_on_the_short_side() {
        // Fiji-like box: west 177, east -178.
        let p = bbox_centroid(177.0, -20.0, -178.0, -16.0).unwrap();
        assert!((p.lon - 179.5).abs() < 1e-9, "{p:?}");
        assert!((p.lat + 18.0).abs() < 1e-9);
        let p = bbox_centroid(170.0, 0.0, -170.0, 2.0).unwrap();
        assert!((p.lon.abs() - 180.0).abs() < 1e-9, "{p:?}");
        let p = bbox_centroid(179.0, 0.0, -175.0, 0.0).unwrap();
        assert!((p.lon + 178.0).abs() < 1e-9, "{p:?}");
    }

    #[test]
    fn point_sized_and_swapped_boxes() {
        let p = polygon_centroid(&[vec![vec![2.35, 48.85]; 4]])
            .unwrap()
            .unwrap();
        assert_eq!((p.lon, p.lat), (2.35, 48.85));
        assert!(bbox_centroid(0.0, 10.0, 1.0, 5.0).is_err());
        assert!(bbox_slice_centroid(&[0.0, 95.0, 1.0, 96.0]).is_err());
        assert!(bbox_slice_centroid(&[1.0, 2.0, 3.0]).is_err());
    }

    #[test]
    fn polygon_uses_south_west_and_north_east_corners() {
        let ring = vec![
            vec![-122.51, 37.70],
            vec![-122.35, 37.70],
            vec![-122.35, 37.83],
            vec![-122.51, 37.83],
        ];
        let p = polygon_centroid(&[ring]).unwrap().unwrap();
        assert!((p.lon + 122.43).abs() < 1e-9 && (p.lat - 37.765).abs() < 1e-9);
    }
}
