//! Incident areas: a circle, or a GeoJSON Polygon or MultiPolygon (holes allowed), validated
//! with field errors, tested for containment, and bounded by a box the database can filter on.
//! A polygon whose edges cross the antimeridian is unwrapped onto 0..360° of longitude instead of
//! becoming a band around the whole world.
//!
//! A crate of its own (re-exported as `safecheck::domain::area`) so that the fuzz target in
//! `fuzz/` builds only this and geo, not the whole server.

use geo::algorithm::sweep::{Cross, Intersections};
use geo::line_intersection::LineIntersection;
use geo::{Contains, Coord, Covers, Distance, Haversine, Line, LineString, MultiPolygon, Point, Polygon};
use serde_json::{Value, json};

/// One problem with one field of a request, named by its path (`area.coordinates[0]`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// Limits that keep one request cheap to validate and to test points against.
pub const MAX_VERTICES: usize = 10_000;
pub const MIN_RADIUS_M: f64 = 1.0;
pub const MAX_RADIUS_M: f64 = 500_000.0;
/// The mean Earth radius `geo::Haversine` uses, in metres.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A validated area.
#[derive(Clone, Debug)]
pub enum Area {
    Circle { lat: f64, lon: f64, radius_m: f64 },
    Polygons(Polygons),
}

/// One or more polygons. When `shifted`, longitudes were unwrapped onto 0..360.
#[derive(Clone, Debug)]
pub struct Polygons {
    shapes: MultiPolygon<f64>,
    shifted: bool,
    /// The GeoJSON as given (validated), returned to clients unchanged.
    geojson: Value,
}

/// Latitude range and one or two longitude ranges (two when the box crosses the antimeridian).
#[derive(Clone, Debug, PartialEq)]
pub struct BoundingBox {
    pub min_lat: f64,
    pub max_lat: f64,
    pub lon_ranges: Vec<(f64, f64)>,
}

impl Area {
    /// Validates `value` (the request's `area`); errors name paths under `area`.
    pub fn parse(value: &Value) -> Result<Self, Vec<FieldError>> {
        let kind = value.get("type").and_then(Value::as_str);
        match kind {
            Some("Circle") => parse_circle(value),
            Some("Polygon") => {
                let rings = value.get("coordinates").ok_or_else(|| one("area.coordinates", "is required"))?;
                let polygon = parse_polygon(rings, "area.coordinates")?;
                Polygons::new(vec![polygon], value.clone()).map(Area::Polygons)
            }
            Some("MultiPolygon") => {
                let list = value
                    .get("coordinates")
                    .and_then(Value::as_array)
                    .ok_or_else(|| one("area.coordinates", "must be an array of polygons"))?;
                if list.is_empty() {
                    return Err(one("area.coordinates", "must hold at least one polygon"));
                }
                let mut polygons = Vec::with_capacity(list.len());
                let mut errors = Vec::new();
                for (i, rings) in list.iter().enumerate() {
                    match parse_polygon(rings, &format!("area.coordinates[{i}]")) {
                        Ok(p) => polygons.push(p),
                        Err(e) => errors.extend(e),
                    }
                }
                if !errors.is_empty() {
                    return Err(errors);
                }
                Polygons::new(polygons, value.clone()).map(Area::Polygons)
            }
            Some(_) => Err(one("area.type", "must be Circle, Polygon or MultiPolygon")),
            None => Err(one("area.type", "is required (Circle, Polygon or MultiPolygon)")),
        }
    }

    /// Whether the point (degrees) lies inside, boundary included.
    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        match self {
            Area::Circle { lat: c_lat, lon: c_lon, radius_m } => {
                Haversine.distance(Point::new(*c_lon, *c_lat), Point::new(lon, lat)) <= *radius_m
            }
            Area::Polygons(p) => p.contains(lat, lon),
        }
    }

    /// A box that holds the whole area.
    pub fn bounding_box(&self) -> BoundingBox {
        match self {
            Area::Circle { lat, lon, radius_m } => circle_box(*lat, *lon, *radius_m),
            Area::Polygons(p) => p.bounding_box(),
        }
    }

    /// The area as clients send and receive it.
    pub fn to_json(&self) -> Value {
        match self {
            Area::Circle { lat, lon, radius_m } => {
                json!({ "type": "Circle", "center": { "lat": lat, "lon": lon }, "radius_m": radius_m })
            }
            Area::Polygons(p) => p.geojson.clone(),
        }
    }
}

