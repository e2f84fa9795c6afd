/**
 * Reads a Parquet file's footer (Thrift compact protocol) for what parquet-wasm does not expose:
 * per-row-group column statistics, so that readers can skip row groups outside a time range.
 * Only the fields Larder needs are interpreted; everything else is skipped.
 */

/** Parquet physical types (parquet.thrift `Type`). */
export const PhysicalType = { BOOLEAN: 0, INT32: 1, INT64: 2, INT96: 3, FLOAT: 4, DOUBLE: 5, BYTE_ARRAY: 6, FIXED_LEN_BYTE_ARRAY: 7 } as const;

export interface ColumnChunkStats {
  /** Top-level column name (first element of path_in_schema). */
  readonly column: string;
  readonly physicalType: number;
  /** Plain-encoded min/max; null when the writer stored none. */
  readonly min: Uint8Array | null;
  readonly max: Uint8Array | null;
  /** null when unknown. */
  readonly nullCount: number | null;
  /** File offset of the chunk's first page (dictionary or data). */
  readonly firstPageOffset: number;
}

export interface RowGroupInfo {
  readonly numRows: number;
  readonly columns: readonly ColumnChunkStats[];
  /** The file bytes [start, end) holding the group's column chunks. */
  readonly byteRange: readonly [number, number];
}

/** How a leaf column's integers map to epoch ms, from its logical or converted type. */
export type TimeEncoding =
  | { kind: "timestamp"; unitsPerMs: number }
  | { kind: "date" }
  | { kind: "signed" }
  | { kind: "unsigned" }
  | { kind: "float" }
  | { kind: "other" };

export interface ParquetFooter {
  readonly numRows: number;
  readonly rowGroups: readonly RowGroupInfo[];
  /** Top-level leaf columns by name. */
  readonly leaves: ReadonlyMap<string, { physicalType: number; encoding: TimeEncoding }>;
  /** The decoded FileMetaData, for rowGroupFile and schemaOnlyFile. */
  readonly meta: TStruct;
}

export class FooterFormatError extends Error {}

// ---- Thrift compact protocol ---------------------------------------------------------------------
// Decoded generically, keeping each field's wire type so that a footer can be re-encoded with some
// fields changed (rowGroupFile below).

type TValue = number | bigint | boolean | Uint8Array | TStruct | TList | TMap;

class TStruct {
  readonly fields = new Map<number, TValue>();
  readonly types = new Map<number, number>();
  get(id: number): TValue | undefined {
    return this.fields.get(id);
  }
  has(id: number): boolean {
    return this.fields.has(id);
  }
  set(id: number, type: number, value: TValue): void {
    this.fields.set(id, value);
    this.types.set(id, type);
  }
  delete(id: number): void {
    this.fields.delete(id);
    this.types.delete(id);
  }
  /** A shallow copy (nested values are shared). */
  copy(): TStruct {
    const out = new TStruct();
    for (const [id, v] of this.fields) out.set(id, this.types.get(id) as number, v);
    return out;
  }
}

class TList {
  constructor(
    readonly elemType: number,
    readonly items: TValue[],
  ) {}
}

class TMap {
  constructor(
    readonly keyType: number,
    readonly valueType: number,
    readonly entries: [TValue, TValue][],
  ) {}
}

const CT = { STOP: 0, TRUE: 1, FALSE: 2, BYTE: 3, I16: 4, I32: 5, I64: 6, DOUBLE: 7, BINARY: 8, LIST: 9, SET: 10, MAP: 11, STRUCT: 12 } as const;

class CompactReader {
  pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  private byte(): number {
    if (this.pos >= this.buf.length) throw new FooterFormatError("footer ends early");
    return this.buf[this.pos++] as number;
  }

