/**
 * The monotonic write, as one Lua script run atomically by Redis for a group of keys of one slot.
 *
 * KEYS: row keys. ARGV[1]: the writer's clock (epoch ms). Then four ARGV per key: event timestamp,
 * created timestamp ("" for none), expiry (epoch ms, or "" for no TTL), packed row (see
 * ../packed-row.ts). A stored row with a greater event timestamp, or an equal one with a greater
 * created timestamp (none is the least), wins (stale); equal timestamps are replaced; a row whose
 * expiry is already past is not written (expired). Stored rows of either packed form are read: the
 * form with a created timestamp has a number where the other has the quoted schema id (4th field).
 * A stored event timestamp that is no valid instant (beyond ±8.64e15 ms, unparseable) counts as
 * no row, so a valid write repairs it.
 * Returns {written, stale, expired}.
 */
import { createHash } from "node:crypto";

export const WRITE_SCRIPT = `
local now = tonumber(ARGV[1])
local written, stale, expired = 0, 0, 0
for i = 1, #KEYS do
  local a = 4 * i - 2
  local ts = tonumber(ARGV[a])
  local created = -math.huge
  if ARGV[a + 1] ~= '' then created = tonumber(ARGV[a + 1]) end
  local exp = ARGV[a + 2]
  local cur = redis.call('GET', KEYS[i])
  local older = false
  if cur then
    local e, c, _, d = string.match(cur, '^([^,]+),([^,]+),([^,]+),(.)')
    local ce = tonumber(e)
    if ce and ce <= 8640000000000000 and ce >= -8640000000000000 then
      local cc = -math.huge
      if d ~= '"' then cc = tonumber(c) or -math.huge end
      older = ce > ts or (ce == ts and cc > created)
    end
  end
  if older then
    stale = stale + 1
  elseif exp ~= '' and tonumber(exp) < now then
    expired = expired + 1
  else
    if exp == '' then
      redis.call('SET', KEYS[i], ARGV[a + 3])
    else
      redis.call('SET', KEYS[i], ARGV[a + 3], 'PXAT', exp)
    end
    written = written + 1
  end
end
return {written, stale, expired}
`;

export const WRITE_SCRIPT_SHA = createHash("sha1").update(WRITE_SCRIPT).digest("hex");
