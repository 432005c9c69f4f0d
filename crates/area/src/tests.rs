//! Area parsing, validation, containment and bounding boxes.

use geo::Destination;
use serde_json::json;

use super::*;

fn fields(result: Result<Area, Vec<FieldError>>) -> Vec<String> {
    result.unwrap_err().into_iter().map(|e| e.field).collect()
}

fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Value {
    json!([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]])
}

#[test]
fn a_paris_circle_holds_what_is_within_its_radius() {
    let area =
        Area::parse(&json!({"type": "Circle", "center": {"lat": 48.8630, "lon": 2.3708}, "radius_m": 1500}))
            .unwrap();
    assert!(area.contains(48.8630, 2.3708));
    assert!(area.contains(48.8700, 2.3800)); // ~1 km away
    assert!(!area.contains(48.8566, 2.3000)); // ~5 km away
    assert!(!area.contains(31.5204, 74.3587)); // Lahore
}

#[test]
fn a_polygon_with_a_hole() {
    let area = Area::parse(&json!({"type": "Polygon", "coordinates": [square(0.0, 0.0, 10.0, 10.0), square(4.0, 4.0, 6.0, 6.0)]})).unwrap();
    assert!(area.contains(1.0, 1.0));
    assert!(!area.contains(5.0, 5.0), "in the hole");
    assert!(area.contains(0.0, 5.0), "on the boundary");
    assert!(!area.contains(11.0, 5.0));
}

#[test]
fn a_multipolygon_holds_each_part() {
    let area = Area::parse(&json!({"type": "MultiPolygon", "coordinates": [[square(0.0, 0.0, 1.0, 1.0)], [[[10.0, 10.0], [11.0, 10.0], [11.0, 11.0], [10.0, 11.0], [10.0, 10.0]]]]})).unwrap();
    assert!(area.contains(0.5, 0.5));
    assert!(area.contains(10.5, 10.5));
    assert!(!area.contains(5.0, 5.0));
}

#[test]
fn a_polygon_across_the_antimeridian_is_not_the_whole_world() {
    // Fiji-ish: from 170°E to 170°W.
    let area = Area::parse(&json!({"type": "Polygon", "coordinates": [[[170.0, -20.0], [-170.0, -20.0], [-170.0, -10.0], [170.0, -10.0], [170.0, -20.0]]]})).unwrap();
    assert!(area.contains(-15.0, 178.0));
    assert!(area.contains(-15.0, -178.0));
    assert!(!area.contains(-15.0, 0.0), "Greenwich is not inside");
    assert!(!area.contains(-15.0, 160.0));
    let bbox = area.bounding_box();
    assert_eq!(bbox.lon_ranges, vec![(-180.0, -170.0), (170.0, 180.0)]);
}

#[test]
fn a_circle_across_the_antimeridian_has_two_longitude_ranges() {
    let area =
        Area::parse(&json!({"type": "Circle", "center": {"lat": 0.0, "lon": 179.9}, "radius_m": 50000}))
            .unwrap();
    assert!(area.contains(0.0, -179.9));
    let bbox = area.bounding_box();
    assert_eq!(bbox.lon_ranges.len(), 2);
    assert!(bbox.lon_ranges.iter().any(|&(w, e)| w <= -179.9 && -179.9 <= e));
}

#[test]
fn a_circle_over_a_pole_spans_every_longitude() {
    let area =
        Area::parse(&json!({"type": "Circle", "center": {"lat": 89.9, "lon": 0.0}, "radius_m": 50000}))
            .unwrap();
    assert_eq!(area.bounding_box().lon_ranges, vec![(-180.0, 180.0)]);
    assert!(area.contains(89.95, 179.0));
}