  /** Unsigned varint as a number (exact below 2^53, which covers every length and count). */
  private varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    throw new FooterFormatError("bad varint");
  }

  private varintBig(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
    throw new FooterFormatError("bad varint");
  }

  private zigzag32(): number {
    const n = this.varint();
    // n < 2^32 here; decode without 32-bit overflow.
    return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
  }

  private zigzag64(): number | bigint {
    const n = this.varintBig();
    const v = (n >> 1n) ^ -(n & 1n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private binary(): Uint8Array {
    const len = this.varint();
    if (this.pos + len > this.buf.length) throw new FooterFormatError("footer ends early");
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  private value(type: number): TValue {
    switch (type) {
      case CT.TRUE:
        return true;
      case CT.FALSE:
        return false;
      case CT.BYTE: {
        const b = this.byte();
        return b > 127 ? b - 256 : b;
      }
      case CT.I16:
      case CT.I32:
        return this.zigzag32();
      case CT.I64:
        return this.zigzag64();
      case CT.DOUBLE: {
        if (this.pos + 8 > this.buf.length) throw new FooterFormatError("footer ends early");
        const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
        this.pos += 8;
        return v;
      }
      case CT.BINARY:
        return this.binary();
      case CT.LIST:
      case CT.SET:
        return this.list();
      case CT.MAP: {
        const size = this.varint();
        if (size === 0) return new TMap(0, 0, []);
        if (size > this.buf.length) throw new FooterFormatError("bad map size");
        const kv = this.byte();
        const entries: [TValue, TValue][] = [];
        for (let i = 0; i < size; i++) entries.push([this.element(kv >> 4), this.element(kv & 0x0f)]);
        return new TMap(kv >> 4, kv & 0x0f, entries);
      }
      case CT.STRUCT:
        return this.struct();
      default:
        throw new FooterFormatError(`unknown thrift type ${type}`);
    }
  }

  /** Booleans inside collections are one byte each (1 = true), not folded into a type nibble. */
  private element(type: number): TValue {
    return type === CT.TRUE || type === CT.FALSE ? this.byte() === 1 : this.value(type);
  }

  private list(): TList {
    const header = this.byte();
    let size = header >> 4;
    const elemType = header & 0x0f;
    if (size === 15) size = this.varint();
    if (size > this.buf.length) throw new FooterFormatError("bad list size");
    const items: TValue[] = new Array(size);
    for (let i = 0; i < size; i++) items[i] = this.element(elemType);
    return new TList(elemType, items);
  }

  struct(): TStruct {
    const out = new TStruct();
    let lastId = 0;
    for (;;) {
      const header = this.byte();
      if (header === CT.STOP) return out;
      const delta = header >> 4;
      const type = header & 0x0f;
      const id = delta === 0 ? this.zigzag32() : lastId + delta;
      lastId = id;
      out.set(id, type, this.value(type));
    }
  }
}

class CompactWriter {
  private buf = new Uint8Array(1024);
  private pos = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }
  private byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b & 0xff;
  }
  private varint(n: bigint): void {
    let v = n;
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) b |= 0x80;
      this.byte(b);
    } while (v > 0n);
  }
  private zigzag(n: number | bigint, bits: bigint): void {
    const v = BigInt(n);
    this.varint(BigInt.asUintN(Number(bits), (v << 1n) ^ (v >> (bits - 1n))));
  }

  value(type: number, v: TValue): void {
    switch (type) {
      case CT.TRUE:
      case CT.FALSE:
        this.byte(v === true ? 1 : 2);
        return;
      case CT.BYTE:
        this.byte(Number(v));
        return;
      case CT.I16:
      case CT.I32:
        this.zigzag(v as number, 32n);
        return;
      case CT.I64:
        this.zigzag(v as number | bigint, 64n);
        return;
      case CT.DOUBLE:
        this.ensure(8);
        new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).setFloat64(0, v as number, true);
        this.pos += 8;
        return;
      case CT.BINARY: {
        const b = v as Uint8Array;
        this.varint(BigInt(b.length));
        this.ensure(b.length);
        this.buf.set(b, this.pos);
        this.pos += b.length;
        return;
      }
      case CT.LIST:
      case CT.SET: {
        const l = v as TList;
        if (l.items.length < 15) this.byte((l.items.length << 4) | l.elemType);
        else {
          this.byte(0xf0 | l.elemType);
          this.varint(BigInt(l.items.length));
        }
        for (const item of l.items) this.value(l.elemType, item);
        return;
      }
      case CT.MAP: {
        const m = v as TMap;
        this.varint(BigInt(m.entries.length));
        if (m.entries.length === 0) return;
        this.byte((m.keyType << 4) | m.valueType);
        for (const [k, val] of m.entries) {
          this.value(m.keyType, k);
          this.value(m.valueType, val);
        }
        return;
      }
      case CT.STRUCT:
        this.struct(v as TStruct);
        return;
      default:
        throw new FooterFormatError(`unknown thrift type ${type}`);
    }
  }

  struct(s: TStruct): void {
    let lastId = 0;
    for (const id of [...s.fields.keys()].sort((a, b) => a - b)) {
      const v = s.get(id) as TValue;
      let type = s.types.get(id) as number;
      if (type === CT.TRUE || type === CT.FALSE) type = v === true ? CT.TRUE : CT.FALSE;
      const delta = id - lastId;
      if (delta > 0 && delta <= 15) this.byte((delta << 4) | type);
      else {
        this.byte(type);
        this.zigzag(id, 32n);
      }
      if (type !== CT.TRUE && type !== CT.FALSE) this.value(type, v);
      lastId = id;
    }
    this.byte(CT.STOP);
  }

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