impl Polygons {
    fn new(polygons: Vec<Polygon<f64>>, geojson: Value) -> Result<Self, Vec<FieldError>> {
        let vertices: usize = polygons
            .iter()
            .map(|p| p.exterior().0.len() + p.interiors().iter().map(|r| r.0.len()).sum::<usize>())
            .sum();
        if vertices > MAX_VERTICES {
            return Err(one("area.coordinates", format!("has {vertices} positions; at most {MAX_VERTICES}")));
        }
        let crosses = polygons.iter().any(crosses_antimeridian);
        let polygons: Vec<Polygon<f64>> =
            if crosses { polygons.into_iter().map(unwrap_longitudes).collect() } else { polygons };
        let mut errors = Vec::new();
        for (i, polygon) in polygons.iter().enumerate() {
            let path = if geojson["type"] == "Polygon" {
                "area.coordinates".to_owned()
            } else {
                format!("area.coordinates[{i}]")
            };
            if let Err(message) = check_rings(polygon) {
                errors.push(FieldError::new(path, message));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self { shapes: MultiPolygon(polygons), shifted: crosses, geojson })
    }

    /// Inside a polygon or on its boundary; in a hole is outside, on a hole's edge inside.
    fn contains(&self, lat: f64, lon: f64) -> bool {
        let lon = if self.shifted && lon < 0.0 { lon + 360.0 } else { lon };
        let point = Point::new(lon, lat);
        self.shapes.0.iter().any(|p| p.covers(&point))
    }

    fn bounding_box(&self) -> BoundingBox {
        let (mut min_lat, mut max_lat, mut min_lon, mut max_lon) =
            (90.0_f64, -90.0_f64, 360.0_f64, -180.0_f64);
        for polygon in &self.shapes.0 {
            for c in &polygon.exterior().0 {
                min_lat = min_lat.min(c.y);
                max_lat = max_lat.max(c.y);
                min_lon = min_lon.min(c.x);
                max_lon = max_lon.max(c.x);
            }
        }
        let lon_ranges = if max_lon > 180.0 {
            let mut ranges = vec![(-180.0, max_lon - 360.0)];
            if min_lon <= 180.0 {
                ranges.push((min_lon, 180.0));
            } else {
                ranges[0].0 = min_lon - 360.0;
            }
            ranges
        } else {
            vec![(min_lon, max_lon)]
        };
        BoundingBox { min_lat, max_lat, lon_ranges }
    }
}

/// A JSON number as f64, with -0 read as 0: geo's sweep orders ends by `total_cmp`, under which
/// -0.0 < 0.0, but compares them with `>`, so an edge ending at -0 beside one starting at 0
/// broke its invariant (found by the fuzzer). No place on Earth needs a signed zero.
fn number_of(v: &Value) -> Option<f64> {
    v.as_f64().map(|n| n + 0.0)
}

fn one(field: &str, message: impl Into<String>) -> Vec<FieldError> {
    vec![FieldError::new(field, message)]
}

fn parse_circle(value: &Value) -> Result<Area, Vec<FieldError>> {
    let mut errors = Vec::new();
    let number = |path: &str, v: Option<&Value>| -> Result<f64, FieldError> {
        v.and_then(number_of).ok_or_else(|| FieldError::new(path, "must be a number"))
    };
    let center = value.get("center");
    if center.is_none_or(|c| !c.is_object()) {
        errors.push(FieldError::new("area.center", "must be an object {lat, lon}"));
    }
    let lat = number("area.center.lat", center.and_then(|c| c.get("lat")));
    let lon = number("area.center.lon", center.and_then(|c| c.get("lon")));
    let radius = number("area.radius_m", value.get("radius_m"));
    let (lat, lon, radius) = match (lat, lon, radius) {
        (Ok(lat), Ok(lon), Ok(r)) if errors.is_empty() => (lat, lon, r),
        (lat, lon, radius) => {
            if center.is_some_and(Value::is_object) {
                errors.extend(lat.err());
                errors.extend(lon.err());
            }
            errors.extend(radius.err());
            return Err(errors);
        }
    };
    if !(-90.0..=90.0).contains(&lat) {
        errors.push(FieldError::new("area.center.lat", "must be between -90 and 90"));
    }
    if !(-180.0..=180.0).contains(&lon) {
        errors.push(FieldError::new("area.center.lon", "must be between -180 and 180"));
    }
    if !(MIN_RADIUS_M..=MAX_RADIUS_M).contains(&radius) {
        errors.push(FieldError::new("area.radius_m", "must be between 1 and 500000 metres"));
    }
    if errors.is_empty() { Ok(Area::Circle { lat, lon, radius_m: radius }) } else { Err(errors) }
}

/// Parses `[[ [lon, lat], ... ], ...]`: an exterior ring then holes.
fn parse_polygon(rings: &Value, path: &str) -> Result<Polygon<f64>, Vec<FieldError>> {
    let rings = rings.as_array().ok_or_else(|| one(path, "must be an array of rings"))?;
    if rings.is_empty() {
        return Err(one(path, "must hold an exterior ring"));
    }
    let mut parsed = Vec::with_capacity(rings.len());
    let mut errors = Vec::new();
    for (r, ring) in rings.iter().enumerate() {
        match parse_ring(ring, &format!("{path}[{r}]")) {
            Ok(ring) => parsed.push(ring),
            Err(e) => errors.extend(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut parsed = parsed.into_iter();
    let exterior = parsed.next().ok_or_else(|| one(path, "must hold an exterior ring"))?;
    Ok(Polygon::new(exterior, parsed.collect()))
}

fn parse_ring(ring: &Value, path: &str) -> Result<LineString<f64>, Vec<FieldError>> {
    let positions = ring.as_array().ok_or_else(|| one(path, "must be an array of [lon, lat] positions"))?;
    if positions.len() > MAX_VERTICES {
        return Err(one(path, format!("has more than {MAX_VERTICES} positions")));
    }
    let mut coords = Vec::with_capacity(positions.len());
    let mut errors = Vec::new();
    for (i, position) in positions.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let numbers: Option<Vec<f64>> = position.as_array().map(|a| a.iter().filter_map(number_of).collect());
        match numbers {
            Some(n)
                if (2..=3).contains(&n.len()) && position.as_array().is_some_and(|a| a.len() == n.len()) =>
            {
                let (lon, lat) = (n[0], n[1]);
                if !(-180.0..=180.0).contains(&lon) {
                    errors.push(FieldError::new(at.clone(), "longitude must be between -180 and 180"));
                }
                if !(-90.0..=90.0).contains(&lat) {
                    errors.push(FieldError::new(at, "latitude must be between -90 and 90"));
                }
                coords.push(Coord { x: lon, y: lat });
            }
            _ => errors.push(FieldError::new(at, "must be a [lon, lat] position of numbers")),
        }
        if errors.len() >= 20 {
            break;
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if coords.len() < 4 {
        return Err(one(path, "a ring needs at least 4 positions"));
    }
    if coords.first() != coords.last() {
        return Err(one(path, "a ring must be closed: its last position must equal its first"));
    }
    Ok(LineString(coords))
}

fn crosses_antimeridian(polygon: &Polygon<f64>) -> bool {
    std::iter::once(polygon.exterior())
        .chain(polygon.interiors())
        .any(|ring| ring.lines().any(|l| (l.end.x - l.start.x).abs() > 180.0))
}

fn unwrap_longitudes(polygon: Polygon<f64>) -> Polygon<f64> {
    let shift = |ring: &LineString<f64>| {
        LineString(
            ring.0.iter().map(|c| Coord { x: if c.x < 0.0 { c.x + 360.0 } else { c.x }, y: c.y }).collect(),
        )
    };
    Polygon::new(shift(polygon.exterior()), polygon.interiors().iter().map(shift).collect())
}

/// One edge of one ring, so intersections between neighbours can be told apart.
#[derive(Clone, Debug)]
struct Edge {
    ring: usize,
    index: usize,
    ring_len: usize,
    line: Line<f64>,
}

impl Cross for Edge {
    type Scalar = f64;
    fn line(&self) -> Line<f64> {
        self.line
    }
}

/// Rings must be simple (no self-intersection), must not cross each other, and holes must lie
/// inside the exterior. A sweep keeps this near O(n log n) for 10,000 vertices.
fn check_rings(polygon: &Polygon<f64>) -> Result<(), String> {
    let rings: Vec<&LineString<f64>> =
        std::iter::once(polygon.exterior()).chain(polygon.interiors()).collect();
    let mut edges = Vec::new();
    for (r, ring) in rings.iter().enumerate() {
        // A position repeated at once is harmless; without it, the edges on either side of it
        // are neighbours and may share their end.
        let mut positions = ring.0.clone();
        positions.dedup();
        let ring = LineString(positions);
        let ring_len = ring.0.len().saturating_sub(1);
        for (index, line) in ring.lines().enumerate() {
            edges.push(Edge { ring: r, index, ring_len, line });
        }
    }
    for (a, b, intersection) in Intersections::from_iter(edges) {
        let neighbours = a.ring == b.ring
            && (a.index.abs_diff(b.index) == 1 || a.index.abs_diff(b.index) == a.ring_len - 1);
        match intersection {
            LineIntersection::SinglePoint { is_proper: false, .. } if neighbours => {}
            // Rings may touch at a point (OGC), not cross or share an edge.
            LineIntersection::SinglePoint { is_proper: false, .. } if a.ring != b.ring => {}
            _ if a.ring == b.ring => {
                return Err(format!("ring {} intersects itself", a.ring));
            }
            _ => {
                return Err(format!(
                    "rings {} and {} cross each other",
                    a.ring.min(b.ring),
                    a.ring.max(b.ring)
                ));
            }
        }
    }
    let exterior = Polygon::new(polygon.exterior().clone(), vec![]);
    for (h, hole) in polygon.interiors().iter().enumerate() {
        let inside = hole.0.iter().any(|c| exterior.contains(&Point::from(*c)));
        if !inside {
            return Err(format!("hole {} lies outside the exterior ring", h + 1));
        }
    }
    Ok(())
}

fn circle_box(lat: f64, lon: f64, radius_m: f64) -> BoundingBox {
    let angular = radius_m / EARTH_RADIUS_M;
    let dlat = angular.to_degrees();
    let (min_lat, max_lat) = (lat - dlat, lat + dlat);
    if min_lat <= -90.0 || max_lat >= 90.0 {
        // The circle holds a pole: every longitude.
        return BoundingBox {
            min_lat: min_lat.max(-90.0),
            max_lat: max_lat.min(90.0),
            lon_ranges: vec![(-180.0, 180.0)],
        };
    }
    let dlon = (angular.sin() / lat.to_radians().cos()).clamp(-1.0, 1.0).asin().to_degrees();
    let (west, east) = (lon - dlon, lon + dlon);
    let lon_ranges = if west < -180.0 {
        vec![(west + 360.0, 180.0), (-180.0, east)]
    } else if east > 180.0 {
        vec![(west, 180.0), (-180.0, east - 360.0)]
    } else {
        vec![(west, east)]
    };
    BoundingBox { min_lat, max_lat, lon_ranges }
}

#[cfg(test)]
mod tests;
