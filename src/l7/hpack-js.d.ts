// Types for hpack.js (RFC 7541 HPACK; the package ships none): the parts the HTTP/2 parser uses.
declare module 'hpack.js' {
  interface HpackHeader {
    name: string;
    value: string;
    neverIndex: boolean;
  }
  /** A header block decoder with its own dynamic table (a readable of headers, a writable of blocks). */
  interface Decompressor {
    write(block: Uint8Array): boolean;
    /** Decodes what was written; a bad block is an 'error' event. */
    execute(): void;
    read(): HpackHeader | null;
    on(event: 'error', listener: (err: Error) => void): this;
    /** The table's size now (a size the encoder signalled does this too). */
    updateTableSize(size: number): void;
  }
  interface Compressor {
    write(headers: { name: string; value: string; huffman?: boolean; neverIndex?: boolean }[]): boolean;
    read(): Buffer | null;
    updateTableSize(size: number): void;
  }
  const hpack: {
    /** table.maxSize: the largest size an update may set (and the size to start with). */
    decompressor: { create(options: { table: { maxSize: number } }): Decompressor };
    compressor: { create(options: { table: { maxSize: number } }): Compressor };
  };
  export = hpack;
}