// ---- parquet.thrift interpretation -------------------------------------------------------------

function asStruct(v: TValue | undefined): TStruct | null {
  return v instanceof TStruct ? v : null;
}
function asList(v: TValue | undefined): TValue[] {
  return v instanceof TList ? v.items : [];
}
function asNumber(v: TValue | undefined): number | null {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return null;
}
function asBytes(v: TValue | undefined): Uint8Array | null {
  return v instanceof Uint8Array ? v : null;
}
function asString(v: TValue | undefined): string | null {
  return v instanceof Uint8Array ? new TextDecoder().decode(v) : null;
}

function timeEncoding(el: TStruct, physicalType: number): TimeEncoding {
  const logical = asStruct(el.get(10));
  if (logical) {
    const ts = asStruct(logical.get(8));
    if (ts) {
      const unit = asStruct(ts.get(2));
      if (unit?.has(1)) return { kind: "timestamp", unitsPerMs: 1 };
      if (unit?.has(2)) return { kind: "timestamp", unitsPerMs: 1000 };
      if (unit?.has(3)) return { kind: "timestamp", unitsPerMs: 1_000_000 };
      return { kind: "other" };
    }
    if (logical.has(6)) return { kind: "date" };
    const int = asStruct(logical.get(10));
    if (int) return int.get(2) === false ? { kind: "unsigned" } : { kind: "signed" };
    return { kind: "other" };
  }
  const converted = asNumber(el.get(6));
  if (converted !== null) {
    if (converted === 6) return { kind: "date" };
    if (converted === 9) return { kind: "timestamp", unitsPerMs: 1 };
    if (converted === 10) return { kind: "timestamp", unitsPerMs: 1000 };
    if (converted >= 15 && converted <= 18) return { kind: "signed" }; // INT_8..INT_64
    if (converted >= 11 && converted <= 14) return { kind: "unsigned" }; // UINT_8..UINT_64
    return { kind: "other" };
  }
  if (physicalType === PhysicalType.INT32 || physicalType === PhysicalType.INT64) return { kind: "signed" };
  if (physicalType === PhysicalType.FLOAT || physicalType === PhysicalType.DOUBLE) return { kind: "float" };
  return { kind: "other" };
}

/**
 * Parses the footer of a Parquet file: `footer` must hold the footer's Thrift bytes (without the
 * trailing length and magic).
 */
