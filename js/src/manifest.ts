/**
 * The local sync manifest: what the server held after the last sync, so that the next one need
 * not download the dataset — the file work around the core's rules (`manifestRules`: format,
 * when a manifest applies, when it may be written, the file's name), which Python's
 * `_engine/manifest.py` wraps too: each SDK reads the other's manifests. Unreadable, corrupt or
 * stale manifests are ignored (a warning when corrupt), never trusted; a manifest is written
 * atomically, readable by its owner only, and holds ids, hashes and split names only.
 */

import { mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";

import { manifestRules, type Fingerprint, type ManifestExamples } from "./core.js";

export type { Fingerprint, ManifestExamples };

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

function pathOf(directory: string, fingerprint: Fingerprint): string {
  return join(directory, manifestRules.fileName(fingerprint.server, fingerprint.dataset_id));
}

/** The examples of the manifest for `expected`, or `null` if none provably applies. */
export async function load(
  directory: string,
  expected: Fingerprint,
): Promise<ManifestExamples | null> {
  const path = pathOf(directory, expected);
  let raw: Uint8Array;
  try {
    raw = await readFile(path);
  } catch (e) {
    if ((e as { code?: unknown }).code !== "ENOENT") {
      warn(`ignoring the sync manifest ${path}: ${e instanceof Error ? e.message : String(e)}`);
    }
    return null;
  }
  try {
    return manifestRules.decode(gunzipSync(raw), expected);
  } catch (e) {
    warn(
      `ignoring a corrupt sync manifest ${path} (${e instanceof Error ? e.message : String(e)})`,
    );
    return null;
  }
}

/**
 * Write the manifest (temp file + rename, mode 0600) if the core says it is provable;
 * otherwise remove any older one. A manifest that cannot be written only costs speed.
 */
export async function save(
  directory: string,
  fingerprint: Fingerprint,
  examples: ManifestExamples,
  provenAt: Date | null,
): Promise<void> {
  const path = pathOf(directory, fingerprint);
  if (!manifestRules.provable(fingerprint, provenAt)) {
    await rm(path, { force: true }).catch(() => undefined);
    return;
  }
  const data = gzipSync(manifestRules.encode(fingerprint, examples), { level: 5 });
  const unique = `${String(process.pid)}-${Math.random().toString(36).slice(2)}`;
  const tmp = join(directory, `.manifest-${unique}.tmp`);
  try {
    await mkdir(directory, { recursive: true, mode: 0o700 });
    const file = await open(tmp, "wx", 0o600);
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    warn(
      `could not write the sync manifest ${path}: ${e instanceof Error ? e.message : String(e)}`,
    );
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
