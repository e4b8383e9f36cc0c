"""Analytics: raw events in daily partitions (pg_partman), rollups per listing and per city
and day, and the landlord's statistics read from them."""
