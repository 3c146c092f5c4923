// Shared by the tests: the repository's paths, a seeded generator of JSON documents, and
// Python's core run on the same input.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const repo = fileURLToPath(new URL("../../", import.meta.url));
export const golden = `${repo}golden_vectors/`;
export const python = `${repo}.venv/bin/python`;
export const hasPython = existsSync(python);

/** Run Python code with the repository's venv; stdin `input`, its stdout parsed as JSON. */
export function runPython(code, input) {
  const out = execFileSync(python, ["-c", code], {
    input,
    maxBuffer: 1 << 28,
    encoding: "utf8",
  });
  return JSON.parse(out);
}

/** mulberry32: a small seeded PRNG, so that a failure can be replayed. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  "a",
  "Z",
  "_",
  " ",
  "key",
  '"',
  "\\",
  "/",
  "\b",
  "\f",
  "\n",
  "\r",
  "\t",
  "\u0001",
  "\u001f",
  "\u007f",
  "\u0080",
  "é",
  "ß",
  "ñ",
  "€",
  "\u2028",
  "\u2029",
  "\ufeff",
  "\uffff",
  "😀",
  "👍🏽",
  "𝄞",
  "中",
  "文",
  "日本語",
  "한",
  "ｶ",
  "\u{10ffff}",
  "\ue000",
  "0",
  "10",
  "-",
];

export function generator(seed) {
  const random = rng(seed);
  const int = (n) => Math.floor(random() * n);
  const pick = (xs) => xs[int(xs.length)];
  const string = () => {
    let s = "";
    for (let i = int(6); i > 0; i--) s += pick(PIECES);
    return s;
  };
  const number = () => {
    switch (int(8)) {
      case 0:
        return int(2000) - 1000;
      case 1:
        return (random() - 0.5) * 10 ** (int(40) - 20);
      case 2:
        return (random() - 0.5) * 10 ** (int(600) - 300);
      case 3:
        return pick([
          0,
          -0,
          1e21,
          1e-7,
          5e-324,
          Number.MAX_VALUE,
          Number.MIN_SAFE_INTEGER,
          2 ** 53,
        ]);
      case 4:
        return Number((random() * 1000).toFixed(int(5)));
      case 5:
        return int(2 ** 31) * (random() < 0.5 ? -1 : 1) * 2 ** int(30);
      default:
        return random() * 100;
    }
  };
  const value = (depth) => {
    const k = depth > 4 ? int(4) : int(7);
    switch (k) {
      case 0:
        return pick([null, true, false]);
      case 1:
        return number();
      case 2:
      case 3:
        return string();
      case 4: {
        const a = [];
        for (let i = int(5); i > 0; i--) a.push(value(depth + 1));
        return a;
      }
      default: {
        const o = {};
        for (let i = int(6); i > 0; i--) o[string()] = value(depth + 1);
        return o;
      }
    }
  };
  const object = () => {
    const o = {};
    for (let i = int(5); i > 0; i--) o[string()] = value(1);
    return o;
  };
  return { random, int, pick, string, number, value, object };
}
