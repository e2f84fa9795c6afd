/**
 * Reads a Parquet file's footer (Thrift compact protocol) for what parquet-wasm does not expose
 * safely: parquet-wasm's only metadata API is its asynchronous reader, and a Rust panic inside an
 * async parquet-wasm call escapes as an uncatchable error (it crashed the process on corrupt files
 * in testing), so Larder reads data only through the synchronous API and parses the footer here.
 * Shared by the Parquet source (src/sources/parquet-source.ts: per-row-group column statistics, so
 * that row groups outside a time range are skipped, and footer rewriting) and the offline store's
 * Parquet I/O (src/offline/parquet-io.ts: row counts and sizes, top-level column names).
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

/**
 * Which fields of a struct to decode; the others are skipped without building values. `true`
 * decodes a field's whole value; a nested FieldPick applies to a struct value, or to the struct
 * elements of a list.
 */
type FieldPick = { readonly [id: number]: FieldPick | true };

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

  private value(type: number, pick?: FieldPick): TValue {
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
        return this.list(pick);
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
        return this.struct(pick);
      default:
        throw new FooterFormatError(`unknown thrift type ${type}`);
    }
  }

  /** Booleans inside collections are one byte each (1 = true), not folded into a type nibble. */
  private element(type: number, pick?: FieldPick): TValue {
    return type === CT.TRUE || type === CT.FALSE ? this.byte() === 1 : this.value(type, pick);
  }

  private listHeader(): { size: number; elemType: number } {
    const header = this.byte();
    let size = header >> 4;
    if (size === 15) size = this.varint();
    if (size > this.buf.length) throw new FooterFormatError("bad list size");
    return { size, elemType: header & 0x0f };
  }

  private list(pick?: FieldPick): TList {
    const { size, elemType } = this.listHeader();
    const items: TValue[] = new Array(size);
    for (let i = 0; i < size; i++) items[i] = this.element(elemType, pick);
    return new TList(elemType, items);
  }

  /** Reads past a value without building it (same checks as value()). */
  private skip(type: number): void {
    switch (type) {
      case CT.TRUE:
      case CT.FALSE:
        return; // a field's boolean is in its header
      case CT.BYTE:
        this.byte();
        return;
      case CT.I16:
      case CT.I32:
      case CT.I64:
        this.varint();
        return;
      case CT.DOUBLE:
        if (this.pos + 8 > this.buf.length) throw new FooterFormatError("footer ends early");
        this.pos += 8;
        return;
      case CT.BINARY:
        this.binary();
        return;
      case CT.LIST:
      case CT.SET: {
        const { size, elemType } = this.listHeader();
        for (let i = 0; i < size; i++) this.skipElement(elemType);
        return;
      }
      case CT.MAP: {
        const size = this.varint();
        if (size === 0) return;
        if (size > this.buf.length) throw new FooterFormatError("bad map size");
        const kv = this.byte();
        for (let i = 0; i < size; i++) {
          this.skipElement(kv >> 4);
          this.skipElement(kv & 0x0f);
        }
        return;
      }
      case CT.STRUCT:
        for (;;) {
          const header = this.byte();
          if (header === CT.STOP) return;
          if (header >> 4 === 0) this.zigzag32();
          this.skip(header & 0x0f);
        }
      default:
        throw new FooterFormatError(`unknown thrift type ${type}`);
    }
  }

  private skipElement(type: number): void {
    if (type === CT.TRUE || type === CT.FALSE) this.byte();
    else this.skip(type);
  }

  /** Decodes a struct; with `pick`, only the picked fields (the rest are skipped). */
  struct(pick?: FieldPick): TStruct {
    const out = new TStruct();
    let lastId = 0;
    for (;;) {
      const header = this.byte();
      if (header === CT.STOP) return out;
      const delta = header >> 4;
      const type = header & 0x0f;
      const id = delta === 0 ? this.zigzag32() : lastId + delta;
      lastId = id;
      const want = pick === undefined ? true : pick[id];
      if (want === undefined) this.skip(type);
      else out.set(id, type, this.value(type, want === true ? undefined : want));
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

/**
 * Where the footer's Thrift bytes lie, from the file's last 8 bytes (`tail`: footer length and the
 * PAR1 magic) and its size. Throws a FooterFormatError for a missing magic, an encrypted footer
 * (PARE) or a footer length that does not fit the file.
 */
export function parquetFooterRange(tail: Uint8Array, fileSize: number): { start: number; length: number } {
  const n = tail.length;
  const magic = (o: number) => tail[o] === 0x50 && tail[o + 1] === 0x41 && tail[o + 2] === 0x52 && tail[o + 3] === 0x31;
  if (!magic(n - 4)) {
    const e = tail[n - 1] === 0x45 && tail[n - 2] === 0x52 && tail[n - 3] === 0x41 && tail[n - 4] === 0x50;
    throw new FooterFormatError(e ? "encrypted Parquet footers are not supported" : "missing the PAR1 magic bytes at the end");
  }
  const length = (tail[n - 8] as number) | ((tail[n - 7] as number) << 8) | ((tail[n - 6] as number) << 16) | ((tail[n - 5] as number) << 24);
  if (length <= 0 || length > fileSize - 12) throw new FooterFormatError(`bad footer length ${length}`);
  return { start: fileSize - 8 - length, length };
}

/** What the offline store needs from a footer: row count, row groups, top-level column names. */
export interface ParquetFooterSummary {
  numRows: number;
  rowGroups: { rows: number; bytes: number }[];
  /** Top-level column names, in schema order. */
  columns: string[];
}

/**
 * Parses only the row count, the row groups' row counts and uncompressed sizes
 * (total_byte_size) and the top-level column names from a footer's Thrift bytes. Unlike
 * parseParquetFooter it does not interpret or check column chunks (the caller decodes the data
 * with parquet-wasm, which checks them); it requires the row count and the schema.
 */
export function parseParquetFooterSummary(footer: Uint8Array): ParquetFooterSummary {
  // FileMetaData: schema (2), num_rows (3), row_groups (4) with total_byte_size (2), num_rows (3).
  const meta = new CompactReader(footer).struct({ 2: true, 3: true, 4: { 2: true, 3: true } });
  const typed = (s: TStruct, id: number, type: number): TValue | undefined => (s.types.get(id) === type ? s.get(id) : undefined);
  // Buffer-compatible decoding: a leading byte-order mark stays part of the name.
  const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
  const numRows = asNumber(typed(meta, 3, CT.I64)) ?? -1;
  const rowGroups = asList(typed(meta, 4, CT.LIST)).map((rgValue) => {
    const rg = asStruct(rgValue);
    return { rows: (rg && asNumber(typed(rg, 3, CT.I64))) ?? 0, bytes: (rg && asNumber(typed(rg, 2, CT.I64))) ?? 0 };
  });
  const elements = asList(typed(meta, 2, CT.LIST)).map((elValue) => {
    const el = asStruct(elValue);
    const name = el && asBytes(typed(el, 4, CT.BINARY));
    return { name: name ? utf8.decode(name) : "", children: (el && asNumber(typed(el, 5, CT.I32))) ?? 0 };
  });
  if (numRows < 0 || elements.length === 0) throw new FooterFormatError("footer lacks the row count or the schema");
  // elements are the schema tree in depth-first order; the root's direct children are the columns
  const columns: string[] = [];
  let i = 1;
  const skipSubtree = (): void => {
    const el = elements[i++];
    if (!el) throw new FooterFormatError("schema tree ends early");
    for (let c = 0; c < el.children; c++) skipSubtree();
  };
  const root = elements[0] as { children: number };
  for (let c = 0; c < root.children; c++) {
    columns.push(elements[i]?.name ?? "");
    skipSubtree();
  }
  return { numRows, rowGroups, columns };
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