#[test]
fn the_box_holds_the_circle() {
    let area =
        Area::parse(&json!({"type": "Circle", "center": {"lat": 48.863, "lon": 2.37}, "radius_m": 10000}))
            .unwrap();
    let b = area.bounding_box();
    for bearing in 0..36 {
        let p = Haversine.destination(Point::new(2.37, 48.863), f64::from(bearing) * 10.0, 9999.0);
        assert!(p.y() >= b.min_lat && p.y() <= b.max_lat);
        assert!(b.lon_ranges.iter().any(|&(w, e)| p.x() >= w && p.x() <= e));
    }
}

#[test]
fn invalid_circles_name_the_field() {
    assert_eq!(
        fields(Area::parse(&json!({"type": "Circle", "center": {"lat": 91, "lon": 0}, "radius_m": 10}))),
        ["area.center.lat"]
    );
    assert_eq!(
        fields(Area::parse(&json!({"type": "Circle", "center": {"lat": 0, "lon": 0}, "radius_m": 0.5}))),
        ["area.radius_m"]
    );
    assert_eq!(
        fields(Area::parse(&json!({"type": "Circle", "center": {"lat": 0, "lon": 0}, "radius_m": 500001}))),
        ["area.radius_m"]
    );
    assert_eq!(
        fields(Area::parse(&json!({"type": "Circle", "center": {"lat": "x", "lon": 0}, "radius_m": 5}))),
        ["area.center.lat"]
    );
    assert_eq!(fields(Area::parse(&json!({"type": "Circle", "radius_m": 5}))), ["area.center"]);
    assert_eq!(fields(Area::parse(&json!({"type": "Square"}))), ["area.type"]);
    assert_eq!(fields(Area::parse(&json!({}))), ["area.type"]);
}

#[test]
fn invalid_rings_name_the_ring() {
    let open = json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]});
    assert_eq!(fields(Area::parse(&open)), ["area.coordinates[0]"]);
    let short = json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]});
    assert_eq!(fields(Area::parse(&short)), ["area.coordinates[0]"]);
    let out_of_range = json!({"type": "Polygon", "coordinates": [[[0, 0], [181, 0], [1, 1], [0, 0]]]});
    assert_eq!(fields(Area::parse(&out_of_range)), ["area.coordinates[0][1]"]);
    let not_numbers = json!({"type": "Polygon", "coordinates": [[[0, 0], ["a", 0], [1, 1], [0, 0]]]});
    assert_eq!(fields(Area::parse(&not_numbers)), ["area.coordinates[0][1]"]);
    let multi = json!({"type": "MultiPolygon", "coordinates": [[square(0.0, 0.0, 1.0, 1.0)], [[[0, 0], [1, 0], [1, 1]]]]});
    assert_eq!(fields(Area::parse(&multi)), ["area.coordinates[1][0]"]);
}

