-- Each location carries its grid cell (domain::grid: 0.01° by 0.01°, numbered row by row), so
-- the fan-out reads an area's users row of cells by row of cells in (cell, user_id) order, each
-- index entry once. The covering index answers the fan-out without reading the table.
ALTER TABLE user_locations ADD COLUMN cell BIGINT NOT NULL DEFAULT 0;
-- The same arithmetic as domain::grid::cell_of (double precision throughout).
UPDATE user_locations
SET cell = floor((lat + 90.0) * 100.0)::bigint * 36001 + floor((lon + 180.0) * 100.0)::bigint;
DROP INDEX user_locations_lat_lon;
CREATE INDEX user_locations_cell ON user_locations (cell, user_id) INCLUDE (lat, lon, recorded_at);
