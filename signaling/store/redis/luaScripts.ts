/**
 * The slot and ownership changes that must be atomic across signaling instances, as Lua run inside Redis.
 * Each slot script publishes the change on the feed itself, so no instance can see the slot change without
 * the feed message following it.
 *
 * Slot values: `free`, `leased|<sessionId>`, `busy|<sessionId>` (hash `<prefix>slots:<hostId>`, field = index).
 *
 * Why the guards: an instance cut off from Redis keeps changing its copy, and the writes it sent meanwhile reach
 * Redis when the partition heals (a held TCP connection delivers them late; ioredis re-sends the unanswered ones on
 * reconnecting). Each script that could undo what another instance did meanwhile takes what the writer knew (the
 * session's owner, the host's registration) and refuses the write when Redis holds something newer.
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

/**
 * KEYS[1] slots hash, KEYS[2] owners hash; ARGV feed channel, origin, hostId, the direct channels' prefix
 * (`<prefix>to:`), then for each slot the caller saw taken: slot, sessionId, the session's owner as it knows it ('' =
 * unknown) → the slots kept, as [slot, value, ...]. The host went down: a taken slot is freed (and published free)
 * when its session has no owner, when the caller saw this very session there and Redis names the owner it knew
 * (or it knew none), when the caller owns it, or when its owner has no live subscriber. Kept otherwise: a release
 * queued by an instance cut off from Redis, sent when it got back, does not free the slots another instance leased
 * meanwhile (the host re-registered there) nor those of a session another instance took over — else the same
 * slot could be booked twice.
 */
export const RELEASE_ALL_SLOTS = `
local seen = {}
for i = 5, #ARGV, 3 do seen[ARGV[i]] = { ARGV[i + 1], ARGV[i + 2] } end
local kept = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local field, cur = all[i], all[i + 1]
  if cur ~= 'free' then
    local sid = string.match(cur, '|(.*)$') or ''
    local owner = redis.call('HGET', KEYS[2], sid)
    local known = nil
    if seen[field] and seen[field][1] == sid then known = seen[field][2] end
    local free = (not owner) or known == '' or owner == known or owner == ARGV[2]
    if not free then free = redis.call('PUBSUB', 'NUMSUB', ARGV[4] .. owner)[2] == 0 end
    if free then
      redis.call('HSET', KEYS[1], field, 'free')
      redis.call('PUBLISH', ARGV[1], cjson.encode({k='slot', o=ARGV[2], hostId=ARGV[3], slot=tonumber(field), v='free'}))
    else
      kept[#kept + 1] = field
      kept[#kept + 1] = cur
    end
  end
end
return kept
`;

/**
 * KEYS[1] active hash, KEYS[2] owners hash; ARGV playerId, sessionId, the session's owner as the caller knows it
 * ('' = unknown), feed channel, the feed message (JSON) → 1 when cleared. Cleared only while the player's active
 * session is still this one and Redis names the owner the caller knew (or none): a clear queued by an instance cut
 * off from Redis does not remove the session another instance runs for the player now (a new one, or this one
 * taken over).
 */
