import { createHash } from 'node:crypto';
import type { EventField, FeatureDefinition, StateSettings } from '@risk/domain';

/**
 * The Lua behind RedisFeatureStore, generated from the feature definitions:
 * accept and finalize only take the settings; the apply script is
 * specialised, one branch per entity group and one block per feature with
 * its aggregate, window, type filter and field written in (see applyScript).
 * A definition change gives new scripts.
 *
 * Semantics mirror MemoryFeatureStore line by line (see docs/redis.md).
 */

/** Short, stable key codes for the entity fields (they end up in every entity key). */
export const FIELD_CODES: Record<EventField, string> = {
  event_id: 'eid',
  user_id: 'u',
  event_type: 'type',
  ip_address: 'ip',
  device_id: 'dev',
  location_city: 'city',
  amount: 'amt',
};

/** One entity field (user_id, ip_address, ...) and the features keyed on it. */
export interface EntityGroup {
  /** 1-based, as the Lua table index. */
  readonly index: number;
  readonly entity: EventField;
  /** Event fields the group's features read, in the order the client sends them. */
  readonly fields: readonly EventField[];
  /** The group's features, in definition order, with their position in the full definition list. */
  readonly features: readonly { readonly definition: FeatureDefinition; readonly position: number; readonly id: string }[];
  readonly hasWindowed: boolean;
  readonly hasChanged: boolean;
  /** Whether a feature of the group filters on event_type (only then is the type sent). */
  readonly typed: boolean;
  /**
   * Fingerprint of the group's features (their definitions, in order), part of
   * the entity key: the sections of an entity are laid out by feature, so
   * state written under other definitions is never read, it expires.
   */
  readonly layout: string;
  /**
   * PX of the entity's hash, refreshed on every touch: how long an idle entity
   * is kept, as MemoryFeatureStore's sweep (its longest horizon, or the latest
   * value retention when the group has `changed` features).
   */
  readonly ttlMs: number;
}

export function buildGroups(definitions: readonly FeatureDefinition[], settings: StateSettings): EntityGroup[] {
  const byEntity = new Map<EventField, { fields: EventField[]; features: EntityGroup['features'][number][] }>();
  definitions.forEach((definition, position) => {
    let group = byEntity.get(definition.entity);
    if (group === undefined) {
      group = { fields: [], features: [] };
      byEntity.set(definition.entity, group);
    }
    if (definition.field !== undefined && definition.aggregate !== 'count' && !group.fields.includes(definition.field)) {
      group.fields.push(definition.field);
    }
    group.features.push({ definition, position, id: featureId(definition) });
  });
  let index = 0;
  return [...byEntity].map(([entity, group]) => {
    const windowed = group.features.filter((f) => f.definition.aggregate !== 'changed');
    const horizon = windowed.reduce((max, f) => Math.max(max, f.definition.windowMs + settings.allowedLatenessMs), 0);
    const hasChanged = windowed.length < group.features.length;
    return {
      index: ++index,
      entity,
      fields: group.fields,
      features: group.features,
      hasWindowed: windowed.length > 0,
      hasChanged,
      typed: group.features.some((f) => f.definition.eventTypes !== undefined),
      layout: createHash('sha1')
        .update(group.features.map((f) => f.id).join(','))
        .digest('hex')
        .slice(0, 6),
      ttlMs: Math.max(horizon, hasChanged ? settings.latestValueRetentionMs : 0, 1),
    };
  });
}

/**
 * State is keyed by a fingerprint of the definition, not its name: a feature
 * redefined under the same name starts from empty state instead of reading
 * series built for another filter or window.
 */
function featureId(definition: FeatureDefinition): string {
  const { name, entity, aggregate, field, eventTypes, windowMs } = definition;
  return createHash('sha1')
    .update(JSON.stringify([name, entity, aggregate, field ?? null, eventTypes ?? null, windowMs]))
    .digest('hex')
    .slice(0, 8);
}

/** A Lua string literal for any text: every byte outside a safe set becomes \ddd. */
function lua(text: string): string {
  let out = '"';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += /[A-Za-z0-9_.:\- ]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `\\${String(byte).padStart(3, '0')}`;
  }
  return `${out}"`;
}

