-- Each location carries its grid cell (domain::grid: 0.01° by 0.01°, numbered row by row), so
-- the fan-out reads an area's users row of cells by row of cells in (cell, user_id) order, each
-- index entry once. The covering index answers the fan-out without reading the table.
--
-- The database computes the cell from lat and lon (a generated column), so that no writer can
-- store a location without it, not even an older version of safecheck during a rolling upgrade.
-- The expression is domain::grid::cell_of's, in the same double arithmetic (double precision
-- throughout): change both together.
ALTER TABLE user_locations ADD COLUMN cell BIGINT
    GENERATED ALWAYS AS (floor((lat + 90.0) * 100.0)::bigint * 36001 + floor((lon + 180.0) * 100.0)::bigint) STORED;
DROP INDEX user_locations_lat_lon;
CREATE INDEX user_locations_cell ON user_locations (cell, user_id) INCLUDE (lat, lon, recorded_at);