export const CLEAR_ACTIVE = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[3] ~= '' then
  local owner = redis.call('HGET', KEYS[2], ARGV[2])
  if owner and owner ~= ARGV[3] then return 0 end
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`;

/**
 * KEYS[1] active hash, KEYS[2] owners hash, KEYS[3] the session's tombstone; ARGV playerId, sessionId, the session's
 * owner as the caller knows it ('' = unknown), feed channel, the feed message (JSON) → 1 when set. Refused when Redis
 * names another owner for the session, or the session was deleted: an instance that lost it does not make it the
 * player's active session again over what the owner set.
 */
export const SET_ACTIVE = `
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
if ARGV[3] ~= '' then
  local owner = redis.call('HGET', KEYS[2], ARGV[2])
  if owner and owner ~= ARGV[3] then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`;

/**
 * KEYS[1] owners hash, KEYS[2] the session's record, KEYS[3] sessions set, KEYS[4] the session's tombstone; ARGV
 * sessionId, the owner the record names, the record (JSON), feed channel, the feed message (JSON) → 1 when written,
 * 0 when refused, -1 when the session was deleted: the record is written (and published) only while the owners hash
 * names the same owner, or none yet and the session was never deleted. An instance that lost the session (another
 * one claimed it while this one was cut off) cannot overwrite the new owner's record with its stale copy — a write
 * it queued while cut off from Redis and sent on reconnecting, say, that ended the session — nor bring the session
 * back once the new owner ended and deleted it (no `own` entry then: the tombstone tells that from "none yet").
 */
export const PUT_SESSION = `
if redis.call('EXISTS', KEYS[4]) == 1 then return -1 end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and cur ~= ARGV[2] then return 0 end
if not cur then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`;

/**
 * KEYS[1] owners hash, KEYS[2] the session's tombstone; ARGV sessionId, new owner, expected owner ('' = any) → 1 when
 * claimed. A deleted session (tombstone) cannot be claimed: a resume of it on an instance with a stale copy fails.
 */
export const CLAIM_SESSION = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[3] ~= '' and cur and cur ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

/**
 * How long Redis remembers that a session was deleted (its tombstone, `gone:<sessionId>`): longer than a write sent
 * before a partition can take to arrive. A write on a connection that stops answering stays in the kernel's send
 * buffer and is retransmitted until Linux gives up, after about 15 minutes (net.ipv4.tcp_retries2 = 15; ioredis's
 * commandTimeout only rejects the caller's promise, the bytes are still sent); then ioredis reconnects at most twice
 * (maxRetriesPerRequest 2, 10 s connect timeout) before it drops what it queued. An hour covers that with room; a
 * tombstone is a few dozen bytes for each session ended in the last hour.
 */
export const SESSION_TOMBSTONE_SEC = 3_600;

/**
 * KEYS[1] owners hash, KEYS[2] the session's record, KEYS[3] sessions set, KEYS[4] the session's tombstone, KEYS[5]
 * the meters' state hash; ARGV sessionId, the session's owner as the caller knows it ('' = unknown), tombstone TTL
 * (s), feed channel, the feed message (JSON) → 1 when deleted (or deleted already), 0 when refused: Redis names
 * another owner, so the caller's copy is stale (a cut-off instance forgetting a session it had ended, which another
 * instance took over and runs). Deleting drops the session's meter state too and leaves the tombstone
 * `PUT_SESSION`, `CLAIM_SESSION`, `SET_ACTIVE` and `SAVE_METER` respect.
 */
export const DELETE_SESSION = `
if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('HDEL', KEYS[5], ARGV[1]) return 1 end
if ARGV[2] ~= '' then
  local owner = redis.call('HGET', KEYS[1], ARGV[1])
  if owner and owner ~= ARGV[2] then return 0 end
end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('SET', KEYS[4], '1', 'EX', tonumber(ARGV[3]))
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`;

/**
 * KEYS[1] the meters' state hash, KEYS[2] the session's tombstone; ARGV sessionId, the state (JSON) → 1 when saved, 0
 * when the session was deleted: a meter's save sent before a partition and delivered after another instance ended
 * and deleted the session does not leave its state behind for good (nothing else would ever remove it).
 */
export const SAVE_METER = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

/** The registration a host record in Redis names ('' for a record without one: written by an older version). */
const REGISTRATION_OF = `
local function registration(raw)
  local ok, record = pcall(cjson.decode, raw)
  if ok and type(record) == 'table' and type(record.registrationId) == 'string' then return record.registrationId end
  return ''
end
`;

/**
 * KEYS[1] the host's record; ARGV the host's registration as the writer knows it ('' = unknown), the record (JSON),
 * feed channel, the feed message (JSON) → 1 when written (and published), 0 when Redis has no record of the host
 * (removed, or Redis lost its state: the resync writes it back), -1 when it holds another registration: the host
 * registered again since the writer last heard (on another instance, while the writer was cut off), so the writer's
 * "host down" (or any change from its stale copy) would mark down a host that is up elsewhere.
 */
export const UPDATE_HOST = `${REGISTRATION_OF}
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local now = registration(cur)
if ARGV[1] ~= '' and now ~= '' and now ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`;

/**
 * KEYS[1] the host's record, KEYS[2] its slots hash, KEYS[3] hosts set, KEYS[4] heartbeat zset; ARGV the host's
 * registration as the writer knows it ('' = unknown), hostId, feed channel, the feed message (JSON) → 1 when removed,
 * 0 when refused: the host registered again since (see `UPDATE_HOST`) — forgetting it would drop the record and the
 * slots another instance leases on it.
 */
export const REMOVE_HOST = `${REGISTRATION_OF}
local cur = redis.call('GET', KEYS[1])
if cur then
  local now = registration(cur)
  if ARGV[1] ~= '' and now ~= '' and now ~= ARGV[1] then return 0 end
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`;

/**
 * KEYS[1] the host's record, KEYS[2] hosts set, KEYS[3] its slots hash, KEYS[4] heartbeat zset; ARGV the host's
 * registration as the registering instance knew it before ('' = none), the new record (JSON, naming the new
 * registration), slot count, heartbeat ms, hostId, feed channel, the feed message (JSON) → 1 when registered, 0 when
 * refused: Redis holds a registration the registering instance had not heard of — the host registered on another
 * instance in the same moment (a hostile host connecting one id to two instances at once, whose copies would each
 * name the other's connection and neither mark it down) or while this one was cut off. First come holds it.
 */
export const REGISTER_HOST = `${REGISTRATION_OF}
local cur = redis.call('GET', KEYS[1])
if cur then
  local now = registration(cur)
  if now ~= '' and now ~= ARGV[1] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[5])