const NUMBER_HELPERS = `
-- Shortest text that reads back as the same double (the client parses it with Number()).
local function num(x)
  if x == math.floor(x) and x > -1e15 and x < 1e15 then return string.format('%d', x) end
  local s = string.format('%.15g', x)
  if tonumber(s) ~= x then s = string.format('%.17g', x) end
  return s
end
`;

/**
 * Multi-argument commands over lists of any length: Lua's unpack() is bounded
 * by the C stack (about 8,000 values), so long lists go in chunks.
 */
const CHUNK_HELPERS = `
local CHUNK = 1000
local function callList(cmd, key, list)
  for i = 1, #list, CHUNK do
    redis.call(cmd, key, unpack(list, i, math.min(i + CHUNK - 1, #list)))
  end
end
local function hmgetList(key, list)
  if #list <= CHUNK then return redis.call('HMGET', key, unpack(list)) end
  local out = {}
  for i = 1, #list, CHUNK do
    local part = redis.call('HMGET', key, unpack(list, i, math.min(i + CHUNK - 1, #list)))
    for j = 1, #part do out[#out + 1] = part[j] end
  end
  return out
end
`;

/**
 * RT1, one call per batch on the partition's slot: expires old dedup records,
 * picks the batch token, then for each input in order decides
 * duplicate / redelivered / accepted and the late flag, exactly as
 * MemoryFeatureStore.applyOne does, and records accepted ids as pending.
 * A fixed number of commands per batch: one HMGET for all ids, one HSET and
 * one RPUSH for all new records.
 *
 * Pending (accepted, outcome not final yet) is a counter in the state hash
 * (`pc`, with `pt` the wall-clock time it last left zero), not a set of ids:
 * the finalize step decrements it. While it is above zero the batch token is
 * kept, so that a redelivered batch finds the entities' applied records.
 *
 * KEYS: state hash, dedup hash, dedup order list.
 * ARGV[1]: the inputs packed (see `Packer`), per input: event_id, messageId
 * ('' = none) and event_time as text, each as struct 'Hc0'. One argument
 * instead of three per event: Redis pays ~1,000 instructions per argument.
 * Returns the token, then one code per input, joined by newlines: 'D',
 * 'A<late>', 'P<late>' (accepted before, outcome not yet final),
 * 'R<late><values>' (accepted before, final).
 */
export function acceptScript(settings: StateSettings, pendingTimeoutMs: number, dedupKeyTtlMs: number): string {
  return `
local LATENESS = ${settings.allowedLatenessMs}
local RETENTION = ${settings.dedupRetentionMs}
local PENDING_TIMEOUT = ${pendingTimeoutMs}
local DEDUP_TTL = '${dedupKeyTtlMs}'
${NUMBER_HELPERS}
${CHUNK_HELPERS}
local sunpack, ssub = struct.unpack, string.sub
local st, dd, ord = KEYS[1], KEYS[2], KEYS[3]
local P = ARGV[1]
local ids, msgs, times = {}, {}, {}
local n, p, np = 0, 1, #P
while p <= np do
  n = n + 1
  ids[n], msgs[n], times[n], p = sunpack('<Hc0Hc0Hc0', P, p)
end
local state = redis.call('HMGET', st, 'max', 'tok', 'pc', 'pt')
local max = tonumber(state[1])
local token = tonumber(state[2]) or 0
local pending = tonumber(state[3]) or 0
local since = tonumber(state[4]) or 0
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

-- Pending events whose batch was never redelivered (e.g. an HTTP client that
-- gave up) must not pin the token forever.
if pending > 0 and now - since > PENDING_TIMEOUT then pending = 0 end
if pending == 0 then token = token + 1 end

-- Dedup retention in event time, oldest accepted first (as MemoryFeatureStore's
-- sweep). The order list holds 'event_time,event_id', so the head can be
-- judged without reading the records.
if max then
  local cutoff = max - RETENTION
  local budget = 2000
  while budget > 0 do
    local want = math.min(budget, n + 32)
    local head = redis.call('LRANGE', ord, 0, want - 1)
    local old = {}
    for i = 1, #head do
      local e = head[i]
      local c = string.find(e, ',', 1, true)
      if tonumber(ssub(e, 1, c - 1)) > cutoff then break end
      old[i] = ssub(e, c + 1)
    end
    if #old > 0 then
      callList('HDEL', dd, old)
      redis.call('LTRIM', ord, #old, -1)
    end
    if #old < want then break end
    budget = budget - #old
  end
end

local recs = hmgetList(dd, ids)
-- Records created by this batch: a repeat later in the batch must see them.
local fresh = {}
local records, order = {}, {}
local added = 0
local out = {}
for i = 1, n do
  local id, msg, ts = ids[i], msgs[i], times[i]
  local rec = recs[i] or fresh[id]
  if rec then
    local c = string.find(rec, ',', 3, true)
    local x = string.find(rec, '\\031', c + 1, true)
    local was = ssub(rec, c + 1, (x or 0) - 1)
    if msg ~= '' and was == msg then
      if x then
        out[i] = 'R' .. ssub(rec, 2, 2) .. ssub(rec, x + 1)
      else
        out[i] = 'P' .. ssub(rec, 2, 2)
      end
    else
      out[i] = 'D'
    end
  else
    local t = tonumber(ts)
    local late = '0'
    if max and t < max - LATENESS then late = '1' end
    if not max or t > max then max = t end
    rec = 'P' .. late .. ts .. ',' .. msg
    fresh[id] = rec
    records[#records + 1] = id
    records[#records + 1] = rec
    order[#order + 1] = ts .. ',' .. id
    if msg ~= '' then added = added + 1 end
    out[i] = 'A' .. late
  end
end
if #records > 0 then
  callList('HSET', dd, records)
  callList('RPUSH', ord, order)
end
if added > 0 and pending == 0 then since = now end
local fields = { 'tok', tostring(token), 'pc', tostring(pending + added), 'pt', num(since) }
if max then
  fields[#fields + 1] = 'max'
  fields[#fields + 1] = num(max)
end
redis.call('HSET', st, unpack(fields))
redis.call('PEXPIRE', dd, DEDUP_TTL)
redis.call('PEXPIRE', ord, DEDUP_TTL)
return tostring(token) .. '\\n' .. table.concat(out, '\\n', 1, n)
`;
}

