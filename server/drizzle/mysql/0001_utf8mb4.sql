-- utf8 (3-byte) cannot hold emoji or other 4-byte characters; utf8mb4 is a superset, so no stored text changes.
-- Binary collation: filters match exactly, as in SQLite.
ALTER TABLE `servercmdhist` CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
