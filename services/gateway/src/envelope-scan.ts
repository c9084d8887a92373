import { isEventId, isEventType, type Participant } from "@threadline/protocol";

/** What delivery needs of a stored envelope before sending its bytes as they are. */
export interface EnvelopeHead {
  type: string;
  from: Participant;
}

/** Nesting deeper than this is left to the full decoder. */
const MAX_DEPTH = 64;
/** Walk result for input the scan does not vouch for. */
const GIVE_UP = -1;

/**
 * Checks a stored msgpack payload without building it: a well-formed map
 * (every byte walked, no trailing bytes) whose `id`, `type`, `ts` and
 * `from: {kind, id}` are what `FeedRecord.decode` requires, and returns
 * `type` and `from`. Returns undefined whenever it cannot vouch for the
 * payload — malformed, an extension or the never-used byte 0xc1 anywhere,
 * non-string keys at the top or in `from`, non-ASCII identity strings,
 * nesting deeper than 64 — and the caller then decodes it in full, which
 * decides as before. So a payload it accepts is one the full decoder
 * (msgpackr) decodes without error into a valid envelope with the same
 * `type` and `from` (duplicate keys: the last one wins, as there).
 */
export function scanEnvelope(bytes: Uint8Array): EnvelopeHead | undefined {
  const scan = new Scan(bytes);
  const entries = scan.mapHeader();
  if (entries === undefined) return undefined;
  let id: string | undefined;
  let type: string | undefined;
  let ts = false;
  let from: Participant | undefined;
  for (let i = 0; i < entries; i++) {
    const key = scan.asciiString();
    if (key === undefined) return undefined;
    if (key === "id") id = scan.asciiString();
    else if (key === "type") type = scan.asciiString();
    else if (key === "ts") ts = scan.number();
    else if (key === "from") from = scan.participant();
    else scan.skip(0);
    if (scan.pos === GIVE_UP) return undefined;
  }
  if (scan.pos !== bytes.length) return undefined;
  if (!isEventId(id) || !isEventType(type) || !ts || from === undefined) return undefined;
  return { type, from };
}

class Scan {
  pos = 0;
  constructor(private readonly b: Uint8Array) {}

  /** Entries of the map at `pos`, or undefined (pos = GIVE_UP) if it is not one. */
  mapHeader(): number | undefined {
    const t = this.b[this.pos];
    if (t === undefined) return this.fail();
    if (t >= 0x80 && t <= 0x8f) {
      this.pos++;
      return t & 0x0f;
    }
    if (t === 0xde || t === 0xdf) {
      const n = this.length(t === 0xde ? 2 : 4);
      return n === undefined ? this.fail() : n;
    }
    return this.fail();
  }

  /** A str of ASCII characters at `pos` (anything else: undefined, and the scan gives up). */
  asciiString(): string | undefined {
    const len = this.strLength();
    if (len === undefined) return this.fail();
    const end = this.pos + len;
    if (end > this.b.length) return this.fail();
    let out = "";
    for (let i = this.pos; i < end; i++) {
      const c = this.b[i]!;
      if (c >= 0x80) return this.fail();
      out += String.fromCharCode(c);
    }
    this.pos = end;
    return out;
  }

  /** True when the value at `pos` is a msgpack number (consumed); otherwise the scan gives up. */
  number(): boolean {
    const t = this.b[this.pos];
    if (t === undefined) return this.fail() ?? false;
    const size = t <= 0x7f || t >= 0xe0 ? 1 : NUMBER_SIZES[t];
    if (size === undefined || this.pos + size > this.b.length) return this.fail() ?? false;
    this.pos += size;
    return true;
  }

  /** `{kind, id}` (string values, other keys skipped), or undefined and the scan gives up. */
  participant(): Participant | undefined {
    const entries = this.mapHeader();
    if (entries === undefined) return undefined;
    let kind: string | undefined;
    let id: string | undefined;
    for (let i = 0; i < entries; i++) {
      const key = this.asciiString();
      if (key === undefined) return undefined;
      if (key === "kind") kind = this.asciiString();
      else if (key === "id") id = this.asciiString();
      else this.skip(1);
      if (this.pos === GIVE_UP) return undefined;
    }
    if (kind === undefined || id === undefined) return this.fail();
    return { kind: kind as Participant["kind"], id };
  }