/**
 * RT3, one call per batch on the partition's slot: stores the first outcome
 * of each accepted event (so a redelivery gets it back without touching the
 * entities) and lowers the pending counter. The client sends the final
 * records whole ('F', late flag, event_time, ',', messageId, US, values): it
 * knows every part, so nothing needs reading back.
 * KEYS: dedup hash, state hash. ARGV: the number of events leaving pending,
 * then the records packed: per event, event_id ('Hc0') and record ('I4c0').
 */
export const FINALIZE_SCRIPT = `
${CHUNK_HELPERS}
local sunpack = struct.unpack
local dd, st = KEYS[1], KEYS[2]
local P = ARGV[2]
local records = {}
local r, p, np = 0, 1, #P
while p <= np do
  records[r + 1], records[r + 2], p = sunpack('<Hc0I4c0', P, p)
  r = r + 2
end
callList('HSET', dd, records)
local pending = (tonumber(redis.call('HGET', st, 'pc')) or 0) - tonumber(ARGV[1])
if pending < 0 then pending = 0 end
redis.call('HSET', st, 'pc', tostring(pending))
return r / 2
`;

/** Lua boolean expression: is the event's type (local `typ`) one the feature counts? `nil` when it takes every type. */
function typeTest(definition: FeatureDefinition): string | undefined {
  if (definition.eventTypes === undefined) return undefined;
  if (definition.eventTypes.length === 0) return 'false';
  return `(${definition.eventTypes.map((t) => `typ == ${lua(t)}`).join(' or ')})`;
}

/**
 * The Lua of one feature for one event: reads and updates its section `s<i>`
 * and sets its answer `r<i>`. Constants (window, horizon, type filter, field)
 * are written into the code: no table lookups, no dispatch on the aggregate.
 */
