-- logbridge batch script: a file's lines, its bad lines and its checkpoint in
-- one atomic step. Run with EVALSHA, or as EVAL in the fast path's MULTI
-- (see sink.c).
--
-- KEYS[1] checkpoint hash, KEYS[2] DLQ stream (a target stream when the batch
-- has no bad lines: a batch names only keys it needs), KEYS[3..] target streams. In
-- the fast path with native XADDs, the field "" of KEYS[1] holds the stream's
-- length noted just before them (in the same MULTI), and is removed here.
-- ARGV[1] src  ARGV[2] checkpoint prefix '{"dev":N,"ino":N,"fp":"'
-- ARGV[3] fingerprint at the batch's end
-- ARGV[4] reserved
-- ARGV[5] end offset  ARGV[6] end line  ARGV[7] last id if src has no checkpoint
-- ARGV[8] flags: t = --id ts, p = provenance, g = trimming respects groups,
--   s = the last key is the template's set logbridge:streams:{T}: every
--   stream this batch wrote to is added to it (DESIGN.md section 8)
-- ARGV[9] json field  ARGV[10] maxlen (0 = none)  ARGV[11] entry count
-- ARGV[12] native count: in the fast path (plain stream, --id auto) the
--   batch's valid lines are plain XADDs queued before this script in the same
--   MULTI/EXEC; they either all landed or, when KEYS[3] is not a stream, none
--   did. ARGV[13] the offset of the last of them (with provenance).
-- ARGV[14] the fence: where the checkpoint of src must stand for this batch
--   to apply, 'dev:ino:off:line' (the end of the batch before it), '-' when
--   it must be absent, '' = unchecked.
-- entries from ARGV[15]:
--   v line off keyidx ms role timestamp type data   (fields encoding)
--   j line off keyidx ms payload                    (json encoding)
--   b line off reason raw raw_len                   (dead letter)
-- Returns {written, bad, last_id, reordered, error, trim_blocked, ck_off, ck_line}.
-- A batch is all or nothing: when any write fails, what the batch wrote is
-- removed again and the checkpoint does not move (error is then non-empty; a
-- refusal by the fence starts with 'FENCE ').
--
-- The checkpoint value keeps, under "done", the identities of the last 8
-- generations of src that it described before (most recent first), so that
-- import recognises a rotated generation that tail already read.
local src, flags = ARGV[1], ARGV[8]
local idts = string.find(flags, 't', 1, true) ~= nil
local prov = string.find(flags, 'p', 1, true) ~= nil
local respect = string.find(flags, 'g', 1, true) ~= nil
local jfield, maxlen, n = ARGV[9], tonumber(ARGV[10]), tonumber(ARGV[11])
local nat = tonumber(ARGV[12])
local setkey = nil
local lastid = ARGV[7]
local written, bad, reordered = 0, 0, 0
local dlq_ids = {}
local added = {} -- script path: key, id of every entry this batch wrote

