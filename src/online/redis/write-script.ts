/**
 * The monotonic write, as one Lua script run atomically by Redis for a group of keys of one slot.
 *
 * KEYS: row keys. ARGV[1]: the writer's clock (epoch ms). Then three ARGV per key:
 * event timestamp, expiry (epoch ms, or "" for no TTL), packed row (see ../packed-row.ts).
 * A stored row with a greater event timestamp wins (stale); an equal one is replaced; a row whose
 * expiry is already past is not written (expired). A stored event timestamp that is no valid
 * instant (beyond ±8.64e15 ms, unparseable) counts as no row, so a valid write repairs it.
 * Returns {written, stale, expired}.
 */
import { createHash } from "node:crypto";

export const WRITE_SCRIPT = `
local now = tonumber(ARGV[1])
local written, stale, expired = 0, 0, 0
for i = 1, #KEYS do
  local ts = tonumber(ARGV[3 * i - 1])
  local exp = ARGV[3 * i]
  local cur = redis.call('GET', KEYS[i])
  local cts = cur and tonumber(string.match(cur, '^[^,]+'))
  if cts and cts <= 8640000000000000 and cts >= -8640000000000000 and cts > ts then
    stale = stale + 1
  elseif exp ~= '' and tonumber(exp) < now then
    expired = expired + 1
  else
    if exp == '' then
      redis.call('SET', KEYS[i], ARGV[3 * i + 1])
    else
      redis.call('SET', KEYS[i], ARGV[3 * i + 1], 'PXAT', exp)
    end
    written = written + 1
  end
end
return {written, stale, expired}
`;

export const WRITE_SCRIPT_SHA = createHash("sha1").update(WRITE_SCRIPT).digest("hex");
