//! The location grid: the globe cut into cells of 0.01° of latitude by 0.01° of longitude (about
//! 1.1 km by at most 1.1 km), numbered row by row from the south-west. Each stored location
//! carries its cell, so the fan-out reads an area's users row of cells by row of cells, each
//! index entry once, instead of a whole latitude band sorted again for every chunk.

use super::BoundingBox;

/// Cells per degree, both ways.
const PER_DEGREE: f64 = 100.0;
/// Cells in one row: longitudes -180 to 180 inclusive (180 gets a cell of its own).
const ROW: i64 = 360 * 100 + 1;

/// The cell of a position (valid coordinates: latitude -90..=90, longitude -180..=180).
///
/// The database computes each stored location's cell with the same expression in SQL (a
/// generated column, migration 7), `floor((lat + 90) * 100) * 36001 + floor((lon + 180) * 100)`
/// in the same double arithmetic: change both together (a test compares them).
pub fn cell_of(lat: f64, lon: f64) -> i64 {
    lat_row(lat) * ROW + lon_column(lon)
}

fn lat_row(lat: f64) -> i64 {
    ((lat + 90.0) * PER_DEGREE).floor() as i64
}

fn lon_column(lon: f64) -> i64 {
    ((lon + 180.0) * PER_DEGREE).floor() as i64
}

/// The runs of consecutive cells that cover `bbox`, ascending and disjoint: one for each row of
/// cells and longitude range. Every position inside the box lies in one of them.
pub fn runs(bbox: &BoundingBox) -> Vec<(i64, i64)> {
    let mut columns: Vec<(i64, i64)> =
        bbox.lon_ranges.iter().map(|&(west, east)| (lon_column(west), lon_column(east))).collect();
    columns.sort_unstable();
    (lat_row(bbox.min_lat)..=lat_row(bbox.max_lat))
        .flat_map(|row| columns.iter().map(move |&(west, east)| (row * ROW + west, row * ROW + east)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bbox(min_lat: f64, max_lat: f64, lon_ranges: Vec<(f64, f64)>) -> BoundingBox {
        BoundingBox { min_lat, max_lat, lon_ranges }
    }

    #[test]
    fn every_position_in_a_box_lies_in_one_of_its_runs() {
        let boxes = [
            bbox(48.80, 48.92, vec![(2.25, 2.42)]),
            bbox(-0.015, 0.015, vec![(-0.015, 0.015)]),
            // Across the antimeridian: two longitude ranges.
            bbox(-17.9, -17.7, vec![(178.9, 180.0), (-180.0, -179.8)]),
            bbox(89.99, 90.0, vec![(-180.0, 180.0)]),
        ];
        for b in &boxes {
            let runs = runs(b);
            assert!(runs.windows(2).all(|w| w[0].1 < w[1].0), "ascending and disjoint: {runs:?}");
            for i in 0..=40 {
                let lat = b.min_lat + (b.max_lat - b.min_lat) * f64::from(i) / 40.0;
                for (west, east) in &b.lon_ranges {
                    for j in 0..=40 {
                        let lon = west + (east - west) * f64::from(j) / 40.0;
                        let cell = cell_of(lat, lon);
                        assert!(runs.iter().any(|(lo, hi)| (*lo..=*hi).contains(&cell)), "{lat},{lon}");
                    }
                }
            }
        }
    }

    #[test]
    fn cells_are_numbered_row_by_row() {
        assert_eq!(cell_of(-90.0, -180.0), 0);
        assert_eq!(cell_of(-90.0, 180.0), ROW - 1);
        assert_eq!(cell_of(-89.99, -180.0), ROW);
        assert_eq!(cell_of(48.8630, 2.3708), 13886 * ROW + 18237);
    }
}
