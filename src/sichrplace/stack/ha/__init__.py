"""High availability for the stack's Postgres: Patroni on each node, etcd as its store,
HAProxy routing to the leader and a replica (docs/adr/0011-postgres-failover.md)."""
