/**
 * The local sync manifest's files: what the server held after the last sync, so that the next
 * one need not download the dataset. The core decides what a manifest holds, when it applies
 * and when it may be written, and names its file (`rust/src/manifest.rs`, shared with
 * Python's client: each SDK reads the other's manifests); here it is read and written. An
 * unreadable or corrupt manifest is ignored (with a warning), never trusted; a manifest is
 * written gzipped and atomically, readable by its owner only.
 */

import { mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";

/** `$PHOENIX_UPSERT_CACHE_DIR`, else `$XDG_CACHE_HOME/phoenix-upsert`, else `~/.cache/phoenix-upsert`. */
export function defaultDirectory(): string {
  const explicit = process.env.PHOENIX_UPSERT_CACHE_DIR;
  if (explicit) return explicit;
  const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "phoenix-upsert");
}

function warn(message: string): void {
  process.emitWarning(message, { code: "PHOENIX_UPSERT_MANIFEST" });
}

const reason = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** The manifest's bytes, gunzipped, or `null` if there is none that can be read. */
export async function read(path: string): Promise<Uint8Array | null> {
  let raw: Uint8Array;
  try {
    raw = await readFile(path);
  } catch (e) {
    if ((e as { code?: unknown }).code !== "ENOENT") {
      warn(`ignoring the sync manifest ${path}: ${reason(e)}`);
    }
    return null;
  }
  try {
    return gunzipSync(raw);
  } catch (e) {
    warn(`ignoring a corrupt sync manifest ${path} (${reason(e)})`);
    return null;
  }
}

/**
 * Write the manifest's bytes gzipped to `path` in `directory` (temp file + rename, mode
 * 0600). A manifest that cannot be written only costs speed: a warning.
 */
export async function write(directory: string, path: string, data: Uint8Array): Promise<void> {
  const unique = `${String(process.pid)}-${Math.random().toString(36).slice(2)}`;
  const tmp = join(directory, `.manifest-${unique}.tmp`);
  try {
    await mkdir(directory, { recursive: true, mode: 0o700 });
    const file = await open(tmp, "wx", 0o600);
    try {
      await file.writeFile(gzipSync(data, { level: 5 }));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    warn(`could not write the sync manifest ${path}: ${reason(e)}`);
  }
  await sweep(directory);
}

/**
 * A temporary manifest file older than this (ms) was left by a process that was killed while
 * writing it (a write takes well under a second): removed by the next save (both SDKs).
 */
export const STALE_TEMP_MS = 3600 * 1000;

async function sweep(directory: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch {
    return;
  }
  const now = Date.now();
  for (const name of names) {
    if (!(name.startsWith(".manifest-") && name.endsWith(".tmp"))) continue;
    const file = join(directory, name);
    try {
      if (now - (await stat(file)).mtimeMs > STALE_TEMP_MS) await rm(file, { force: true });
    } catch {
      // another process's, just renamed or removed
    }
  }
}
