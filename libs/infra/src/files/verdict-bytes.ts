import type { Verdict } from '@risk/domain';

/**
 * Writes `JSON.stringify(verdict)` as UTF-8 into `buffer` at `offset`, byte
 * for byte, without making the string: for a replay that string (~480 B a
 * verdict, 96 MB for 200,000) was most of the main thread's young-generation
 * garbage, and `JSON.stringify` plus the copy ~2× the time of this writer.
 * Relies on the Verdict type's property order (decideVerdict and
 * withSuppression build every verdict in it); what this writer does not
 * spell out itself (fired rules, a suppression, a string with characters to
 * escape or beyond ASCII, a feature value neither number nor boolean) goes
 * through `JSON.stringify` of that part.
 *
 * Returns the offset after the verdict, or -1 when it did not fit: the
 * caller then writes it another way (see writeJsonLines); bytes past the
 * returned offset, or all of them on -1, are left as they were or garbage.
 */
export function writeVerdict(buffer: Buffer, offset: number, v: Verdict): number {
  let o = ascii(buffer, offset, '{"event_id":');
  o = string(buffer, o, v.event_id);
  o = ascii(buffer, o, ',"user_id":');
  o = string(buffer, o, v.user_id);
  o = ascii(buffer, o, ',"event_type":');
  o = string(buffer, o, v.event_type);
  o = ascii(buffer, o, ',"event_time":');
  o = string(buffer, o, v.event_time);
  o = ascii(buffer, o, ',"risk_level":');
  o = string(buffer, o, v.risk_level);
  o = ascii(buffer, o, ',"score":');
  o = number(buffer, o, v.score);
  o = ascii(buffer, o, ',"rules":');
  o = v.rules.length === 0 ? ascii(buffer, o, '[]') : json(buffer, o, v.rules);
  o = ascii(buffer, o, ',"shadow_rules":');
  o = v.shadow_rules.length === 0 ? ascii(buffer, o, '[]') : json(buffer, o, v.shadow_rules);
  o = ascii(buffer, o, ',"features":{');
  const features = v.features;
  let first = true;
  for (const name of Object.keys(features)) {
    const value: unknown = features[name];
    let text: string | undefined;
    if (typeof value !== 'number' && typeof value !== 'boolean') {
      // JSON.stringify leaves out a property whose value it cannot write (undefined, a function).
      text = JSON.stringify(value);
      if (text === undefined) continue;
    }
    if (!first) o = ascii(buffer, o, ',');
    first = false;
    o = string(buffer, o, name);
    o = ascii(buffer, o, ':');
    if (typeof value === 'number') o = number(buffer, o, value);
    else if (typeof value === 'boolean') o = ascii(buffer, o, value ? 'true' : 'false');
    else o = utf8(buffer, o, text!);
  }
  o = ascii(buffer, o, '},"late":');
  o = ascii(buffer, o, v.late ? 'true' : 'false');
  o = ascii(buffer, o, ',"rules_version":');
  o = number(buffer, o, v.rules_version);
  if (v.suppressed !== undefined) {
    o = ascii(buffer, o, ',"suppressed":');
    o = json(buffer, o, v.suppressed);
  }
  if (v.suppression !== undefined) {
    o = ascii(buffer, o, ',"suppression":');
    o = json(buffer, o, v.suppression);
  }
  o = ascii(buffer, o, ',"decided_at":');
  o = string(buffer, o, v.decided_at);
  o = ascii(buffer, o, '}');
  // Typed-array writes past the end are dropped and `utf8` refuses what may not fit: the offset tells.
  return o > buffer.length ? -1 : o;
}

/** Text known to be ASCII (this file's own literals, numbers). */
function ascii(buffer: Buffer, offset: number, text: string): number {
  for (let i = 0; i < text.length; i++) buffer[offset + i] = text.charCodeAt(i);
  return offset + text.length;
}

/** A JSON string: printable ASCII without `"` or `\` as it is, anything else as JSON.stringify writes it. */
function string(buffer: Buffer, offset: number, text: string): number {
  buffer[offset] = QUOTE;
  const start = offset + 1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === QUOTE || c === BACKSLASH) return utf8(buffer, offset, JSON.stringify(text));
    buffer[start + i] = c;
  }
  buffer[start + text.length] = QUOTE;
  return start + text.length + 1;
}

/** JSON.stringify's number: finite ones as Number#toString writes them, the others as null. */
function number(buffer: Buffer, offset: number, value: number): number {
  return ascii(buffer, offset, Number.isFinite(value) ? String(value) : 'null');
}

function json(buffer: Buffer, offset: number, value: unknown): number {
  return utf8(buffer, offset, JSON.stringify(value));
}

/** Any text; when it may not fit, the offset is put past the end so that writeVerdict reports it. */
function utf8(buffer: Buffer, offset: number, text: string): number {
  if (offset + text.length * 3 > buffer.length) return buffer.length + 1;
  return offset + buffer.write(text, offset, 'utf8');
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
