/**
 * Redis Cluster key slots, computed as Redis computes them (CRC16/XMODEM of the key, or of
 * its hash tag, modulo 16384), so the store and the health check know which master serves
 * a key without asking the client for a private API.
 */

/** Slots in a Redis Cluster. */
export const SLOTS = 16384;

const TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let c = i << 8;
  for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
  TABLE[i] = c;
}

function crc16(bytes: ArrayLike<number>, from: number, to: number): number {
  let crc = 0;
  for (let i = from; i < to; i++) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ bytes[i]!) & 0xff]!;
  return crc;
}

/** Whether every UTF-16 unit of `s` is ASCII (then its bytes are its char codes). */
function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * The slot of `key`: the part between the first `{` and the next `}` when that part is not
 * empty (a hash tag), else the whole key.
 */
export function keySlot(key: string): number {
  let bytes: ArrayLike<number>;
  if (isAscii(key)) {
    const a = new Uint8Array(key.length);
    for (let i = 0; i < key.length; i++) a[i] = key.charCodeAt(i);
    bytes = a;
  } else bytes = Buffer.from(key, 'utf8');
  let s = -1;
  for (let i = 0; i < bytes.length; i++)
    if (bytes[i] === 0x7b) {
      s = i;
      break;
    }
  if (s >= 0) {
    for (let e = s + 1; e < bytes.length; e++)
      if (bytes[e] === 0x7d) {
        if (e > s + 1) return crc16(bytes, s + 1, e) % SLOTS;
        break;
      }
  }
  return crc16(bytes, 0, bytes.length) % SLOTS;
}

const tagForSlot = new Map<number, string>();
/** A short hash tag (`{bw-health-N}`'s inside) whose slot is `slot`; found once and remembered. */
export function tagOf(slot: number): string {
  let t = tagForSlot.get(slot);
  if (t === undefined) {
    // About 16k tries on average; done once per slot the health check probes.
    for (let n = 0; ; n++) {
      const candidate = `bw-health-${n}`;
      if (keySlot(candidate) === slot) {
        t = candidate;
        break;
      }
    }
    tagForSlot.set(slot, t);
  }
  return t;
}

/**
 * The part of ioredis's Cluster the store and the health check read: `slots[slot]` lists
 * the `host:port` of the nodes serving the slot, its master first.
 */
export interface SlotMap {
  readonly isCluster: boolean;
  readonly slots: ReadonlyArray<readonly string[] | undefined>;
}

/** Whether `c` is an ioredis Cluster client (read through its slot map, not `instanceof`: two copies may be installed). */
export function isSlotMap(c: unknown): c is SlotMap {
  return (
    typeof c === 'object' &&
    c !== null &&
    (c as { isCluster?: unknown }).isCluster === true &&
    Array.isArray((c as { slots?: unknown }).slots)
  );
}

/** The master serving `slot` (`host:port`), or undefined when the slot map has no owner for it. */
export function ownerOf(c: SlotMap, slot: number): string | undefined {
  return c.slots[slot]?.[0];
}

/**
 * One slot per master in the slot map (the first it serves), and the number of slots no
 * master serves.
 */
export function slotPerMaster(c: SlotMap): { masters: Map<string, number>; unowned: number } {
  const masters = new Map<string, number>();
  let unowned = 0;
  for (let s = 0; s < SLOTS; s++) {
    const m = c.slots[s]?.[0];
    if (m === undefined) unowned++;
    else if (!masters.has(m)) masters.set(m, s);
  }
  return { masters, unowned };
}
