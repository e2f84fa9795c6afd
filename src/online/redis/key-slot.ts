/**
 * Redis Cluster's key → slot function (CRC16/XMODEM of the key, or of its first non-empty `{…}`
 * hash tag, mod 16384), so writes and reads can be grouped per slot: a script or MGET may only
 * touch keys of one slot.
 */
const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let j = 0; j < 8; j++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    t[i] = crc;
  }
  return t;
})();

function crc16(bytes: Uint8Array, start: number, end: number): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ (bytes[i] as number)) & 0xff] as number);
  return crc;
}

export function keySlot(key: string): number {
  const bytes = Buffer.from(key, "utf8");
  const open = bytes.indexOf(0x7b); // {
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1); // }
    if (close > open + 1) return crc16(bytes, open + 1, close) % 16384;
  }
  return crc16(bytes, 0, bytes.length) % 16384;
}

let slotTags: string[] | undefined;

/**
 * A short hash tag (`{tag}` in a key) whose slot is `slot`: a key holding it lives in that slot
 * whatever else it contains (the first `{…}` decides). Used to keep an entity's state key in its
 * row key's slot, so one script can update both on a Cluster. The table (16,384 tags) is built
 * once, on first use, in a few milliseconds.
 */
export function slotTag(slot: number): string {
  if (slotTags === undefined) {
    const tags = new Array<string>(16384);
    let filled = 0;
    const buf = Buffer.alloc(16);
    for (let i = 0; filled < 16384; i++) {
      const tag = i.toString(36);
      const len = buf.write(tag, 0, "latin1");
      const s = crc16(buf, 0, len) % 16384;
      if (tags[s] === undefined) {
        tags[s] = tag;
        filled++;
      }
    }
    slotTags = tags;
  }
  return slotTags[slot] as string;
}
