DROP INDEX user_locations_cell;
CREATE INDEX user_locations_lat_lon ON user_locations (lat, lon);
ALTER TABLE user_locations DROP COLUMN cell;
