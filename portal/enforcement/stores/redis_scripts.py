"""The Lua scripts of the Redis store, each run atomically by the server."""

from __future__ import annotations

# KEYS: minute, day, leases, generation, pending usage, then the lease sets of queued releases.
# ARGV: per-minute, per-day, concurrent, lease-set ttl, day ttl, the number n of usage fields,
# the n fields, now, lease expiry, lease token, then the tokens of the queued releases (the parts
# that change per call come last, so the rest is built once per tenant and day).
# The new lease goes in before the released ones come out, so a lease set whose calls follow
# one another is never emptied (and deleted): its TTL is set when it is created and refreshed by
# the first call of each minute, not by every call. That TTL (lease + 120 s) outlasts every
# lease in the set: one added in a minute expires within a lease of that minute's first call.
ACQUIRE = """
local fields = tonumber(ARGV[6])
local now = tonumber(ARGV[7 + fields])
local token = ARGV[9 + fields]
local counts = redis.call('MGET', KEYS[1], KEYS[2], KEYS[4])
local minute = tonumber(counts[1] or '0')
local day = tonumber(counts[2] or '0')
local generation = tonumber(counts[3] or '0')
redis.call('ZADD', KEYS[3], ARGV[8 + fields], token)
local held = redis.call('ZCARD', KEYS[3])
local created = held == 1
local in_flight = held - 1
for i = 6, #KEYS do
  local released = redis.call('ZREM', KEYS[i], ARGV[4 + fields + i])
  if KEYS[i] == KEYS[3] then in_flight = in_flight - released end
end
if in_flight >= tonumber(ARGV[3]) then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  in_flight = redis.call('ZCARD', KEYS[3]) - 1
end
local refused = ''
if day >= tonumber(ARGV[2]) then
  refused = 'day'
elseif minute >= tonumber(ARGV[1]) then
  refused = 'minute'
elseif in_flight >= tonumber(ARGV[3]) then
  refused = 'concurrent'
end
if refused ~= '' then
  redis.call('ZREM', KEYS[3], token)
else
  minute = redis.call('INCR', KEYS[1])
  if minute == 1 then redis.call('EXPIRE', KEYS[1], 120) end
  day = redis.call('INCR', KEYS[2])
  if day == 1 then redis.call('EXPIRE', KEYS[2], ARGV[5]) end
  if created or minute == 1 then redis.call('EXPIRE', KEYS[3], ARGV[4]) end
  in_flight = in_flight + 1
  for i = 7, 6 + fields do redis.call('HINCRBY', KEYS[5], ARGV[i], 1) end
end
return {refused, minute, day, in_flight, generation}
"""

# Undoes an admission whose reply never arrived (a timeout): if its lease is there, the script
# ran, so the call was counted although the caller was told otherwise. A window counter that
# expired meanwhile is left alone (a DECR would bring it back as -1, with no TTL).
UNDO = """
if redis.call('ZREM', KEYS[3], ARGV[1]) == 1 then
  for i = 1, 2 do
    if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('DECR', KEYS[i]) end
  end
  for i = 2, #ARGV do redis.call('HINCRBY', KEYS[4], ARGV[i], -1) end
end
return 0
"""

# Renames the pending hash to a batch key (so new calls start a fresh hash) and claims every
# batch that is new or whose flusher went quiet, re-scoring them with the claim time.
TAKE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], ARGV[1])
  redis.call('ZADD', KEYS[2], 0, ARGV[1])
end
local out = {}
for _, key in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])) do
  redis.call('ZADD', KEYS[2], ARGV[2], key)
  table.insert(out, key)
  table.insert(out, redis.call('HGETALL', key))
end
return out
"""

PENDING = """
local keys = redis.call('ZRANGE', KEYS[2], 0, -1)
table.insert(keys, 1, KEYS[1])
local total = 0
for _, key in ipairs(keys) do
  for i = 1, #ARGV do total = total + tonumber(redis.call('HGET', key, ARGV[i]) or '0') end
end
return total
"""