export function parseParquetFooter(footer: Uint8Array, fileSize = Number.POSITIVE_INFINITY): ParquetFooter {
  const meta = new CompactReader(footer).struct();
  if (meta.has(8) || meta.has(9)) throw new FooterFormatError("encrypted Parquet files are not supported");
  const schema = asList(meta.get(2));
  const leaves = new Map<string, { physicalType: number; encoding: TimeEncoding }>();
  // schema is the tree flattened depth-first; schema[0] is the root. Only top-level leaves matter
  // (event times are top-level columns); nested groups are walked to skip their descendants.
  let next = 1;
  const walk = (depth: number): void => {
    const el = asStruct(schema[next++]);
    if (!el) throw new FooterFormatError("bad schema");
    const children = asNumber(el.get(5)) ?? 0;
    const type = asNumber(el.get(1));
    const name = asString(el.get(4));
    if (depth === 0 && children === 0 && type !== null && name !== null) {
      leaves.set(name, { physicalType: type, encoding: timeEncoding(el, type) });
    }
    for (let c = 0; c < children; c++) walk(depth + 1);
  };
  const rootChildren = asNumber(asStruct(schema[0])?.get(5)) ?? 0;
  for (let c = 0; c < rootChildren; c++) walk(0);
  const rowGroups: RowGroupInfo[] = asList(meta.get(4)).map((rgValue) => {
    const rg = asStruct(rgValue);
    if (!rg) throw new FooterFormatError("bad row group");
    const columns: ColumnChunkStats[] = [];
    let start = Number.POSITIVE_INFINITY;
    let end = 0;
    for (const ccValue of asList(rg.get(1))) {
      const cc = asStruct(ccValue);
      const md = asStruct(cc?.get(3));
      if (!cc || !md) throw new FooterFormatError("column chunk without metadata");
      if (cc.has(1)) throw new FooterFormatError("column chunks in other files are not supported");
      const [chunkStart, chunkEnd] = chunkByteRange(md);
      if (!(chunkStart >= 4 && chunkEnd >= chunkStart && chunkEnd <= fileSize - 8)) throw new FooterFormatError(`column chunk bytes ${chunkStart}..${chunkEnd} lie outside the file`);
      start = Math.min(start, chunkStart);
      end = Math.max(end, chunkEnd);
      const path = asList(md.get(3)).map((p) => asString(p) ?? "");
      const stats = asStruct(md.get(12));
      columns.push({
        column: path.length === 1 ? (path[0] as string) : path.join("."),
        physicalType: asNumber(md.get(1)) ?? -1,
        // min_value/max_value (6, 5) are exact under the column's sort order; the deprecated
        // min/max (2, 1) used signed order, which is right for the signed types we interpret.
        min: stats ? (asBytes(stats.get(6)) ?? asBytes(stats.get(2))) : null,
        max: stats ? (asBytes(stats.get(5)) ?? asBytes(stats.get(1))) : null,
        nullCount: stats ? asNumber(stats.get(3)) : null,
        firstPageOffset: chunkStart,
      });
    }
    return { numRows: asNumber(rg.get(3)) ?? 0, columns, byteRange: [Number.isFinite(start) ? start : 4, Math.max(end, 4)] as const };
  });
  return { numRows: asNumber(meta.get(3)) ?? 0, rowGroups, leaves, meta };
}

/** [start, end) of a column chunk, as arrow-rs computes it: from the dictionary page if any. */
function chunkByteRange(md: TStruct): [number, number] {
  const dict = asNumber(md.get(11));
  const data = asNumber(md.get(9)) ?? Number.NaN;
  const start = dict !== null && dict > 0 ? Math.min(dict, data) : data;
  return [start, start + (asNumber(md.get(7)) ?? Number.NaN)];
}

const MAGIC = new TextEncoder().encode("PAR1");

function fileWith(meta: TStruct, body: Uint8Array): Uint8Array {
  const w = new CompactWriter();
  w.struct(meta);
  const footer = w.bytes();
  const out = new Uint8Array(4 + body.length + footer.length + 8);
  out.set(MAGIC, 0);
  out.set(body, 4);
  out.set(footer, 4 + body.length);
  new DataView(out.buffer).setUint32(4 + body.length + footer.length, footer.length, true);
  out.set(MAGIC, out.length - 4);
  return out;
}

/**
 * A Parquet file holding only row group `g`: its column chunk bytes (`body`, the file's bytes in
 * `footer.rowGroups[g].byteRange`) and a footer whose offsets are moved to match. Lets the
 * synchronous reader decode one group from a buffer the size of that group; page indexes and
 * bloom filters (stored elsewhere in the file) are left out.
 */
