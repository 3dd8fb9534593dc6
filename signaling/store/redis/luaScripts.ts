/**
 * The slot and ownership changes that must be atomic across signaling instances, as Lua run inside Redis.
 * Each slot script publishes the change on the feed itself, so no instance can see the slot change without
 * the feed message following it.
 *
 * Slot values: `free`, `leased|<sessionId>`, `busy|<sessionId>` (hash `<prefix>slots:<hostId>`, field = index).
 */

/** KEYS[1] slots hash; ARGV slot, sessionId, feed channel, origin instance, hostId → 'ok' | 'missing' | holder. */
export const LEASE_SLOT = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 'missing' end
if cur ~= 'free' then return cur end
local v = 'leased|' .. ARGV[2]
redis.call('HSET', KEYS[1], ARGV[1], v)
redis.call('PUBLISH', ARGV[3], cjson.encode({k='slot', o=ARGV[4], hostId=ARGV[5], slot=tonumber(ARGV[1]), v=v}))
return 'ok'
`;

/** KEYS[1] slots hash; ARGV slot, sessionId, feed channel, origin, hostId → 1 when leased → busy. */
export const CONFIRM_SLOT = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur ~= ('leased|' .. ARGV[2]) then return 0 end
local v = 'busy|' .. ARGV[2]
redis.call('HSET', KEYS[1], ARGV[1], v)
redis.call('PUBLISH', ARGV[3], cjson.encode({k='slot', o=ARGV[4], hostId=ARGV[5], slot=tonumber(ARGV[1]), v=v}))
return 1
`;

/**
 * KEYS[1] slots hash, KEYS[2] owners hash; ARGV slot, sessionId, feed channel, origin, hostId, the session's owner
 * as the releasing instance knows it ('' = unknown) → 1 when this session's slot was freed. Refused (0) when the
 * session has another owner now: a release from an instance that lost the session (a write it queued while cut
 * off from Redis, sent when it got back) does not free the slot the new owner's session streams on.
 */
export const RELEASE_SLOT = `
if ARGV[6] ~= '' then
  local owner = redis.call('HGET', KEYS[2], ARGV[2])
  if owner and owner ~= ARGV[6] then return 0 end
end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur ~= ('leased|' .. ARGV[2]) and cur ~= ('busy|' .. ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], 'free')
redis.call('PUBLISH', ARGV[3], cjson.encode({k='slot', o=ARGV[4], hostId=ARGV[5], slot=tonumber(ARGV[1]), v='free'}))
return 1
`;

/** KEYS[1] slots hash; ARGV feed channel, origin, hostId → every slot freed. */
export const RELEASE_ALL_SLOTS = `
local fields = redis.call('HKEYS', KEYS[1])
for _, field in ipairs(fields) do redis.call('HSET', KEYS[1], field, 'free') end
redis.call('PUBLISH', ARGV[1], cjson.encode({k='slotsFree', o=ARGV[2], hostId=ARGV[3]}))
return #fields
`;

/**
 * KEYS[1] owners hash, KEYS[2] the session's record, KEYS[3] sessions set; ARGV sessionId, the owner the record
 * names, the record (JSON), feed channel, the feed message (JSON) → 1 when written, 0 when refused: the record is
 * written (and published) only while the owners hash names the same owner, or none yet. An instance that lost the
 * session (another one claimed it while this one was cut off) cannot overwrite the new owner's record with its
 * stale copy — a write it queued while cut off from Redis and sent on reconnecting, say, that ended the session.
 */
export const PUT_SESSION = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and cur ~= ARGV[2] then return 0 end
if not cur then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`;

/** KEYS[1] owners hash; ARGV sessionId, new owner, expected owner ('' = any) → 1 when claimed. */
export const CLAIM_SESSION = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[3] ~= '' and cur and cur ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`;
