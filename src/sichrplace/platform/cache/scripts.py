"""Lua scripts: each cache operation is one Redis round trip, atomic on the server.

Keys are `{prefix}{domain}:{generation}:{key}`; the generation lives at `{prefix}{domain}:gen`
and `bump` increments it, so every key of a domain is orphaned at once (and expires by TTL).
Next to a value key live `...:lock` (the lease of whoever is computing it), `...:p` (set
when the value was refreshed from the primary after a write) and `...:f` (present while the
value is fresh). A value outlives its freshness by the stale window: a reader of a stale value
gets it at once, and the first one also gets the lease to refresh it in the background
(stale-while-revalidate). Invalidation and bumps remove values outright, never leaving them
stale: only the passing of time does.

A value is only stored by the holder of the lease: invalidation deletes the lease, so a
computation that started before an invalidation cannot store its stale result. A refresh
after a write takes the lease over (revoking readers' leases) before it reads the primary.
The scripts derive key names from the generation they read, which is fine on a single Redis
(not Redis Cluster).
"""

from __future__ import annotations

# KEYS[1] generation key. ARGV: key prefix ("{prefix}{domain}:"), key, lease token ("" = no
# lease wanted), lease ms. Returns {generation, state, value}: state "hit" (value set),
# "lease" (the caller must compute and fill), "wait" (someone else is computing) or
# "stale" (value set but expired: the caller serves it and refreshes it under the lease).
READ = """
local gen = redis.call('GET', KEYS[1]) or '0'
local key = ARGV[1] .. gen .. ':' .. ARGV[2]
local value = redis.call('GET', key)
if value then
  if redis.call('EXISTS', key .. ':f') == 1 or ARGV[3] == '' then return {gen, 'hit', value} end
  if redis.call('SET', key .. ':lock', ARGV[3], 'NX', 'PX', ARGV[4]) then
    return {gen, 'stale', value}
  end
  return {gen, 'hit', value}
end
if ARGV[3] ~= '' and redis.call('SET', key .. ':lock', ARGV[3], 'NX', 'PX', ARGV[4]) then
  return {gen, 'lease', ''}
end
return {gen, 'wait', ''}
"""

# KEYS[1] generation key. ARGV: key prefix, key, token, lease ms. Takes the lease whoever
# holds it (a refresh after a write outranks readers). Returns the generation.
TAKE_LEASE = """
local gen = redis.call('GET', KEYS[1]) or '0'
local key = ARGV[1] .. gen .. ':' .. ARGV[2]
redis.call('SET', key .. ':lock', ARGV[3], 'PX', ARGV[4])
return gen
"""

# KEYS[1] value key, KEYS[2] lease key, KEYS[3] primary marker, KEYS[4] freshness marker.
# ARGV: token, fresh ms, value, "1" when the value was read from the primary after a write,
# stale window ms. Stores only while the caller still holds the lease.
FILL = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[2] + ARGV[5])
redis.call('SET', KEYS[4], '1', 'PX', ARGV[2])
if ARGV[4] == '1' then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[2] + ARGV[5])
else
  redis.call('DEL', KEYS[3])
end
redis.call('DEL', KEYS[2])
return 1
"""

# KEYS[1] lease key. ARGV: token. Gives a lease back after a failed computation.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS[1] generation key. ARGV: key prefix, key, mode. Mode "all" deletes the value, its
# marker and any lease. Mode "replica" (the delayed second invalidation, aimed at values
# filled from a lagging replica) spares a value refreshed from the primary since, and a
# refresh in progress (its lease token starts with "p:").
INVALIDATE = """
local gen = redis.call('GET', KEYS[1]) or '0'
local key = ARGV[1] .. gen .. ':' .. ARGV[2]
if ARGV[3] == 'replica' then
  if redis.call('EXISTS', key .. ':p') == 1 then return 0 end
  local lease = redis.call('GET', key .. ':lock')
  if lease and string.sub(lease, 1, 2) == 'p:' then return redis.call('DEL', key) end
end
return redis.call('DEL', key, key .. ':lock', key .. ':p', key .. ':f')
"""
