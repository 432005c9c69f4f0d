//! The area parser and validator (`crates/area`) on untrusted input.
//!
//! The input is either JSON text (the seeds in `fuzz/seeds/area` are; libFuzzer mutates them),
//! parsed as a request body would be, or, when it is not JSON, raw bytes from which `arbitrary`
//! builds a circle or (multi)polygon with any numbers: NaN and infinities (which JSON turns into
//! null), huge integers, whole and hundredth degrees, repeated and reused positions, rings of
//! tens of thousands of positions.
//!
//! Nothing may panic or hang, and when an area is accepted:
//! - its bounding box is finite, ordered and within ±90° / ±180°;
//! - every point it contains lies in that box (the database finds people by the box first, so
//!   a point outside it would never be prompted): the circle's centre and points towards its
//!   rim, every vertex, and points the input chose (these within a nanodegree: see `holds_near`);
//! - the circle holds its centre and a polygon its exterior vertices (boundary included);
//! - stored as the server stores it (`to_json().to_string()`) and read back, it parses again to
//!   the same bounding box, so an active incident never loses its area.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use geo::{Destination, Haversine, Point};
use libfuzzer_sys::fuzz_target;
use safecheck_area::{Area, BoundingBox};
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        check(&value, &[]);
    } else if let Ok(input) = Structured::arbitrary_take_rest(Unstructured::new(data)) {
        check(&input.shape.to_json(), &input.probes);
    }
});

#[derive(Arbitrary, Debug)]
struct Structured {
    shape: Shape,
    /// Points to test with `contains` (latitude, longitude): any f64 at all.
    probes: Vec<(f64, f64)>,
}

#[derive(Arbitrary, Debug)]
enum Shape {
    Circle { lat: Num, lon: Num, radius_m: Num },
    Polygon(Vec<Ring>),
    MultiPolygon(Vec<Vec<Ring>>),
}

#[derive(Arbitrary, Debug)]
struct Ring {
    positions: Vec<Position>,
    /// Append the first position again, as a valid ring must.
    close: bool,
    /// Mostly nothing; about one ring in forty has its positions repeated thousands of times, up
    /// to the area's `MAX_GENERATED` positions (rarely, so that most runs stay fast).
    repeat: u8,
}

#[derive(Arbitrary, Debug)]
enum Position {
    LonLat(Num, Num),
    WithAltitude(Num, Num, Num),
    /// An earlier position of the same ring again (a touching or repeated vertex).
    Again(u8),
    /// Not a position: a lone number, an empty array, four numbers, a string.
    Junk(u8),
}

#[derive(Arbitrary, Debug)]
enum Num {
    Float(f64),
    Int(i64),
    Huge,
    Whole(i8),
    Hundredths(i16),
    Null,
    Text,
}

/// At most this many positions in one generated area: just above the parser's 10,000-vertex
/// limit, so that it is tested, and no more, so that one run stays cheap.
const MAX_GENERATED: usize = 10_050;

impl Num {
    fn to_json(&self) -> Value {
        match self {
            // JSON has no NaN or infinity: serde_json makes them null, as a client's would.
            Num::Float(f) => json!(f),
            Num::Int(i) => json!(i),
            Num::Huge => json!(u64::MAX),
            Num::Whole(w) => json!(w),
            Num::Hundredths(h) => json!(f64::from(*h) / 100.0),
            Num::Null => Value::Null,
            Num::Text => json!("12.5"),
        }
    }
}

impl Ring {
    /// `budget`: how many more positions this area may have.
    fn to_json(&self, budget: &mut usize) -> Value {
        let mut out: Vec<Value> = Vec::new();
        for p in &self.positions {
            let v = match p {
                Position::LonLat(lon, lat) => json!([lon.to_json(), lat.to_json()]),
                Position::WithAltitude(lon, lat, alt) => json!([lon.to_json(), lat.to_json(), alt.to_json()]),
                Position::Again(i) if !out.is_empty() => out[usize::from(*i) % out.len()].clone(),
                Position::Again(_) => json!([0, 0]),
                Position::Junk(k) => match k % 4 {
                    0 => json!(1.5),
                    1 => json!([]),
                    2 => json!([1, 2, 3, 4]),
                    _ => json!("[0, 0]"),
                },
            };
            out.push(v);
        }
        if !out.is_empty() && self.repeat >= 250 {
            let total = out.len().saturating_mul(usize::from(self.repeat - 249) * 2_000);
            out = out.iter().cycle().take(total.min(*budget)).cloned().collect();
        }
        if self.close
            && let Some(first) = out.first().cloned()
        {
            out.push(first);
        }
        *budget = budget.saturating_sub(out.len());
        Value::Array(out)
    }
}

