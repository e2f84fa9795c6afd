/**
 * The compare-and-set of `OnlineStore.update` on Redis, one Lua script run atomically for a group
 * of entities of one slot (on a Cluster an entity's state key carries a hash tag of its row key's
 * slot, so both keys are in one slot).
 *
 * KEYS: per entity its row key and its state key. ARGV[1]: the writer's clock (epoch ms). Then five
 * ARGV per entity: the version the writer read ("" = no state), the new state value (it starts
 * with its new version and a newline), the state's expiry ("" = none), the packed row, the row's
 * expiry ("" = none).
 *
 * Per entity the script compares the stored state's version (the text before its first newline)
 * with the one read; on a match it stores the state and the row (a row already past its expiry is
 * deleted instead, so no older row outlives it) and answers 1 (2 when the row had expired), on a
 * mismatch it changes nothing and answers 0: the caller reads again and retries.
 */
import { createHash } from "node:crypto";

export const UPDATE_SCRIPT = `
local now = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS / 2 do
  local rkey, skey = KEYS[2 * i - 1], KEYS[2 * i]
  local a = 1 + 5 * (i - 1)
  local expected, state, sexp, row, rexp = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  local cur = redis.call('GET', skey)
  local ver = ''
  if cur then ver = string.match(cur, '^[^\\n]*') end
  if ver ~= expected then
    out[i] = 0
  else
    if sexp == '' then redis.call('SET', skey, state) else redis.call('SET', skey, state, 'PXAT', sexp) end
    if rexp ~= '' and tonumber(rexp) < now then
      redis.call('DEL', rkey)
      out[i] = 2
    else
      if rexp == '' then redis.call('SET', rkey, row) else redis.call('SET', rkey, row, 'PXAT', rexp) end
      out[i] = 1
    end
  end
end
return out
`;

export const UPDATE_SCRIPT_SHA = createHash("sha1").update(UPDATE_SCRIPT).digest("hex");
