-- SQLite compares text byte by byte already (its BINARY collation): nothing to change. The
-- PostgreSQL twin gives its id columns the same order.
SELECT 1;