for slot = 0, tonumber(ARGV[3]) - 1 do redis.call('HSETNX', KEYS[3], tostring(slot), 'free') end
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[5])
redis.call('PUBLISH', ARGV[6], ARGV[7])
return 1
`;

/**
 * After Redis restarted empty (no persistence), each instance writes back what it owns — and the tombstones of the
 * sessions it saw deleted in the last `SESSION_TOMBSTONE_SEC`, which Redis lost with the rest. KEYS[1] the session's
 * record, KEYS[2] sessions set, KEYS[3] owners hash, KEYS[4] the session's tombstone, KEYS[5] active hash, KEYS[6]
 * its game's queue, KEYS[7] queues set; ARGV sessionId, owner, the record (JSON), the player whose active session it
 * is ('' = none), the game to queue it in ('' = not queued), its queue score → 1 when written back, 0 when the session
 * was deleted: an instance cut off while another took its session over, ended and deleted it, does not bring the
 * session back (the tombstone, written back by the instance that deleted it, or any that heard of it).
 */
export const WRITE_BACK_SESSION = `
if redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[5], ARGV[4], ARGV[1]) end
if ARGV[5] ~= '' then
  redis.call('ZADD', KEYS[6], tonumber(ARGV[6]), ARGV[1])
  redis.call('SADD', KEYS[7], ARGV[5])
end
return 1
`;

/**
 * The slots of a host written back after Redis restarted empty. KEYS[1] slots hash; ARGV the tombstones' key prefix
 * (`<prefix>gone:`), then field, value pairs → 1. A slot held by a deleted session (its tombstone written back by
 * another instance) is written back free: the cut-off instance's copy still had the session on it. Two instances may
 * each write the host back (it registered again on one while the other was cut off, and kept both connections):
 * a taken slot is written over a free one or none, never over another taken one, and a free one only where there is
 * none — so the later writer's view frees no slot the earlier one's session holds (it would be sold twice).
 */
export const WRITE_BACK_SLOTS = `
for i = 2, #ARGV, 2 do
  local v = ARGV[i + 1]
  local sid = string.match(v, '|(.*)$')
  if sid and redis.call('EXISTS', ARGV[1] .. sid) == 1 then v = 'free' end
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if (not cur) or (cur == 'free' and v ~= 'free') then redis.call('HSET', KEYS[1], ARGV[i], v) end
end
return 1
`;

/**
 * A session Redis holds again after a restart although this instance saw it deleted (another instance, cut off when
 * it was deleted, wrote it back before the tombstone was): deleted again. KEYS[1] owners hash, KEYS[2] the session's
 * record, KEYS[3] sessions set, KEYS[4] the session's tombstone, KEYS[5] meter hash, KEYS[6] active hash, KEYS[7] the
 * slots hash of its host ('' host: any key); ARGV sessionId, tombstone TTL (s), its player, its slot ('' = none),
 * feed channel, the feed message (JSON), origin instance, hostId → 1.
 */
export const FORGET_SESSION = `
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('SET', KEYS[4], '1', 'EX', tonumber(ARGV[2]))
if redis.call('HGET', KEYS[6], ARGV[3]) == ARGV[1] then redis.call('HDEL', KEYS[6], ARGV[3]) end
if ARGV[4] ~= '' then
  local cur = redis.call('HGET', KEYS[7], ARGV[4])
  if cur == ('leased|' .. ARGV[1]) or cur == ('busy|' .. ARGV[1]) then
    redis.call('HSET', KEYS[7], ARGV[4], 'free')
    redis.call('PUBLISH', ARGV[5], cjson.encode({k='slot', o=ARGV[7], hostId=ARGV[8], slot=tonumber(ARGV[4]), v='free'}))
  end
end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
`;
