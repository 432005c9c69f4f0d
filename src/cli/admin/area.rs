//! The area of `incidents create`: `--circle LAT,LON,RADIUS_M` or a `--geojson` file.

use std::path::Path;

use serde_json::{Value, json};

use super::failure::Failure;

/// A circle, as `--circle` gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Circle {
    pub lat: f64,
    pub lon: f64,
    pub radius_m: f64,
}

impl Circle {
    /// The API's `{"type":"Circle", …}` area.
    pub fn to_json(self) -> Value {
        json!({ "type": "Circle", "center": { "lat": self.lat, "lon": self.lon }, "radius_m": self.radius_m })
    }
}

/// Parses `LAT,LON,RADIUS_M`, e.g. `48.863,2.3708,1500` (clap's value parser: a bad value is a
/// usage error, exit 2). The server checks the area again; this catches slips before a request.
pub fn parse_circle(raw: &str) -> Result<Circle, String> {
    let parts: Vec<&str> = raw.split(',').map(str::trim).collect();
    let [lat, lon, radius] = parts.as_slice() else {
        return Err("expected LAT,LON,RADIUS_M, e.g. 48.863,2.3708,1500".into());
    };
    let number = |name: &str, text: &str| {
        text.parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .ok_or_else(|| format!("{name} {text:?} is not a number"))
    };
    let circle =
        Circle { lat: number("LAT", lat)?, lon: number("LON", lon)?, radius_m: number("RADIUS_M", radius)? };
    if !(-90.0..=90.0).contains(&circle.lat) {
        return Err("LAT must be between -90 and 90".into());
    }
    if !(-180.0..=180.0).contains(&circle.lon) {
        return Err("LON must be between -180 and 180".into());
    }
    if circle.radius_m <= 0.0 {
        return Err("RADIUS_M must be more than 0 (metres)".into());
    }
    Ok(circle)
}

/// Reads a GeoJSON file (`-` is standard input) and returns its Polygon or MultiPolygon geometry.
/// The file may hold the geometry itself, a Feature, or a FeatureCollection of one feature.
pub fn read_geojson(path: &Path) -> Result<Value, Failure> {
    let name = path.display();
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| Failure::Usage(format!("--geojson {name}: {e}")))?;
    let document: Value = serde_json::from_str(&text)
        .map_err(|e| Failure::Usage(format!("--geojson {name}: not JSON: {e}")))?;
    geometry_of(document).map_err(|m| Failure::Usage(format!("--geojson {name}: {m}")))
}

fn geometry_of(document: Value) -> Result<Value, String> {
    let geometry = match document["type"].as_str() {
        Some("Feature") => document["geometry"].clone(),
        Some("FeatureCollection") => match document["features"].as_array().map(Vec::as_slice) {
            Some([feature]) => feature["geometry"].clone(),
            Some(features) => {
                return Err(format!(
                    "a FeatureCollection must hold exactly one feature, not {}",
                    features.len()
                ));
            }
            None => return Err("a FeatureCollection needs a `features` array".into()),
        },
        _ => document,
    };
    match geometry["type"].as_str() {
        Some("Polygon" | "MultiPolygon") => Ok(geometry),
        Some(other) => Err(format!("the geometry is a {other}; expected a Polygon or a MultiPolygon")),
        None => Err("expected a GeoJSON Polygon or MultiPolygon, a Feature, or a FeatureCollection".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_circle_reads_as_lat_lon_radius() {
        let circle = parse_circle("48.863, 2.3708,1500").unwrap();
        assert_eq!(circle, Circle { lat: 48.863, lon: 2.3708, radius_m: 1500.0 });
        assert_eq!(circle.to_json()["center"]["lon"], 2.3708);
        assert_eq!(parse_circle("-33.9,18.4,250.5").unwrap().lat, -33.9);
    }

    #[test]
    fn a_bad_circle_says_what_is_wrong() {
        assert!(parse_circle("48.8,2.3").unwrap_err().contains("LAT,LON,RADIUS_M"));
        assert!(parse_circle("north,2.3,10").unwrap_err().contains("LAT"));
        assert!(parse_circle("95,2.3,10").unwrap_err().contains("-90 and 90"));
        assert!(parse_circle("45,200,10").unwrap_err().contains("-180 and 180"));
        assert!(parse_circle("45,2,0").unwrap_err().contains("RADIUS_M"));
        assert!(parse_circle("45,2,NaN").unwrap_err().contains("not a number"));
    }

    #[test]
    fn geojson_may_be_a_geometry_a_feature_or_a_collection_of_one() {
        let ring = json!([[2.3, 48.8], [2.4, 48.8], [2.4, 48.9], [2.3, 48.8]]);
        let polygon = json!({ "type": "Polygon", "coordinates": [ring] });
        let feature = json!({ "type": "Feature", "properties": {}, "geometry": polygon });
        let collection = json!({ "type": "FeatureCollection", "features": [feature] });
        for document in [polygon.clone(), feature.clone(), collection] {
            assert_eq!(geometry_of(document).unwrap(), polygon);
        }
        let two = json!({ "type": "FeatureCollection", "features": [feature.clone(), feature] });
        assert!(geometry_of(two).unwrap_err().contains("exactly one"));
        let point = json!({ "type": "Point", "coordinates": [2.3, 48.8] });
        assert!(geometry_of(point).unwrap_err().contains("Point"));
    }
}