function featureCode(group: EntityGroup, i: number, settings: StateSettings): string {
  const { definition } = group.features[i];
  const S = `s${i + 1}`;
  const R = `r${i + 1}`;
  const V = definition.field === undefined ? "''" : `v${group.fields.indexOf(definition.field) + 1}`;
  const types = typeTest(definition);
  const W = definition.windowMs;
  const H = definition.windowMs + settings.allowedLatenessMs;
  switch (definition.aggregate) {
    case 'changed':
      return `
    -- ${definition.name}: changed
    if ${V} == '' then
      ${R} = '0'
    else
      local kt = lt${i + 1}
      if kt == nil then
        if ${S} then
          kt = sunpack('<d', ${S}, 1)
          lv${i + 1} = ssub(${S}, 9)
        else
          kt = false
        end
      end
      if kt and lv${i + 1} ~= ${V} then ${R} = '1' else ${R} = '0' end
      -- Ties go to the later arrival (SPEC 3).
      if not kt or t >= kt then
        kt = t
        lv${i + 1} = ${V}
        ${S} = tp .. ${V}
        dirty = true
      end
      lt${i + 1} = kt
    end`;
    case 'distinct':
      return `
    -- ${definition.name}: distinct
    do
      local s = ${S}
      local v = ${V}
      local take = v ~= ''${types === undefined ? '' : ` and ${types}`}
      if not s and not take then
        ${R} = '0'
      else
        -- One pass: distinct values in (t - W, t] (plus v), insertion point, newest time.
        local from = t - ${W}
        local d = 0
        local set
        local last = -math.huge
        if take then
          d = 1
          found[1] = v
          last = t
        end
        local ins, first
        local pos, size = 1, s and #s or 0
        while pos <= size do
          -- One call per entry: time, value (c0 takes the length before it), next position.
          local et, x, nextpos = sunpack('<dHc0', s, pos)
          if not first then first = et end
          if et > t then
            if not ins then ins = pos end
          elseif et > from then
            if set then
              if not set[x] then set[x] = true; d = d + 1 end
            else
              local seen = false
              for j = 1, d do
                if found[j] == x then seen = true; break end
              end
              if not seen then
                d = d + 1
                found[d] = x
                if d == 32 then
                  set = {}
                  for j = 1, d do set[found[j]] = true end
                end
              end
            end
          end
          if et > last then last = et end
          pos = nextpos
        end
        ${R} = int(d)
        if take then
          local entry = spack('<dHc0', t, #v, v)
          if not s then
            s = entry
            first = t
          elseif ins then
            s = ssub(s, 1, ins - 1) .. entry .. ssub(s, ins)
            if ins == 1 then first = t end
          else
            s = s .. entry
          end
          dirty = true
        end
        -- The oldest entry, known from the scan: no struct.unpack to decide whether to trim.
        local cutoff = last - ${H}
        if first <= cutoff then
          local q = 1
          while true do
            local et, el = sunpack('<dH', s, q)
            if et > cutoff then break end
            q = q + 10 + el
          end
          s = ssub(s, q)
          dirty = true
        end
        ${S} = s
      end
    end`;
    default: {
      // count (8-byte times) and sum (16-byte time, value pairs): sorted fixed-width entries.
      const sum = definition.aggregate === 'sum';
      const width = sum ? 16 : 8;
      const entry = sum ? `tp .. spack('<d', tonumber(${V}) or 0)` : 'tp';
      const answer = sum
        ? `local total = 0
        for j = b, e - 1 do total = total + sunpack('<d', s, j * 16 - 7) end
        ${R} = num(total)`
        : `${R} = int(e - b)`;
      const insert = `
        local entry = ${entry}
        if n == 0 then
          s = entry
          last = t
        else
          last = sunpack('<d', s, n * ${width} - ${width - 1})
          if last <= t then
            s = s .. entry
            last = t
          else
            local at = after(s, t, 1, n - 1, ${width})
            local off = (at - 1) * ${width}
            s = ssub(s, 1, off) .. entry .. ssub(s, off + 1)
            e = at + 1
          end
        end
        n = n + 1
        if not e then e = n + 1 end
        dirty = true`;
      return `
    -- ${definition.name}: ${definition.aggregate}
    do
      local s = ${S}
      local n = 0
      if s then n = #s / ${width} end
      -- e: upperBound(t) once known; last: the newest time.
      local e, last
      ${types === undefined ? insert : `if ${types} then${insert}\n      end`}
      if n == 0 then
        ${R} = '0'
      else
        if not e then
          last = sunpack('<d', s, n * ${width} - ${width - 1})
          if last <= t then e = n + 1 else e = after(s, t, 1, n - 1, ${width}) end
        end
        local b = after(s, t - ${W}, 1, e - 1, ${width})
        ${answer}
        local cutoff = last - ${H}
        -- b == 1: the oldest entry is after t - W, so nothing is at or before the cutoff
        -- unless t - W is before it (a late event); only then is the oldest time read.
        if (b > 1 or t - ${W} < cutoff) and sunpack('<d', s, 1) <= cutoff then
          s = ssub(s, (after(s, cutoff, 1, n, ${width}) - 1) * ${width} + 1)
          dirty = true
        end
        ${S} = s
      end
    end`;
    }
  }
}