#[test]
fn self_intersecting_rings_are_refused() {
    let bowtie = json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]});
    let errors = Area::parse(&bowtie).unwrap_err();
    assert_eq!(errors[0].field, "area.coordinates");
    assert!(errors[0].message.contains("intersects itself"), "{}", errors[0].message);
    let spike = json!({"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [1, 0], [1, 1], [0, 0]]]});
    assert!(Area::parse(&spike).is_err());
    let crossing_hole = json!({"type": "Polygon", "coordinates": [square(0.0, 0.0, 10.0, 10.0), square(5.0, 5.0, 15.0, 6.0)]});
    assert!(Area::parse(&crossing_hole).is_err());
    let outside_hole = json!({"type": "Polygon", "coordinates": [square(0.0, 0.0, 10.0, 10.0), square(20.0, 20.0, 21.0, 21.0)]});
    assert!(Area::parse(&outside_hole).is_err());
}

#[test]
fn too_many_vertices_are_refused() {
    let n = MAX_VERTICES + 1;
    let mut ring: Vec<Value> = (0..n - 1)
        .map(|i| {
            let angle = (i as f64) / ((n - 1) as f64) * std::f64::consts::TAU;
            json!([angle.cos(), angle.sin()])
        })
        .collect();
    ring.push(ring[0].clone());
    let errors = Area::parse(&json!({"type": "Polygon", "coordinates": [ring]})).unwrap_err();
    assert_eq!(errors[0].field, "area.coordinates[0]");
    assert!(errors[0].message.contains("10000"), "{}", errors[0].message);
}

#[test]
fn a_large_valid_polygon_is_accepted() {
    let n = MAX_VERTICES - 1;
    let mut ring: Vec<Value> = (0..n)
        .map(|i| {
            let angle = (i as f64) / (n as f64) * std::f64::consts::TAU;
            json!([angle.cos(), angle.sin()])
        })
        .collect();
    ring.push(ring[0].clone());
    let area = Area::parse(&json!({"type": "Polygon", "coordinates": [ring]})).unwrap();
    assert!(area.contains(0.0, 0.0));
    assert!(!area.contains(0.0, 1.5));
}

#[test]
fn an_area_stored_as_text_reads_back_the_same() {
    // Found by the fuzzer (fuzz/): serde_json without `float_roundtrip` reads about one in eight
    // full-precision coordinates back one unit in the last place off, so the area stored with an
    // incident (`to_json().to_string()`, read again by the fan-out) was not the one validated.
    let circle =
        json!({"type": "Circle", "center": {"lat": 48.863, "lon": 25.003952359151242}, "radius_m": 1500});
    let polygon: Value = serde_json::from_str(
        r#"{"type": "Polygon", "coordinates": [[[0, 0], [1.9285913752128762e-168, -4.5435879904530635e-282],
            [1.9285913724732417e-168, 74.53], [0.0, 0.0]]]}"#,
    )
    .unwrap();
    for value in [circle, polygon] {
        let area = Area::parse(&value).unwrap();
        let stored = area.to_json().to_string();
        let read = Area::parse(&serde_json::from_str(&stored).unwrap()).unwrap();
        assert_eq!(read.to_json(), area.to_json(), "{stored}");
        assert_eq!(read.bounding_box(), area.bounding_box(), "{stored}");
    }
}

#[test]
fn negative_zero_is_zero() {
    // Found by the fuzzer (CI, stop 29): geo's sweep compares ends with `>` but asserts with
    // `total_cmp`, under which -0.0 < 0.0, so an edge ending at lon -0.0 beside one starting at
    // lon 0.0 tripped its debug assertion. A longitude or latitude of -0 is 0.
    let polygon: Value = serde_json::from_str(
        r#"{"type": "Polygon", "coordinates": [[[-1, 0], [-0.0, 1], [0.0, 1], [1, 0], [-1, 0]]]}"#,
    )
    .unwrap();
    let area = Area::parse(&polygon).unwrap();
    assert!(area.contains(0.5, 0.0));
    let stored = Area::parse(&serde_json::from_str(&area.to_json().to_string()).unwrap()).unwrap();
    assert_eq!(stored.bounding_box(), area.bounding_box());
    let circle: Value =
        serde_json::from_str(r#"{"type": "Circle", "center": {"lat": -0.0, "lon": -0.0}, "radius_m": 10}"#)
            .unwrap();
    let circle = Area::parse(&circle).unwrap();
    assert!(circle.contains(0.0, 0.0));
    assert_eq!(
        circle.bounding_box(),
        Area::parse(&json!({"type": "Circle", "center": {"lat": 0, "lon": 0}, "radius_m": 10}))
            .unwrap()
            .bounding_box()
    );
}

#[test]
fn a_position_repeated_at_once_is_not_a_self_intersection() {
    // The edges on either side of the repeat share an end, as neighbours do.
    let area = Area::parse(
        &json!({"type": "Polygon", "coordinates": [[[-1, 0], [0, 1], [0, 1], [1, 0], [-1, 0], [-1, 0]]]}),
    );
    assert!(area.is_ok(), "{area:?}");
    let crossing = Area::parse(
        &json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 1], [1, 0], [0, 1], [0, 0]]]}),
    );
    assert!(crossing.is_err(), "a bow tie with a repeated position still crosses itself");
}