impl Shape {
    fn to_json(&self) -> Value {
        let mut budget = MAX_GENERATED;
        match self {
            Shape::Circle { lat, lon, radius_m } => json!({
                "type": "Circle",
                "center": { "lat": lat.to_json(), "lon": lon.to_json() },
                "radius_m": radius_m.to_json(),
            }),
            Shape::Polygon(rings) => {
                json!({ "type": "Polygon", "coordinates": rings.iter().map(|r| r.to_json(&mut budget)).collect::<Vec<_>>() })
            }
            Shape::MultiPolygon(polygons) => json!({
                "type": "MultiPolygon",
                "coordinates": polygons
                    .iter()
                    .map(|rings| rings.iter().map(|r| r.to_json(&mut budget)).collect::<Vec<_>>())
                    .collect::<Vec<_>>(),
            }),
        }
    }
}

fn check(value: &Value, probes: &[(f64, f64)]) {
    let Ok(area) = Area::parse(value) else { return };
    let bbox = area.bounding_box();
    assert_sane(&bbox);

    // Points that must be inside, and points that may be: (lat, lon).
    let mut inside: Vec<(f64, f64)> = Vec::new();
    let mut maybe: Vec<(f64, f64)> = probes.to_vec();
    match &area {
        Area::Circle { lat, lon, radius_m } => {
            inside.push((*lat, *lon));
            let centre = Point::new(*lon, *lat);
            for step in 0..16 {
                let bearing = f64::from(step) * 22.5;
                for fraction in [0.5, 0.999, 1.0, 1.001] {
                    let p = Haversine.destination(centre, bearing, radius_m * fraction);
                    maybe.push((p.y(), p.x()));
                }
            }
        }
        Area::Polygons(_) => {
            for (ring, lat, lon) in positions(value) {
                if ring == 0 {
                    inside.push((lat, lon));
                } else {
                    maybe.push((lat, lon));
                }
            }
        }
    }
    for &(lat, lon) in &inside {
        assert!(area.contains(lat, lon), "{area:?} does not contain its own point ({lat}, {lon})");
        assert!(holds(&bbox, lat, lon), "{bbox:?} misses ({lat}, {lon}) of {area:?}");
    }
    for &(lat, lon) in &maybe {
        let contained = area.contains(lat, lon);
        // Locations are validated to these ranges before they are ever tested.
        let valid = (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon);
        if contained && valid {
            assert!(holds_near(&bbox, lat, lon), "{bbox:?} misses ({lat}, {lon}), inside {area:?}");
        }
    }

    // Stored as text and read back (the active-areas cache, the fan-out).
    let stored = area.to_json().to_string();
    let read: Value = serde_json::from_str(&stored).expect("a stored area is JSON");
    let again = Area::parse(&read).unwrap_or_else(|e| panic!("stored area {stored} no longer parses: {e:?}"));
    assert_eq!(again.bounding_box(), bbox, "stored area {stored} has another box");
}

fn assert_sane(b: &BoundingBox) {
    assert!(
        b.min_lat.is_finite()
            && b.max_lat.is_finite()
            && -90.0 <= b.min_lat
            && b.min_lat <= b.max_lat
            && b.max_lat <= 90.0,
        "latitudes of {b:?}"
    );
    assert!(!b.lon_ranges.is_empty() && b.lon_ranges.len() <= 2, "longitude ranges of {b:?}");
    for &(west, east) in &b.lon_ranges {
        assert!(
            west.is_finite() && east.is_finite() && -180.0 <= west && west <= east && east <= 180.0,
            "longitudes of {b:?}"
        );
    }
}

fn holds(b: &BoundingBox, lat: f64, lon: f64) -> bool {
    b.min_lat <= lat && lat <= b.max_lat && b.lon_ranges.iter().any(|&(w, e)| w <= lon && lon <= e)
}

/// Within a nanodegree (0.1 mm) of the box. geo's exact predicates are exact only while products
/// of coordinate differences do not underflow: with coordinates like 1e-265 (found by this
/// target) `contains` can say yes 1e-112 degrees outside a polygon. No position is that precise.
fn holds_near(b: &BoundingBox, lat: f64, lon: f64) -> bool {
    const NEAR: f64 = 1e-9;
    b.min_lat - NEAR <= lat
        && lat <= b.max_lat + NEAR
        && b.lon_ranges.iter().any(|&(w, e)| w - NEAR <= lon && lon <= e + NEAR)
}

/// Every position of an accepted Polygon or MultiPolygon: (ring index, lat, lon).
fn positions(value: &Value) -> Vec<(usize, f64, f64)> {
    let polygons: Vec<&Value> = match value["type"].as_str() {
        Some("Polygon") => vec![&value["coordinates"]],
        _ => value["coordinates"].as_array().map(|a| a.iter().collect()).unwrap_or_default(),
    };
    let mut out = Vec::new();
    for rings in polygons {
        for (r, ring) in rings.as_array().into_iter().flatten().enumerate() {
            for p in ring.as_array().into_iter().flatten() {
                if let (Some(lon), Some(lat)) = (p[0].as_f64(), p[1].as_f64()) {
                    out.push((r, lat, lon));
                }
            }
        }
    }
    out
}