-- The fast path: how long the stream was before the batch's XADDs.
local nstreams, before = #KEYS, nil
if string.find(flags, 's', 1, true) ~= nil then
  setkey = KEYS[#KEYS]
  nstreams = #KEYS - 1
end
if nat > 0 then
  before = tonumber(redis.call('HGET', KEYS[1], ''))
  redis.call('HDEL', KEYS[1], '')
end

local function field(kv, name)
  for x = 1, #kv, 2 do
    if kv[x] == name then return kv[x + 1] end
  end
  return nil
end

-- Undo this batch (fast path only): the native XADDs and any DLQ entries.
local function rollback()
  if nat > 0 then
    -- only what landed: the length says how many (all of them when unknown)
    local landed = nat
    if before then landed = redis.call('XLEN', KEYS[3]) - before end
    local r = {}
    if landed > 0 then r = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', landed) end
    for x = 1, #r, 1000 do
      local ids = {}
      for y = x, math.min(x + 999, #r) do ids[#ids + 1] = r[y][1] end
      redis.call('XDEL', KEYS[3], unpack(ids))
    end
  end
  for x = 1, #dlq_ids, 1000 do
    redis.call('XDEL', KEYS[2], unpack(dlq_ids, x, math.min(x + 999, #dlq_ids)))
  end
  for x = 1, #added, 2 do
    redis.call('XDEL', added[x], added[x + 1])
  end
end

local bad_key = nil
for k = 1, nstreams do
  local t = redis.call('TYPE', KEYS[k])['ok']
  local want = 'stream'
  if k == 1 then want = 'hash' end
  if t ~= 'none' and t ~= want and bad_key == nil then
    bad_key = 'WRONGTYPE ' .. KEYS[k] .. ' holds a ' .. t .. ', not a ' .. want
    if k == 3 then nat = 0 end -- the native XADDs failed with it: nothing to undo
  end
end
if setkey and bad_key == nil then
  local t = redis.call('TYPE', setkey)['ok']
  if t ~= 'none' and t ~= 'set' then
    bad_key = 'WRONGTYPE ' .. setkey .. ' holds a ' .. t .. ', not a set'
  end
end
if bad_key then
  rollback()
  return {0, 0, lastid, 0, bad_key, 0, '', ''}
end

-- The last id written for src is in its checkpoint (batches may be
-- pipelined, so the caller's idea of it can be one batch old).
local prev = redis.call('HGET', KEYS[1], src)
if prev then lastid = string.match(prev, '"id":"([^"]*)"') or lastid end

-- A batch sent after one that was refused (pipelined), or by a second
-- process importing the same file, must not apply: it would move the
-- checkpoint past lines that were never written, or write lines twice.
local function where(v)
  if not v then return '-' end
  return (string.match(v, '"dev":(%d+)') or '?') .. ':' .. (string.match(v, '"ino":(%d+)') or '?') ..
         ':' .. (string.match(v, '"off":(%d+)') or '?') .. ':' .. (string.match(v, '"line":(%d+)') or '?')
end
if ARGV[14] ~= '' then
  local w = where(prev)
  if w ~= ARGV[14] then
    rollback()
    return {0, 0, lastid, 0, 'FENCE the checkpoint of ' .. src .. ' stands at ' .. w ..
            ' (dev:ino:off:line), not at the start of this batch (' .. ARGV[14] .. ')', 0, '', ''}
  end
end

-- src and off of an entry in either encoding.
local function provenance(kv)
  local s, o = field(kv, 'src'), field(kv, 'off')
  if s == nil then
    local ok, j = pcall(cjson.decode, field(kv, jfield) or '')
    if ok and type(j) == 'table' then
      s = j.src
      if type(j.off) == 'number' then o = string.format('%.0f', j.off) end
    end
  end
  return s, o
end

if nat > 0 then
  -- Every native XADD must have landed: nothing runs between them and this
  -- script, and each one that lands adds exactly one entry, so the stream
  -- must be exactly nat entries longer than it was just before them; its
  -- newest entry is then the batch's last (with provenance: checked by its
  -- src and off too). Anything else: undo, rather than keep entries that no
  -- checkpoint covers.
  local top = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
  local ok = before ~= nil and #top == 1 and redis.call('XLEN', KEYS[3]) - before == nat
  if ok and prov then
    local s1, o1 = provenance(top[1][2])
    ok = s1 == src and o1 == ARGV[13]
  end
  if not ok then
    rollback()
    return {0, 0, lastid, 0, 'the batch is not at the top of ' .. KEYS[3], 0, '', ''}
  end
  lastid = top[1][1]
  written = nat
end

local function split_id(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end

-- The stream's last generated id: XADD refuses anything at or below it.
local function top_ms(key)
  local info = redis.call('XINFO', 'STREAM', key)
  for x = 1, #info, 2 do
    if info[x] == 'last-generated-id' then
      local ms = split_id(info[x + 1])
      return ms
    end
  end
  return 0
end

local function add(kind, key, xid, base, off)
  if kind == 'v' then
    if prov then
      return redis.pcall('XADD', key, xid, 'role', ARGV[base + 5], 'timestamp', ARGV[base + 6],
                         'type', ARGV[base + 7], 'data', ARGV[base + 8], 'src', src, 'off', off)
    end
    return redis.pcall('XADD', key, xid, 'role', ARGV[base + 5], 'timestamp', ARGV[base + 6],
                       'type', ARGV[base + 7], 'data', ARGV[base + 8])
  end
  return redis.pcall('XADD', key, xid, jfield, ARGV[base + 5])
end

local err, err_off, err_line = nil, nil, nil
local i = 15
for e = 1, n do
  local kind, line, off = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local r
  if kind == 'b' then
    r = redis.pcall('XADD', KEYS[2], '*', 'src', src, 'off', off, 'line', line,
                    'reason', ARGV[i + 3], 'raw', ARGV[i + 4], 'raw_len', ARGV[i + 5])
    i = i + 6
    if type(r) == 'table' and r.err then
      err, err_off, err_line = r.err, off, line
      break
    end
    dlq_ids[#dlq_ids + 1] = r
    bad = bad + 1
  else
    local key = KEYS[tonumber(ARGV[i + 3])]
    local id = '*'
    if idts then id = ARGV[i + 4] .. '-*' end
    r = add(kind, key, id, i, off)
    if idts and type(r) == 'table' and r.err and string.find(r.err, 'equal or smaller', 1, true) then
      -- Older than the stream's top: written at the top's millisecond, and
      -- counted; the timestamp field keeps the truth.
      r = add(kind, key, string.format('%.0f', top_ms(key)) .. '-*', i, off)
      reordered = reordered + 1
    end
    if kind == 'v' then i = i + 9 else i = i + 6 end
    if type(r) == 'table' and r.err then
      err, err_off, err_line = r.err, off, line
      break
    end
    added[#added + 1] = key
    added[#added + 1] = r
    lastid = r
    written = written + 1
  end
end

if setkey and not err then
  -- the names this batch wrote to, in the same atomic step as the entries
  local seen, names = {}, {}
  for x = 1, #added, 2 do
    if not seen[added[x]] then
      seen[added[x]] = true
      names[#names + 1] = added[x]
    end
  end
  if #names > 0 then
    local r = redis.pcall('SADD', setkey, unpack(names))
    if type(r) == 'table' and r.err then
      err, err_off, err_line = r.err, ARGV[5], ARGV[6]
    end
  end
end

if err then
  -- All or nothing: the checkpoint stays where it was, and what this batch
  -- wrote goes again (a batch after it is refused by its fence).
  rollback()
  return {0, 0, ARGV[7], 0, err .. ' (line ' .. err_line .. ', off ' .. err_off .. ')', 0, '', ''}
end

local ck_off, ck_line = ARGV[5], ARGV[6]
-- The generations src described before this one, for import's identity
-- check: the previous one goes first when the identity changes.
local done = ''
if prev then
  done = string.match(prev, ',"done":(%b[])') or ''
  local pdev, pino = string.match(prev, '^{"dev":(%d+),"ino":(%d+),')
  local ndev, nino = string.match(ARGV[2], '^{"dev":(%d+),"ino":(%d+),')
  if pdev and (pdev ~= ndev or pino ~= nino) then
    local pfp = string.match(prev, '"fp":"(%x*)"') or ''
    local poff = string.match(prev, '"off":(%d+)') or '0'
    local pline = string.match(prev, '"line":(%d+)') or '0'
    local items = {}
    items[1] = '{"dev":' .. pdev .. ',"ino":' .. pino .. ',"fp":"' .. pfp .. '","off":' .. poff ..
               ',"line":' .. pline .. '}'
    for item in string.gmatch(done, '{[^{}]*}') do
      if #items < 8 then items[#items + 1] = item end
    end
    done = '[' .. table.concat(items, ',') .. ']'
  end
  if done ~= '' then done = ',"done":' .. done end
end
redis.call('HSET', KEYS[1], src, ARGV[2] .. ARGV[3] .. '","off":' .. ck_off .. ',"line":' ..
           ck_line .. ',"id":"' .. lastid .. '"' .. done .. '}')

-- Trimming: never below what a consumer group has not yet delivered and
-- acknowledged, unless told to ignore groups (DESIGN.md section 4.6).
local blocked = 0
if maxlen > 0 then
  for k = 3, nstreams do
    local key = KEYS[k]
    local len = redis.call('XLEN', key)
    if len > maxlen then
      local groups = {}
      if respect then groups = redis.call('XINFO', 'GROUPS', key) end
      if #groups == 0 then
        redis.call('XTRIM', key, 'MAXLEN', '~', maxlen)
      else
        local fms, fseq = nil, nil
        for g = 1, #groups do
          local gi, name, ldi = groups[g], nil, nil
          for x = 1, #gi, 2 do
            if gi[x] == 'name' then name = gi[x + 1] end
            if gi[x] == 'last-delivered-id' then ldi = gi[x + 1] end
          end
          local ms, seq = split_id(ldi)
          seq = seq + 1
          local p = redis.call('XPENDING', key, name)
          if p[1] > 0 then
            local pms, pseq = split_id(p[2])
            if pms < ms or (pms == ms and pseq < seq) then ms, seq = pms, pseq end
          end
          if fms == nil or ms < fms or (ms == fms and seq < fseq) then fms, fseq = ms, seq end
        end
        local want = len - maxlen
        if want > 10000 then want = 10000 end
        local r = redis.call('XRANGE', key, '-', '+', 'COUNT', want + 1)
        local cms, cseq = split_id(r[#r][1])
        if #r <= want then cms, cseq = cms, cseq + 1 end
        if fms < cms or (fms == cms and fseq < cseq) then
          cms, cseq = fms, fseq
          blocked = 1
        end
        redis.call('XTRIM', key, 'MINID', '~', string.format('%.0f-%.0f', cms, cseq))
      end
    end
  end
end

return {written, bad, lastid, reordered, err or '', blocked, ck_off, ck_line}