  /** Steps over one value of any plain type; gives up on extensions, 0xc1, truncation or depth. */
  skip(depth: number): void {
    if (depth > MAX_DEPTH) return void this.fail();
    const t = this.b[this.pos];
    if (t === undefined) return void this.fail();
    if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) return this.advance(1);
    if (t >= 0xa0 && t <= 0xbf) return this.advance(1 + (t & 0x1f));
    const number = NUMBER_SIZES[t];
    if (number !== undefined) return this.advance(number);
    let items: number | undefined;
    let map = false;
    switch (t) {
      case 0xc4:
      case 0xd9:
        items = this.length(1);
        return items === undefined ? undefined : this.advance(items);
      case 0xc5:
      case 0xda:
        items = this.length(2);
        return items === undefined ? undefined : this.advance(items);
      case 0xc6:
      case 0xdb:
        items = this.length(4);
        return items === undefined ? undefined : this.advance(items);
      case 0xdc:
        items = this.length(2);
        break;
      case 0xdd:
        items = this.length(4);
        break;
      case 0xde:
        items = this.length(2);
        map = true;
        break;
      case 0xdf:
        items = this.length(4);
        map = true;
        break;
      default:
        if (t >= 0x80 && t <= 0x8f) {
          this.pos++;
          items = t & 0x0f;
          map = true;
        } else if (t >= 0x90 && t <= 0x9f) {
          this.pos++;
          items = t & 0x0f;
        } else return void this.fail(); // 0xc1, extensions
    }
    if (items === undefined) return;
    // Every item takes at least a byte: a count beyond the remaining bytes is truncated input.
    if (items > this.b.length - this.pos) return void this.fail();
    for (let i = 0; i < items && this.pos !== GIVE_UP; i++) {
      // msgpackr (mapsAsObjects) refuses keys that are maps, arrays or bin: leave those to it.
      if (map && !isScalarKey(this.b[this.pos])) return void this.fail();
      if (map) this.skip(depth + 1);
      if (this.pos !== GIVE_UP) this.skip(depth + 1);
    }
  }

  private strLength(): number | undefined {
    const t = this.b[this.pos];
    if (t === undefined) return undefined;
    if (t >= 0xa0 && t <= 0xbf) {
      this.pos++;
      return t & 0x1f;
    }
    if (t === 0xd9) return this.length(1);
    if (t === 0xda) return this.length(2);
    if (t === 0xdb) return this.length(4);
    return undefined;
  }

  /** Reads the big-endian length of `bytes` bytes after the type byte at `pos`; moves past both. */
  private length(bytes: 1 | 2 | 4): number | undefined {
    if (this.pos + 1 + bytes > this.b.length) return this.fail();
    let n = 0;
    for (let i = 1; i <= bytes; i++) n = n * 256 + this.b[this.pos + i]!;
    this.pos += 1 + bytes;
    return n;
  }

  private advance(n: number): void {
    if (this.pos + n > this.b.length) this.fail();
    else this.pos += n;
  }

  private fail(): undefined {
    this.pos = GIVE_UP;
    return undefined;
  }
}

/** A map key msgpackr turns into a property name: a string, number, nil or boolean. */
function isScalarKey(t: number | undefined): boolean {
  if (t === undefined) return false;
  return (
    t <= 0x7f ||
    t >= 0xe0 ||
    (t >= 0xa0 && t <= 0xbf) ||
    t === 0xd9 ||
    t === 0xda ||
    t === 0xdb ||
    t === 0xc0 ||
    t === 0xc2 ||
    t === 0xc3 ||
    NUMBER_SIZES[t] !== undefined
  );
}

/** Total sizes (type byte included) of the msgpack number types other than fixints. */
const NUMBER_SIZES: Record<number, number> = {
  202: 5,
  203: 9,
  204: 2,
  205: 3,
  206: 5,
  207: 9,
  208: 2,
  209: 3,
  210: 5,
  211: 9,
};