export function rowGroupFile(footer: ParquetFooter, g: number, body: Uint8Array): Uint8Array {
  const info = footer.rowGroups[g];
  const rg = asStruct(asList(footer.meta.get(4))[g]);
  if (!info || !rg) throw new RangeError(`no row group ${g}`);
  const shift = 4 - info.byteRange[0];
  const moved = (v: TValue | undefined): number => Math.max(0, (asNumber(v) ?? 0) + shift);
  const columns = asList(rg.get(1)).map((ccValue) => {
    const cc = (asStruct(ccValue) as TStruct).copy();
    const md = (asStruct(cc.get(3)) as TStruct).copy();
    for (const id of [9, 10, 11]) if (md.has(id)) md.set(id, CT.I64, moved(md.get(id)));
    md.delete(14); // bloom_filter_offset
    md.delete(15); // bloom_filter_length
    cc.set(3, CT.STRUCT, md);
    if (cc.has(2)) cc.set(2, CT.I64, moved(cc.get(2)));
    for (const id of [4, 5, 6, 7]) cc.delete(id); // offset and column index locations
    return cc as TValue;
  });
  const group = rg.copy();
  group.set(1, CT.LIST, new TList(CT.STRUCT, columns));
  if (group.has(5)) group.set(5, CT.I64, moved(group.get(5)));
  group.delete(7); // ordinal
  const meta = footer.meta.copy();
  meta.set(3, CT.I64, info.numRows);
  meta.set(4, CT.LIST, new TList(CT.STRUCT, [group]));
  return fileWith(meta, body);
}

/** A Parquet file with the schema and no rows, for reading the Arrow schema cheaply. */
export function schemaOnlyFile(footer: ParquetFooter): Uint8Array {
  const meta = footer.meta.copy();
  meta.set(3, CT.I64, 0);
  meta.set(4, CT.LIST, new TList(CT.STRUCT, []));
  return fileWith(meta, new Uint8Array(0));
}

/**
 * How a column's stored statistics map to epoch ms: integers are multiplied by `mul` and floor-
 * divided by `div`. Decided by the reader from the Parquet logical type and the Arrow type (arrow-rs
 * stores e.g. second timestamps as plain INT64, restoring the unit from its embedded Arrow schema).
 */
export type StatsScale = { kind: "int"; mul: bigint; div: bigint; unsigned: boolean } | { kind: "float" };

/**
 * The [min, max] of a column chunk in epoch ms, or null when the statistics cannot bound event
 * times (absent, or of a physical type we do not interpret, such as INT96 or strings).
 */
export function chunkTimeBoundsMs(stats: ColumnChunkStats, scale: StatsScale): [number, number] | null {
  const { min, max } = stats;
  if (!min || !max) return null;
  const decode = (b: Uint8Array): number | null => {
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    let v: bigint;
    if (scale.kind === "float") {
      const f = stats.physicalType === PhysicalType.DOUBLE && b.byteLength === 8 ? dv.getFloat64(0, true) : stats.physicalType === PhysicalType.FLOAT && b.byteLength === 4 ? dv.getFloat32(0, true) : Number.NaN;
      return Number.isFinite(f) ? Math.floor(f) : null;
    }
    if (stats.physicalType === PhysicalType.INT64 && b.byteLength === 8) v = scale.unsigned ? dv.getBigUint64(0, true) : dv.getBigInt64(0, true);
    else if (stats.physicalType === PhysicalType.INT32 && b.byteLength === 4) v = BigInt(scale.unsigned ? dv.getUint32(0, true) : dv.getInt32(0, true));
    else return null;
    v *= scale.mul;
    // Floor division, as row values are floored to ms.
    let q = v / scale.div;
    if (v < 0n && q * scale.div !== v) q -= 1n;
    return Number(q);
  };
  const lo = decode(min);
  const hi = decode(max);
  return lo === null || hi === null ? null : [lo, hi];
}