/** The Lua applying one entity's events of the call (one unit): read, every event's features in order, one write. */
function unitCode(group: EntityGroup, settings: StateSettings): string {
  const k = group.features.length;
  const idx = group.features.map((_, i) => i + 1);
  const sections = idx.map((i) => `s${i}`).join(', ');
  const changed = group.features.flatMap((f, i) => (f.definition.aggregate === 'changed' ? [`lt${i + 1}, lv${i + 1}`] : []));
  const fields = group.fields.map((_, f) => `v${f + 1}`);
  const eventVars = ['t', ...(group.typed ? ['typ'] : []), ...fields];
  const eventFormat = `<d${group.typed ? 'Hc0' : ''}${'Hc0'.repeat(group.fields.length)}`;
  const hfmt = `<${'I4'.repeat(k)}`;
  const needsTp = group.features.some((f) => f.definition.aggregate !== 'distinct');
  return `
  -- group ${group.index}: ${group.entity}
  local ${sections} = ${idx.map(() => 'false').join(', ')}
  ${changed.length > 0 ? `local ${changed.join(', ')}` : ''}
  if blob then
    local ${idx.map((i) => `l${i}`).join(', ')} = sunpack('${hfmt}', blob)
    local pos = ${k * 4 + 1}
${idx.map((i) => `    if l${i} > 0 then s${i} = ssub(blob, pos, pos + l${i} - 1); pos = pos + l${i} end`).join('\n')}
  end
  local dirty = false
  for _ = 1, n do
    local ${eventVars.join(', ')}
    ${eventVars.join(', ')}, p = sunpack('${eventFormat}', P, p)
    local done
    if applied then
      local tab = string.find(apkeys, '\\t', kpos, true)
      local len = tonumber(ssub(apkeys, kpos, tab - 1))
      done = applied[ssub(apkeys, tab + 1, tab + len)]
      kpos = tab + len + 1
    end
    nout = nout + 1
    if done then
      out[nout] = done
    else
      ${needsTp ? "local tp = spack('<d', t)" : ''}
      local ${idx.map((i) => `r${i}`).join(', ')}
${group.features.map((_, i) => featureCode(group, i, settings)).join('\n')}
      out[nout] = ${idx.map((i) => `r${i}`).join(" .. ',' .. ")}
    end
  end
  -- All of the entity's writes happen after its whole share of the batch is computed.
  if dirty then
    redis.call('SET', key, spack('${hfmt}', ${idx.map((i) => `s${i} and #s${i} or 0`).join(', ')}) .. ${idx.map((i) => `(s${i} or '')`).join(' .. ')}, 'PX', '${group.ttlMs}')
  elseif blob then
    redis.call('PEXPIRE', key, '${group.ttlMs}')
  end`;
}

/**
 * RT2, one call per slot (a single call on a standalone server): applies each
 * entity's accepted events of the batch in order and returns, per event, the
 * values of the entity's features joined by ','; the answers of all events
 * joined by newlines.
 *
 * The code is generated per entity group from the definitions (one branch per
 * group, one block per feature with its constants written in): the Lua
 * interpreter was most of Redis's time, and a generic loop paid a table
 * lookup and a dispatch on the aggregate per feature and event.
 *
 * Entity state is one string per entity: a header of one 4-byte length per
 * feature of the group, then one section per feature (empty: no state yet):
 * - count: the event times, 8-byte little-endian doubles, sorted;
 * - sum: (time, value) pairs of doubles, 16 bytes each, sorted by time;
 * - distinct: per entry the time (8 bytes), the value's length (2 bytes) and
 *   the value, sorted by time;
 * - changed: the latest known value's time (8 bytes), then the value.
 * A touch is one GET and one SET (or PEXPIRE when nothing changed). Sections
 * are searched, appended to and trimmed in place with string.sub and
 * struct.unpack, never decoded into tables; untouched sections are copied as
 * they are.
 *
 * Idempotent per (slot, partition, batch token): the applied record (KEYS[1])
 * holds, for the current token, each applied event's values; an event found
 * there returns its stored values and changes nothing, so a batch retried
 * after a crash between the steps is neither lost nor counted twice.
 *
 * KEYS: the applied record of this slot and partition, then per unit the entity key.
 * ARGV: token, the call's event keys ('length<TAB>group:event_id' per event
 * of each unit in order, for the applied record), then the units packed: per
 * unit the group index ('B') and event count ('H'), then per event its time
 * ('d'), its event_type ('Hc0', only when a feature of the group filters on
 * it) and the group's field values ('Hc0' each, '' = absent).
 */
export function applyScript(groups: readonly EntityGroup[], settings: StateSettings, pendingTimeoutMs: number): string {
  const branches = groups.map((group, i) => `${i === 0 ? 'if' : 'elseif'} gi == ${group.index} then${unitCode(group, settings)}`);
  return `
local AP_TTL = '${pendingTimeoutMs}'
local AP_MAX = 1000000
local spack, sunpack, ssub, tconcat, floor = struct.pack, struct.unpack, string.sub, table.concat, math.floor

-- Index of the first entry in [lo, hi] whose time is > x (hi + 1 if none): upperBound,
-- over fixed-width entries of w = 8 (count) or 16 bytes (sum), time first.
local function after(s, x, lo, hi, w)
  hi = hi + 1
  local skip = w - 1
  while lo < hi do
    local mid = lo + hi
    mid = (mid - mid % 2) / 2
    if sunpack('<d', s, mid * w - skip) <= x then lo = mid + 1 else hi = mid end
  end
  return lo
end
local function num(x)
  if x == floor(x) and x > -1e15 and x < 1e15 then return string.format('%d', x) end
  local s = string.format('%.15g', x)
  if tonumber(s) ~= x then s = string.format('%.17g', x) end
  return s
end
-- Counts are small integers: formatting each once per call is cheaper than tostring() per value.
local INTS = {}
local function int(x)
  local s = INTS[x]
  if not s then
    s = string.format('%d', x)
    INTS[x] = s
  end
  return s
end

local apkey, token, apkeys = KEYS[1], ARGV[1], ARGV[2]
-- Events already applied under the current token (a retried batch). The
-- record is the token, then one segment per call: the call's event keys
-- (ARGV[2]: per event 'length<TAB>group:event_id') and its answer lines.
local raw = redis.call('GET', apkey)
local applied
if raw then
  local nl = string.find(raw, '\\n', 1, true)
  if ssub(raw, 1, nl - 1) == token then
    applied = {}
    local pos = nl + 1
    while pos <= #raw do
      local x = string.find(raw, '\\n', pos, true)
      local kend = x + tonumber(ssub(raw, pos, x - 1))
      local y = string.find(raw, '\\n', kend + 1, true)
      local oend = y + tonumber(ssub(raw, kend + 1, y - 1))
      local kp, op = x + 1, y + 1
      while kp <= kend do
        local tab = string.find(raw, '\\t', kp, true)
        local len = tonumber(ssub(raw, kp, tab - 1))
        local e = string.find(raw, '\\n', op, true)
        if not e or e > oend then e = oend + 1 end
        applied[ssub(raw, tab + 1, tab + len)] = ssub(raw, op, e - 1)
        kp = tab + len + 1
        op = e + 1
      end
      pos = oend + 1
    end
  end
end
local kpos = 1

-- Every entity of the call read with one command.
local blobs = {}
for i = 2, #KEYS, 1000 do
  local part = redis.call('MGET', unpack(KEYS, i, math.min(i + 999, #KEYS)))
  for j = 1, #part do blobs[i + j - 2] = part[j] end
end

local P = ARGV[3]
local p, np, k = 1, #P, 2
-- Scratch, reused by every unit.
local out, found = {}, {}
local nout = 0
while p <= np do
  local gi, n
  gi, n, p = sunpack('<BH', P, p)
  local key, blob = KEYS[k], blobs[k - 1]
  k = k + 1
${branches.join('\n')}
  else
    return redis.error_reply('apply: unknown entity group ' .. gi)
  end
end

local text = tconcat(out, '\\n', 1, nout)
local segment = #apkeys .. '\\n' .. apkeys .. #text .. '\\n' .. text
-- Under one token the record grows with every call: only while events stay pending,
-- which a redelivery ends. Past AP_MAX (events pending that nobody redelivers) it
-- restarts, so that no call copies an unbounded record.
if applied and #raw < AP_MAX then segment = raw .. segment else segment = token .. '\\n' .. segment end
redis.call('SET', apkey, segment, 'PX', AP_TTL)
return text
`;
}
