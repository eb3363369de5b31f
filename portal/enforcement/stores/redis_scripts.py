"""The Lua scripts of the Redis store, each run atomically by the server."""

from __future__ import annotations

# KEYS: minute, day, leases, generation, pending usage, the period's overage counter (the day key
# again when overage is off: it is never touched then), then the lease sets of queued releases.
# ARGV: per-minute, per-day, concurrent, lease-set ttl, day ttl, the overage allowance (-1: overage
# off), the overage counter's ttl (past its period), the number n of usage fields, the n
# fields, the number m of overage fields, the m fields, now, lease expiry, lease token, then the
# tokens of the queued releases (the parts that change per call come last, so the rest is built
# once per tenant and day).
# Past the day's quota with overage on, the call is an overage call while the period's counter
# is under the allowance: it counts in that counter and in the overage fields too, and its lease
# is named "<token>:o", so an undo knows what to take back. The minute and concurrency limits
# hold for it as for any call.
# The new lease goes in before the released ones come out, so a lease set whose calls follow
# one another is never emptied (and deleted): its TTL is set when it is created and refreshed by
# the first call of each minute, not by every call. That TTL (lease + 120 s) outlasts every
# lease in the set: one added in a minute expires within a lease of that minute's first call.
ACQUIRE = """
local fields = tonumber(ARGV[8])
local extra = tonumber(ARGV[9 + fields])
local tail = 10 + fields + extra
local now = tonumber(ARGV[tail])
local counts = redis.call('MGET', KEYS[1], KEYS[2], KEYS[4])
local minute = tonumber(counts[1] or '0')
local day = tonumber(counts[2] or '0')
local generation = tonumber(counts[3] or '0')
local refused = ''
local overage = -1
if day >= tonumber(ARGV[2]) then
  local allowance = tonumber(ARGV[6])
  if allowance < 0 then
    refused = 'day'
  else
    overage = tonumber(redis.call('GET', KEYS[6]) or '0')
    if overage >= allowance then refused = 'overage_cap' end
  end
end
local token = ARGV[tail + 2]
if overage >= 0 then token = token .. ':o' end
redis.call('ZADD', KEYS[3], ARGV[tail + 1], token)
local held = redis.call('ZCARD', KEYS[3])
local created = held == 1
local in_flight = held - 1
for i = 7, #KEYS do
  local released = redis.call('ZREM', KEYS[i], ARGV[tail - 4 + i])
  if KEYS[i] == KEYS[3] then in_flight = in_flight - released end
end
if in_flight >= tonumber(ARGV[3]) then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  in_flight = redis.call('ZCARD', KEYS[3]) - 1
end
if refused == '' then
  if minute >= tonumber(ARGV[1]) then
    refused = 'minute'
  elseif in_flight >= tonumber(ARGV[3]) then
    refused = 'concurrent'
  end
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
  for i = 9, 8 + fields do redis.call('HINCRBY', KEYS[5], ARGV[i], 1) end
  if overage >= 0 then
    overage = redis.call('INCR', KEYS[6])
    if overage == 1 then redis.call('EXPIRE', KEYS[6], ARGV[7]) end
    for i = 10 + fields, 9 + fields + extra do redis.call('HINCRBY', KEYS[5], ARGV[i], 1) end
  end
end
return {refused, minute, day, in_flight, generation, overage}
"""

# Takes back an admission: one whose reply never arrived (a timeout), or one our own gates
# refused after it (a refund). If its lease is there, the script ran and counted the call; a
# lease named "<token>:o" marks an overage call, whose period counter and overage fields are
# taken back too. A counter that expired meanwhile is left alone (a DECR would bring it back as
# -1, with no TTL).
# KEYS: minute, day, leases, pending usage, overage counter.
# ARGV: the lease token, the number n of usage fields, the n fields, then the overage fields.
UNDO = """
local overage = false
if redis.call('ZREM', KEYS[3], ARGV[1]) == 0 then
  if redis.call('ZREM', KEYS[3], ARGV[1] .. ':o') == 0 then return 0 end
  overage = true
end
local counters = {KEYS[1], KEYS[2]}
local last = 2 + tonumber(ARGV[2])
if overage then
  table.insert(counters, KEYS[5])
  last = #ARGV
end
for _, key in ipairs(counters) do
  if redis.call('EXISTS', key) == 1 then redis.call('DECR', key) end
end
for i = 3, last do redis.call('HINCRBY', KEYS[4], ARGV[i], -1) end
return 1
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
