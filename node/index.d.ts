/** Anything that loads a SQLite extension from a path (better-sqlite3's Database, say). */
export interface ExtensionLoader {
  loadExtension(path: string): unknown;
}
/** The path of siamsql.so: bundled in this package, else where `make install` put it. */
export declare function getLoadablePath(): string;
/** The directory of the shipped default model, for siam_import(). */
export declare function getDefaultModelPath(): string;
/** Loads siamsql into db. */
export declare function load(db: ExtensionLoader): void;
